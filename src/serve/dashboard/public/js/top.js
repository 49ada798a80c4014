// Top talkers, services and applications over the view's range, from the
// roll-ups (/api/top/*): a few rows each. Clicking a row filters the flow
// table (and the URL) by it.
import { api } from './api.js';
import { bytes, count, el } from './dom.js';

const LIMIT = 10;

/** A share bar, its width set through the CSSOM (the page's CSP allows no style attributes). */
function bar(percent) {
  const b = el('div', { className: 'bar' });
  b.style.width = `${percent.toFixed(1)}%`;
  return b;
}

/** A service row as flow filters: a name, or 'tcp/8080' as protocol and port; layer 2 ('eth/…') has none. */
function serviceFilter(s) {
  const m = /^(tcp|udp|sctp)\/(\d+)$/.exec(s);
  if (m) return { protocol: m[1], port: m[2] };
  return s.includes('/') ? undefined : { service: s };
}

const KINDS = {
  talkers: {
    key: (r) => r.addr || `device ${r.device}`,
    note: (r) => r.vendor ?? '',
    filter: (r) => (r.addr ? { host: r.addr } : { device: r.device }),
  },
  services: { key: (r) => r.service, note: () => '', filter: (r) => serviceFilter(r.service) },
  applications: { key: (r) => r.application, note: () => '', filter: (r) => ({ application: r.application }) },
};

export class TopTables {
  #roots;
  #navigate;

  /** roots: { talkers, services, applications } elements with a tbody each */
  constructor(roots, navigate) {
    this.#roots = roots;
    this.#navigate = navigate;
  }

  /** Reads and shows every table; a failed one reports through `report` and shows nothing. */
  load(range, signal, report) {
    return Promise.all(Object.keys(KINDS).map(async (kind) => {
      const root = this.#roots[kind];
      root.dataset.state = 'loading';
      try {
        const rows = await api(`api/top/${kind}`, { from: range.from, to: range.to, limit: LIMIT }, signal);
        if (signal.aborted) return;
        this.#show(kind, rows);
        root.dataset.state = 'done';
      } catch (e) {
        if (signal.aborted) return;
        root.querySelector('tbody').replaceChildren();
        root.dataset.state = 'error';
        report(e);
      }
    }));
  }

  #show(kind, rows) {
    const k = KINDS[kind];
    const max = Math.max(1, ...rows.map((r) => r.bytes));
    const body = this.#roots[kind].querySelector('tbody');
    if (!rows.length) {
      body.replaceChildren(el('tr', {}, el('td', { colspan: 3, className: 'empty' }, 'no traffic in this range')));
      return;
    }
    body.replaceChildren(...rows.map((r) => {
      const filter = k.filter(r);
      const name = filter ? el('a', { href: '#', title: 'filter the flows by this', onclick: (ev) => { ev.preventDefault(); this.#navigate(filter); } }, k.key(r)) : k.key(r);
      return el('tr', { dataset: { key: k.key(r), bytes: String(r.bytes) } },
        el('td', { className: 'key' }, name, k.note(r) ? el('small', {}, ` ${k.note(r)}`) : null,
          bar((100 * r.bytes) / max)),
        el('td', { className: 'num' }, bytes(r.bytes)),
        el('td', { className: 'num' }, count(r.flows)));
    }));
  }
}
