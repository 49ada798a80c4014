// The API from the browser: relative URLs (the page works under a path
// prefix behind a proxy), the bearer token when the server wants one, and an
// error reply as an ApiError carrying the API's own code and message.

const TOKEN_KEY = 'flowmaster.token';

/** A token given as #token=… is kept for this tab only and taken out of the address bar (so it is not shared with the view). */
function takeToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(history.state, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

const token = takeToken();

export class ApiError extends Error {
  constructor(status, code, message, path) {
    super(message);
    this.status = status;
    this.code = code;
    this.path = path;
  }
}

/** GET path?params (entries with no value are left out) as parsed JSON; a failure is an ApiError, an abort stays an AbortError. */
export async function api(path, params = {}, signal) {
  const url = new URL(path, document.baseURI);
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params);
  for (const [k, v] of entries) if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  let r;
  try {
    r = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {}, signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'ERR_NETWORK', `the server did not answer (${e.message})`, path);
  }
  const body = await r.json().catch(() => undefined);
  if (!r.ok) throw new ApiError(r.status, body?.code ?? `HTTP_${r.status}`, body?.message ?? r.statusText, path);
  return body;
}

export const isAbort = (e) => e?.name === 'AbortError';
