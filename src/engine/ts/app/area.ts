/**
 * The application area of one flow (docs/applications.md): 256 bytes laid
 * out as the record's bytes 256..511, written in place as fields are found.
 */
import { AppFlags, Offsets as O } from '../../../flow/layout';

const A = O.kApp;
const STRINGS = O.kAppStrings - A;
const SIZE = O.kAppSize;

export class AppArea {
  readonly b = new Uint8Array(SIZE);
  readonly dv = new DataView(this.b.buffer);
  /** end of the string entries */
  private end = STRINGS;
  /** bit i: string id i written */
  private written = 0;

  get application(): number {
    return this.b[0];
  }
  set application(v: number) {
    this.b[0] = v;
  }
  flag(f: number): void {
    this.b[O.kAppFlags - A] |= f;
  }
  has(f: number): boolean {
    return (this.b[O.kAppFlags - A] & f) !== 0;
  }
  setU16(off: number, v: number): void {
    this.dv.setUint16(off - A, v, true);
  }
  getU16(off: number): number {
    return this.dv.getUint16(off - A, true);
  }
  setU8(off: number, v: number): void {
    this.b[off - A] = v;
  }
  /** appCode, once: the first PDU that has one */
  code(v: number): void {
    if (this.has(AppFlags.CODE)) return;
    this.setU16(O.kAppCode, v);
    this.flag(AppFlags.CODE);
  }
  hasString(id: number): boolean {
    return (this.written & (1 << id)) !== 0;
  }
  /** Appends string `id` (src[from..to)) once; cut to what fits, flag CUT if cut or dropped. */
  string(id: number, src: Uint8Array, from: number, to: number): void {
    if (this.hasString(id)) return;
    this.written |= 1 << id;
    let n = to - from;
    if (n > 255) {
      n = 255;
      this.flag(AppFlags.CUT);
    }
    const room = SIZE - this.end - 2;
    if (room < (n > 0 ? 1 : 0)) {
      this.flag(AppFlags.CUT);
      return;
    }
    if (n > room) {
      n = room;
      this.flag(AppFlags.CUT);
    }
    const b = this.b;
    b[this.end] = id;
    b[this.end + 1] = n;
    b.set(src.subarray(from, from + n), this.end + 2);
    this.end += 2 + n;
  }
  text(id: number, s: string): void {
    this.string(id, ASCII.encode(s), 0, s.length);
  }
}

const ASCII = new TextEncoder();
