/**
 * Classic BPF interpreter (struct bpf_insn {code, jt, jf, k}) with the
 * semantics of libpcap's bpf_filter(): unsigned 32-bit A and X, 16 scratch
 * words, big-endian loads, any load past caplen returns 0 (no match), and a
 * malformed program returns 0 instead of misbehaving. The program itself
 * comes from libpcap (pcap_compile) through the addon when it is available.
 */

export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** A program in the interpreter's form: 4 int32 per instruction (code, jt, jf, k). */
export interface BpfProgram {
  readonly insns: Int32Array;
  readonly length: number;
}

// instruction classes and fields (pcap/bpf.h)
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

const MEMWORDS = 16;
const MAX_BACKWARD_JUMPS = 64;

/** Converts instructions to the interpreter's form (checked once, not per packet). */
export function compileBpf(program: readonly BpfInstruction[]): BpfProgram {
  const insns = new Int32Array(program.length * 4);
  program.forEach((ins, i) => {
    insns[4 * i] = ins.code & 0xffff;
    insns[4 * i + 1] = ins.jt & 0xff;
    insns[4 * i + 2] = ins.jf & 0xff;
    insns[4 * i + 3] = ins.k | 0;
  });
  return { insns, length: program.length };
}

const mem = new Uint32Array(MEMWORDS);

function ld32(p: Uint8Array, at: number): number {
  return ((p[at] << 24) | (p[at + 1] << 16) | (p[at + 2] << 8) | p[at + 3]) >>> 0;
}

/**
 * Runs a program over caplen bytes at data[off] of a packet of wirelen bytes:
 * the filter's return value (0: no match). An empty program matches nothing.
 */
