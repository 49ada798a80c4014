// The view lives in the address bar: every filter, the time range and the
// flow table's sort are query parameters with the API's own names, so a URL
// can be shared and reopens the same view, and the API judges each value
// (a malformed one comes back as its error message, shown on the page).

/** Parameters of the page itself, never sent to the API. */
const PAGE_ONLY = new Set(['live']);

/** The device inventory's filters among the flow filters (/api/devices takes these). */
const DEVICE_PARAMS = ['host', 'vlan'];

export const current = () => new URLSearchParams(location.search);

/** What /api/flows gets: every parameter in the URL but the page's own (an unknown one draws the API's error, as it should). */
export function flowParams(p = current()) {
  const out = new URLSearchParams();
  for (const [k, v] of p) if (!PAGE_ONLY.has(k)) out.append(k, v);
  return out;
}

export function deviceParams(p = current()) {
  const out = new URLSearchParams();
  for (const k of DEVICE_PARAMS) if (p.has(k)) out.set(k, p.get(k));
  return out;
}

/** A time parameter as ms, as the API reads it (digits: ms; else ISO 8601, UTC unless a zone is given); NaN when it is not one. */
export function timeMs(v) {
  if (v === null || v === undefined || v === '') return NaN;
  if (/^\d+$/.test(v)) return Number(v);
  const zoned = /([zZ]|[+-]\d\d(:?\d\d)?)$/.test(v) || !v.includes('T') ? v : `${v}Z`;
  return Date.parse(/T/.test(zoned) ? zoned : `${zoned}T00:00:00Z`);
}

/** The range of the view: the raw values for the API, and as ms for the page's own arithmetic. */
export function rangeOf(p = current()) {
  const from = p.get('from') ?? undefined;
  const to = p.get('to') ?? undefined;
  return { from, to, fromMs: timeMs(from), toMs: timeMs(to) };
}

/** A time for the URL: ISO 8601 in UTC, to the second. */
export const isoTime = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Applies `changes` (a value, or undefined / '' to remove) to the URL as a new history entry, then tells the page. */
export function navigate(changes, { replace = false } = {}) {
  const p = current();
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') p.delete(k);
    else p.set(k, String(v));
  }
  const qs = p.toString();
  const url = `${location.pathname}${qs ? `?${qs}` : ''}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  dispatchEvent(new Event('flowmaster:navigate'));
}
