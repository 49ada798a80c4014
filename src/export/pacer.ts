/**
 * Paced sending: at most `rate` messages a second, in bursts of at most 10 ms
 * worth (a token bucket), on timers so the event loop keeps running. A UDP
 * collector loses what overflows its socket buffer (Linux default 208 KiB,
 * ~90 messages of 1400 bytes), and a burst of a whole batch is more than that.
 */
export class Pacer {
  readonly #rate: number;
  readonly #burst: number;
  readonly #transmit: (msg: Buffer) => void;
  #queue: (Buffer | undefined)[] = [];
  #head = 0;
  #tokens: number;
  #at = performance.now();
  #timer: NodeJS.Timeout | undefined;

  /** `rate`: messages per second, Infinity for none; `transmit` sends one message now. */
  constructor(rate: number, transmit: (msg: Buffer) => void) {
    this.#rate = rate;
    this.#burst = Math.max(1, Math.ceil(rate / 100));
    this.#tokens = this.#burst;
    this.#transmit = transmit;
  }

  /** Messages waiting for their turn. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Sends `msg` now if the rate allows, else after the messages queued before it. */
  push(msg: Buffer): void {
    if (this.#rate === Infinity) return this.#transmit(msg);
    this.#queue.push(msg);
    if (!this.#timer) this.#pump();
  }

  #pump(): void {
    this.#timer = undefined;
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
    while (this.#tokens >= 1 && this.#head < this.#queue.length) {
      this.#tokens--;
      const msg = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined;
      this.#transmit(msg);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    // a ref'd timer: the process does not exit with messages unsent
    this.#timer = setTimeout(() => this.#pump(), Math.ceil(((1 - this.#tokens) * 1000) / this.#rate));
  }
}
