// The filter form and the chips of the URL's other parameters: the form
// shows the URL, submitting it writes the URL (the page reloads from there),
// so the address bar is always the view.
import { el } from './dom.js';

/** Parameters that are not filters: no chip (the table heads and the live switch show them). */
const NOT_CHIPS = new Set(['sort', 'order', 'limit', 'live']);

export class FilterForm {
  #form;
  #chips;
  #navigate;

  constructor(form, chips, navigate) {
    this.#form = form;
    this.#chips = chips;
    this.#navigate = navigate;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#navigate(Object.fromEntries(this.#fields().map((f) => [f.name, f.value.trim()])));
    });
    form.querySelector('[type=reset]').addEventListener('click', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams(location.search);
      this.#navigate(Object.fromEntries([...p.keys()].filter((k) => k !== 'live').map((k) => [k, undefined])));
    });
  }

  #fields() {
    return [...this.#form.elements].filter((f) => f.name && f.tagName !== 'BUTTON');
  }

  /** The form and chips as `p` says. */
  show(p) {
    const names = new Set();
    for (const f of this.#fields()) {
      f.value = p.get(f.name) ?? '';
      names.add(f.name);
    }
    const others = [...p].filter(([k]) => !names.has(k) && !NOT_CHIPS.has(k));
    this.#chips.replaceChildren(...others.map(([k, v]) =>
      el('span', { className: 'chip', dataset: { param: k } }, `${k} = ${v}`,
        el('button', { type: 'button', title: `remove ${k}`, onclick: () => this.#navigate({ [k]: undefined }) }, '×'))));
  }
}
