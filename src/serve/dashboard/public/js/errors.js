// The error bar: what the API refused and why, in its own words (a bad
// filter in a shared URL says what is wrong with it instead of leaving the
// page blank). Each message once, with the route that gave it.
import { el } from './dom.js';

const HINTS = {
  ERR_UNAUTHORIZED: 'This server wants a token: open the page as …/#token=<token> (kept for this tab only).',
  ERR_NETWORK: 'Is flowmaster serve still running?',
};

export class ErrorBar {
  #root;
  #seen = new Set();

  constructor(root) {
    this.#root = root;
  }

  clear() {
    this.#seen.clear();
    this.#root.replaceChildren();
    this.#root.hidden = true;
  }

  report(e) {
    const code = e.code ?? 'ERR_PAGE';
    const line = `${code}: ${e.message}`;
    if (this.#seen.has(line)) return;
    this.#seen.add(line);
    const where = e.path ? ` (${e.path.replace(/^api\//, '/api/')})` : '';
    this.#root.append(el('p', { className: 'error', dataset: { code } }, el('strong', {}, code), ' ', el('span', { className: 'message' }, e.message), where, HINTS[code] ? el('span', { className: 'hint' }, ` ${HINTS[code]}`) : null));
    this.#root.hidden = false;
  }
}