export function runBpfAt(prog: BpfProgram, data: Uint8Array, off: number, caplen: number, wirelen: number): number {
  const ins = prog.insns;
  const n = prog.length;
  if (n < 1) return 0;
  const buflen = caplen >>> 0;
  let A = 0;
  let X = 0;
  let backward = 0;
  mem.fill(0);
  for (let pc = 0; ; pc++) {
    if (pc >= n || pc < 0) return 0;
    const i = 4 * pc;
    const code = ins[i];
    const kk = ins[i + 3] >>> 0;
    switch (code) {
      case BPF_RET | BPF_K:
        return kk;
      case BPF_RET | BPF_A:
        return A;
      case BPF_LD | BPF_W | BPF_ABS:
        if (kk > buflen || 4 > buflen - kk) return 0;
        A = ld32(data, off + kk);
        continue;
      case BPF_LD | BPF_H | BPF_ABS:
        if (kk > buflen || 2 > buflen - kk) return 0;
        A = (data[off + kk] << 8) | data[off + kk + 1];
        continue;
      case BPF_LD | BPF_B | BPF_ABS:
        if (kk >= buflen) return 0;
        A = data[off + kk];
        continue;
      case BPF_LD | BPF_W | BPF_LEN:
        A = wirelen >>> 0;
        continue;
      case BPF_LDX | BPF_W | BPF_LEN:
        X = wirelen >>> 0;
        continue;
      case BPF_LD | BPF_W | BPF_IND: {
        const k = X + kk; // no wrap in doubles: checks below are exact
        if (kk > buflen || X > buflen - kk || 4 > buflen - k) return 0;
        A = ld32(data, off + k);
        continue;
      }
      case BPF_LD | BPF_H | BPF_IND: {
        const k = X + kk;
        if (X > buflen || kk > buflen - X || 2 > buflen - k) return 0;
        A = (data[off + k] << 8) | data[off + k + 1];
        continue;
      }
      case BPF_LD | BPF_B | BPF_IND: {
        if (kk >= buflen || X >= buflen - kk) return 0;
        A = data[off + X + kk];
        continue;
      }
      case BPF_LDX | BPF_MSH | BPF_B:
        if (kk >= buflen) return 0;
        X = (data[off + kk] & 0xf) << 2;
        continue;
      case BPF_LD | BPF_IMM:
        A = kk;
        continue;
      case BPF_LDX | BPF_IMM:
        X = kk;
        continue;
      case BPF_LD | BPF_MEM:
        if (kk >= MEMWORDS) return 0;
        A = mem[kk];
        continue;
      case BPF_LDX | BPF_MEM:
        if (kk >= MEMWORDS) return 0;
        X = mem[kk];
        continue;
      case BPF_ST:
        if (kk >= MEMWORDS) return 0;
        mem[kk] = A;
        continue;
      case BPF_STX:
        if (kk >= MEMWORDS) return 0;
        mem[kk] = X;
        continue;
      case BPF_JMP | BPF_JA: {
        const k = ins[i + 3]; // signed
        if (pc + 1 + k >= n || pc + 1 + k < 0) return 0;
        if (k < 0 && (k === -1 || backward++ >= MAX_BACKWARD_JUMPS)) return 0;
        pc += k;
        continue;
      }
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += A > kk ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += A >= kk ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += A === kk ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (A & kk) !== 0 ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JGT | BPF_X:
        pc += A > X ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JGE | BPF_X:
        pc += A >= X ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JEQ | BPF_X:
        pc += A === X ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_JMP | BPF_JSET | BPF_X:
        pc += (A & X) !== 0 ? ins[i + 1] : ins[i + 2];
        continue;
      case BPF_ALU | BPF_ADD | BPF_X:
        A = (A + X) >>> 0;
        continue;
      case BPF_ALU | BPF_SUB | BPF_X:
        A = (A - X) >>> 0;
        continue;
      case BPF_ALU | BPF_MUL | BPF_X:
        A = Math.imul(A, X) >>> 0;
        continue;
      case BPF_ALU | BPF_DIV | BPF_X:
        if (X === 0) return 0;
        A = Math.floor(A / X) >>> 0;
        continue;
      case BPF_ALU | BPF_MOD | BPF_X:
        if (X === 0) return 0;
        A = A % X;
        continue;
      case BPF_ALU | BPF_AND | BPF_X:
        A = (A & X) >>> 0;
        continue;
      case BPF_ALU | BPF_OR | BPF_X:
        A = (A | X) >>> 0;
        continue;
      case BPF_ALU | BPF_XOR | BPF_X:
        A = (A ^ X) >>> 0;
        continue;
      case BPF_ALU | BPF_LSH | BPF_X:
        A = X < 32 ? (A << X) >>> 0 : 0;
        continue;
      case BPF_ALU | BPF_RSH | BPF_X:
        A = X < 32 ? A >>> X : 0;
        continue;
      case BPF_ALU | BPF_ADD | BPF_K:
        A = (A + kk) >>> 0;
        continue;
      case BPF_ALU | BPF_SUB | BPF_K:
        A = (A - kk) >>> 0;
        continue;
      case BPF_ALU | BPF_MUL | BPF_K:
        A = Math.imul(A, kk) >>> 0;
        continue;
      case BPF_ALU | BPF_DIV | BPF_K:
        if (kk === 0) return 0;
        A = Math.floor(A / kk) >>> 0;
        continue;
      case BPF_ALU | BPF_MOD | BPF_K:
        if (kk === 0) return 0;
        A = A % kk;
        continue;
      case BPF_ALU | BPF_AND | BPF_K:
        A = (A & kk) >>> 0;
        continue;
      case BPF_ALU | BPF_OR | BPF_K:
        A = (A | kk) >>> 0;
        continue;
      case BPF_ALU | BPF_XOR | BPF_K:
        A = (A ^ kk) >>> 0;
        continue;
      case BPF_ALU | BPF_LSH | BPF_K:
        A = kk < 32 ? (A << kk) >>> 0 : 0;
        continue;
      case BPF_ALU | BPF_RSH | BPF_K:
        A = kk < 32 ? A >>> kk : 0;
        continue;
      case BPF_ALU | BPF_NEG:
        A = (0 - A) >>> 0;
        continue;
      case BPF_MISC | BPF_TAX:
        X = A;
        continue;
      case BPF_MISC | BPF_TXA:
        A = X;
        continue;
      default:
        return 0;
    }
  }
}

const compiled = new WeakMap<readonly BpfInstruction[], BpfProgram>();

/**
 * Runs a BPF program (instructions, or compileBpf()'s form) over a packet:
 * caplen captured bytes of data (from its start), wirelen original bytes.
 * Returns the filter's value: 0 = no match.
 */
export function runBpf(program: readonly BpfInstruction[] | BpfProgram, data: Uint8Array, caplen: number, wirelen: number): number {
  let prog: BpfProgram;
  if (Array.isArray(program)) {
    const arr = program as readonly BpfInstruction[];
    let c = compiled.get(arr);
    if (!c) {
      c = compileBpf(arr);
      compiled.set(arr, c);
    }
    prog = c;
  } else {
    prog = program as BpfProgram;
  }
  const len = Math.min(caplen >>> 0, data.length);
  return runBpfAt(prog, data, 0, len, wirelen);
}
