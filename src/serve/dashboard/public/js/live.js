// Live refresh: while a capture writes the database, the view follows it.
// Every few seconds it re-reads the chart's own timeline (a few hundred
// roll-up rows at most) and compares it with what is shown; when it moved,
// the page refreshes. A view that has stayed still for half a minute is
// polled less and less often, and a hidden tab not at all.
const FAST_MS = 3_000;
const SLOW_MS = 30_000;
/** Unchanged polls before the polling slows down. */
const PATIENCE = 10;

export class Live {
  #check;
  #timer;
  #delay = FAST_MS;
  #quiet = 0;
  #on = false;

  /** check(): resolves true when the data moved (and the page has refreshed) */
  constructor(check) {
    this.#check = check;
    document.addEventListener('visibilitychange', () => this.#on && !document.hidden && this.#schedule(0));
  }

  set enabled(on) {
    this.#on = on;
    clearTimeout(this.#timer);
    if (on) this.restart();
  }

  get enabled() {
    return this.#on;
  }

  /** After a view change the data is fresh: poll fast again from now. */
  restart() {
    this.#quiet = 0;
    if (this.#on) this.#schedule(this.#delay = FAST_MS);
  }

  #schedule(ms) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), ms);
  }

  async #tick() {
    if (!this.#on || document.hidden) return;
    let moved = false;
    try {
      moved = await this.#check();
    } catch {
      // the view shows the error of its own reads; polling goes on slowly
    }
    this.#quiet = moved ? 0 : this.#quiet + 1;
    this.#delay = this.#quiet < PATIENCE ? FAST_MS : Math.min(this.#delay * 1.5, SLOW_MS);
    if (this.#on) this.#schedule(this.#delay);
  }
}
