/**
 * The lowered filter: a tree of tests evaluated left to right with
 * short-circuit and/or/not, as libpcap's gen_and/gen_or/gen_not build it.
 * A test is straight-line code that ends in one conditional jump; its loads
 * run only when the test is reached, which matters because a load past the
 * captured bytes rejects the whole packet.
 */
import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_K,
  BPF_LD,
  BPF_W,
  BPF_X,
} from '../bpf';

/** A straight-line instruction (no jump). */
export interface Stmt {
  code: number;
  k: number;
}

export type Cond =
  | { kind: 'const'; value: boolean }
  | { kind: 'and' | 'or'; a: Cond; b: Cond }
  | { kind: 'not'; a: Cond }
  | { kind: 'test'; stmts: Stmt[]; code: number; k: number; tag?: string }
  /** a test libpcap's optimizer refuses when it reaches it (a division by a folded zero) */
  | { kind: 'fail'; message: string };

export const TRUE: Cond = { kind: 'const', value: true };
export const FALSE: Cond = { kind: 'const', value: false };

/** a, then b when a holds (libpcap's gen_and(a, b)). */
export function and(a: Cond, b: Cond): Cond {
  return { kind: 'and', a, b };
}

/** a, then b when a fails (gen_or(a, b)). */
export function or(a: Cond, b: Cond): Cond {
  return { kind: 'or', a, b };
}

export function not(a: Cond): Cond {
  return { kind: 'not', a };
}

/** Folds and(a1, and(a2, ...)) left to right; undefined entries are skipped. */
export function all(...cs: (Cond | undefined)[]): Cond {
  const list = cs.filter((c): c is Cond => c !== undefined);
  return list.reduce((acc, c) => and(acc, c));
}

export function stmt(code: number, k = 0): Stmt {
  return { code, k: k >>> 0 };
}

export const SIZE: Record<number, number> = { 1: BPF_B, 2: BPF_H, 4: BPF_W };

export function ldAbs(size: 1 | 2 | 4, off: number): Stmt {
  return stmt(BPF_LD | BPF_ABS | SIZE[size], off);
}

export function ldInd(size: 1 | 2 | 4, off: number): Stmt {
  return stmt(BPF_LD | BPF_IND | SIZE[size], off);
}

export type JumpOp = 'jeq' | 'jgt' | 'jge' | 'jset';
const JOPS: Record<JumpOp, number> = { jeq: BPF_JEQ, jgt: BPF_JGT, jge: BPF_JGE, jset: BPF_JSET };

/** A test of A (after stmts) against constant k. */
export function testK(stmts: Stmt[], op: JumpOp, k: number, tag?: string): Cond {
  return { kind: 'test', stmts, code: BPF_JMP | JOPS[op] | BPF_K, k: k >>> 0, tag };
}

/** A test of A against X (after stmts). */
export function testX(stmts: Stmt[], op: JumpOp): Cond {
  return { kind: 'test', stmts, code: BPF_JMP | JOPS[op] | BPF_X, k: 0 };
}

/**
 * libpcap's gen_ncmp: (load(off, size) & mask) op v. A zero mask makes the
 * value constant, and libpcap's optimizer then drops the load: so do we.
 */
export function cmp(size: 1 | 2 | 4, off: number, v: number, op: JumpOp = 'jeq', mask = 0xffffffff): Cond {
  if (mask >>> 0 === 0) return constCompare(0, op, v >>> 0);
  const stmts = [ldAbs(size, off)];
  if (mask >>> 0 !== 0xffffffff) stmts.push(stmt(BPF_ALU | BPF_AND | BPF_K, mask));
  return testK(stmts, op, v);
}

/** The test's outcome when A is the constant a. */
export function constCompare(a: number, op: JumpOp, k: number): Cond {
  const r = op === 'jeq' ? a === k : op === 'jgt' ? a > k : op === 'jge' ? a >= k : (a & k) !== 0;
  return r ? TRUE : FALSE;
}

export const LD_IMM = BPF_LD | BPF_IMM;
