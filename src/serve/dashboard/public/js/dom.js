// Small DOM and formatting helpers. Text from the database (host names, SNI,
// vendors) only ever lands in text nodes, never in markup.

/** An element with properties (dataset, className, on* handlers, other attributes) and children (strings become text). */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'className') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/** Bytes in decimal units, 3 significant digits. */
export function bytes(n) {
  if (!Number.isFinite(n)) return '–';
  let i = 0;
  while (Math.abs(n) >= 1000 && i < UNITS.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toPrecision(3)} ${UNITS[i]}`;
}

export const count = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : '–');

/** A small rate (flows/s) with a sensible number of digits. */
export const perSecond = (n) => (!Number.isFinite(n) ? '–' : n >= 100 ? count(n) : n >= 1 ? n.toFixed(1) : n.toPrecision(2));

/** A time in UTC as 'YYYY-MM-DD hh:mm:ss' (the URL and the API speak UTC). */
export const utc = (ms) => (Number.isFinite(ms) ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '–');

export function duration(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${String(Math.round((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(ms / 3_600_000)}h${String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0')}m`;
}

const PROTOCOLS = { 1: 'icmp', 2: 'igmp', 6: 'tcp', 17: 'udp', 47: 'gre', 50: 'esp', 58: 'icmp6', 132: 'sctp' };
export const protocolName = (p) => PROTOCOLS[p] ?? (p ? String(p) : '–');

/** An address and port as one endpoint ('10.0.0.1:443', '[2001:db8::1]:443'). */
export const endpoint = (addr, port) => (!port ? addr : addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);
