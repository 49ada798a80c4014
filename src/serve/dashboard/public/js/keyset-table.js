// A table that pages on keyset cursors as it is scrolled: the first page on
// load, the next (`next` from the previous reply) when the bottom comes near,
// until `next` is null. Each page is one indexed range read whatever the
// table's size, so the 10,000th page costs what the first does; rows never
// repeat or go missing between pages, even while a capture appends.
import { api, isAbort } from './api.js';
import { count, el } from './dom.js';

/** Load the next page when the bottom is this close (px). */
const NEAR = 300;

export class KeysetTable {
  #root;
  #scroll;
  #body;
  #status;
  #path;
  #columns;
  #onRow;
  #params = new URLSearchParams();
  #abort;
  #report = () => {};
  #next = null;
  #loading = false;
  #gen = 0;
  #rows = 0;

  /**
   * root: an element with .scroll (the scrolling box) holding a table, and
   * .status; columns: [{ head, cell(row) → text|Node, num?, sort? }]; a
   * column with `sort` is a sort key: clicking its head calls onSort(key).
   */
  constructor(root, { path, columns, onRow, onSort }) {
    this.#root = root;
    this.#scroll = root.querySelector('.scroll');
    this.#status = root.querySelector('.status');
    this.#path = path;
    this.#columns = columns;
    this.#onRow = onRow;
    const table = this.#scroll.querySelector('table');
    const heads = columns.map((c) => el('th', { className: c.num ? 'num' : undefined, dataset: c.sort ? { sort: c.sort } : undefined, title: c.sort ? 'sort by this' : undefined, onclick: c.sort && onSort ? () => onSort(c.sort) : undefined }, c.head));
    this.#body = el('tbody');
    table.replaceChildren(el('thead', {}, el('tr', {}, heads)), this.#body);
    this.#scroll.addEventListener('scroll', () => this.#maybeMore(), { passive: true });
  }

  /** Marks the head of the sort in use. */
  markSort(sort, order) {
    for (const th of this.#root.querySelectorAll('th[data-sort]')) th.dataset.order = th.dataset.sort === sort ? order : '';
  }

  /** Whether the table shows its first rows (a live refresh may replace them without moving what the user reads). */
  get atTop() {
    return this.#scroll.scrollTop < 4;
  }

  /**
   * Starts over with `params` (the filters): the first page now, the rest on
   * scroll. The table aborts its own reads when it starts over, and only
   * then: a refresh elsewhere on the page leaves its scrolling alone.
   */
  async load(params, report) {
    const gen = ++this.#gen;
    this.#abort?.abort();
    this.#abort = new AbortController();
    this.#params = params;
    this.#report = report;
    this.#next = null;
    this.#rows = 0;
    this.#loading = false;
    await this.#page(gen, undefined, true);
  }

  async #page(gen, cursor, first = false) {
    this.#loading = true;
    this.#setState('loading');
    const params = new URLSearchParams(this.#params);
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await api(this.#path, params, this.#abort.signal);
      if (gen !== this.#gen) return;
      const rows = page.items.map((r) => this.#row(r));
      if (first) {
        this.#body.replaceChildren(...rows);
        this.#scroll.scrollTop = 0;
      } else this.#body.append(...rows);
      this.#rows += rows.length;
      this.#next = page.next ?? null;
      this.#loading = false;
      this.#setState(this.#next ? 'more' : 'end');
      if (this.#next) requestAnimationFrame(() => this.#maybeMore());
    } catch (e) {
      if (gen !== this.#gen || isAbort(e)) return;
      this.#loading = false;
      if (first) this.#body.replaceChildren();
      this.#setState('error');
      this.#report(e);
    }
  }

  #row(r) {
    return el('tr', { dataset: { id: String(r.id ?? `${r.sensor}/${r.batch}/${r.seq}`) }, onclick: this.#onRow ? () => this.#onRow(r) : undefined },
      this.#columns.map((c) => el('td', { className: c.num ? 'num' : undefined }, c.cell(r))));
  }

  #maybeMore() {
    if (this.#loading || !this.#next) return;
    const s = this.#scroll;
    if (s.scrollTop + s.clientHeight < s.scrollHeight - NEAR) return;
    this.#page(this.#gen, this.#next);
  }

  #setState(state) {
    this.#root.dataset.state = state;
    const n = count(this.#rows);
    const text = { loading: this.#rows ? `${n} rows, loading more…` : 'loading…', more: `${n} rows shown, more as you scroll`, end: this.#rows ? `all ${n} rows` : 'nothing matches', error: 'failed (see above)' };
    this.#status.textContent = text[state];
  }
}
