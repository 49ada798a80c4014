/**
 * Relations over packet bytes (`tcp[13] & 2 != 0`, `ip[8] < 64`,
 * `len >= 100`). Each load brings a guard (the protocol must be present)
 * that is tested before the relation, as libpcap's gen_load does; like
 * libpcap's gen_arth, only the left operand's guard survives an operator.
 * Constants are folded the way libpcap's optimizer folds them, including
 * its algebra on zero (`x * 0` is 0 and x's loads are dropped), because
 * that changes which packets a load past the captured bytes rejects.
 */
import type { Arith, BinOp, RelOp } from './ast';
import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_DIV, BPF_IMM, BPF_IND, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MEM, BPF_MISC, BPF_MOD,
  BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RSH, BPF_ST, BPF_SUB, BPF_TAX, BPF_W, BPF_X, BPF_XOR, BPF_B,
} from '../bpf';
import { and, cmp, constCompare, not, SIZE, stmt, testK, testX, type Cond, type JumpOp, type Stmt } from './cond';
import { FilterError } from './errors';
import { ETHERTYPE_IP, type Layout } from './linktype';
import { genAbbrev, ipFirstFragment } from './protos';

type Val =
  | { kind: 'const'; k: number }
  | { kind: 'len' }
  | { kind: 'load'; size: 1 | 2 | 4; base: number; index: Val; ipv4Payload: boolean }
  | { kind: 'bin'; op: BinOp; l: Val; r: Val }
  | { kind: 'neg'; a: Val }
  /** libpcap's optimizer refuses this value (division by a folded zero, …), but only in code it reaches */
  | { kind: 'fail'; message: string };

interface Lowered {
  val: Val;
  guard: Cond | undefined;
}

const ALU: Record<BinOp, number> = { '+': BPF_ADD, '-': BPF_SUB, '*': BPF_MUL, '/': BPF_DIV, '%': BPF_MOD, '&': BPF_AND, '|': BPF_OR, '^': BPF_XOR, '<<': BPF_LSH, '>>': BPF_RSH };
const TRANSPORTS = new Set(['sctp', 'tcp', 'udp', 'icmp', 'igmp', 'igrp', 'pim', 'vrrp', 'carp']);
const MAX_REGS = 16;

function fold(op: BinOp, a: number, b: number): number {
  switch (op) {
    case '+': return (a + b) >>> 0;
    case '-': return (a - b) >>> 0;
    case '*': return Math.imul(a, b) >>> 0;
    case '/': return Math.floor(a / b) >>> 0;
    case '%': return a % b;
    case '&': return (a & b) >>> 0;
    case '|': return (a | b) >>> 0;
    case '^': return (a ^ b) >>> 0;
    case '<<': return b < 32 ? (a << b) >>> 0 : 0;
    case '>>': return b < 32 ? a >>> b : 0;
  }
}

/** libpcap's optimizer on a binary operator with constant operands (fold_op, opt_stmt). */
function simplify(op: BinOp, l: Val, r: Val): Val {
  if (l.kind === 'fail') return l;
  if (r.kind === 'fail') return r;
  const lc = l.kind === 'const' ? l.k : undefined;
  const rc = r.kind === 'const' ? r.k : undefined;
  if ((op === '/' || op === '%') && rc === 0) return { kind: 'fail', message: op === '/' ? 'division by zero' : 'modulus by zero' };
  if (lc !== undefined && rc !== undefined) return { kind: 'const', k: fold(op, lc, rc) };
  if (rc !== undefined) {
    if ((op === '<<' || op === '>>') && rc > 31) return { kind: 'fail', message: 'shift by more than 31 bits' };
    if (rc === 0) return op === '*' || op === '&' ? { kind: 'const', k: 0 } : l;
  }
  if (lc === 0 && op !== '-') return op === '+' || op === '|' || op === '^' ? r : { kind: 'const', k: 0 };
  return { kind: 'bin', op, l, r };
}

function lowerLoad(L: Layout, a: Extract<Arith, { kind: 'load' }>): Lowered {
  if (a.size !== 1 && a.size !== 2 && a.size !== 4) throw new FilterError('data size must be 1, 2, or 4');
  const inner = lowerArith(L, a.index);
  const size = a.size as 1 | 2 | 4;
  const load = (base: number, ipv4Payload = false): Val => ({ kind: 'load', size, base, index: inner.val, ipv4Payload });
  if (a.proto === 'link') return { val: load(0), guard: inner.guard };
  if (a.proto === 'ip' || a.proto === 'ip6' || a.proto === 'arp' || a.proto === 'rarp') {
    return { val: load(L.offNl), guard: and2(inner.guard, genAbbrev(L, a.proto)) };
  }
  if (TRANSPORTS.has(a.proto)) {
    const own = and2(inner.guard, and(genAbbrev(L, a.proto), ipFirstFragment(L)));
    return { val: load(L.offNl, true), guard: and(L.linktypeIs(ETHERTYPE_IP), own) };
  }
  if (a.proto === 'icmp6') {
    const g = and(and2(inner.guard, genAbbrev(L, 'ip6')), cmp(1, L.offNl + 6, 58));
    return { val: load(L.offNl + 40), guard: g };
  }
  throw new FilterError(`unsupported index operation on ${a.proto}`, a.pos);
}

function and2(a: Cond | undefined, b: Cond): Cond {
  return a === undefined ? b : and(a, b);
}

export function lowerArith(L: Layout, a: Arith): Lowered {
  switch (a.kind) {
    case 'num':
      return { val: { kind: 'const', k: a.value >>> 0 }, guard: undefined };
    case 'len':
      return { val: { kind: 'len' }, guard: undefined };
    case 'load':
      return lowerLoad(L, a);
    case 'neg': {
      const x = lowerArith(L, a.arg);
      const val: Val = x.val.kind === 'const' ? { kind: 'const', k: (0 - x.val.k) >>> 0 } : x.val.kind === 'fail' ? x.val : { kind: 'neg', a: x.val };
      return { val, guard: x.guard };
    }
    case 'bin': {
      if (a.right.kind === 'num') checkLiteral(a.op, a.right.value);
      const l = lowerArith(L, a.left);
      const r = lowerArith(L, a.right);
      return { val: simplify(a.op, l.val, r.val), guard: l.guard };
    }
  }
}

/** gen_arth's checks on a literal right operand. */
function checkLiteral(op: BinOp, v: number): void {
  if (op === '/' && v === 0) throw new FilterError('division by zero');
  if (op === '%' && v === 0) throw new FilterError('modulus by zero');
  if ((op === '<<' || op === '>>') && v > 31) throw new FilterError('shift by more than 31 bits');
}

/** Statements leaving the value in A; scratch words from `reg` up hold pending left operands. */
function emitVal(v: Val, reg: number): Stmt[] {
  if (reg >= MAX_REGS) throw new FilterError('expression too complex (more than 16 scratch registers)');
  switch (v.kind) {
    case 'const':
      return [stmt(BPF_LD | BPF_IMM, v.k)];
    case 'len':
      return [stmt(BPF_LD | BPF_W | BPF_LEN)];
    case 'neg':
      return [...emitVal(v.a, reg), stmt(BPF_ALU | BPF_NEG)];
    case 'load':
      return emitLoad(v, reg);
    case 'bin':
      if (v.r.kind === 'const') return [...emitVal(v.l, reg), stmt(BPF_ALU | ALU[v.op] | BPF_K, v.r.k)];
      return [...emitPair(v.l, v.r, reg), stmt(BPF_ALU | ALU[v.op] | BPF_X)];
    case 'fail':
      throw new FilterError(v.message);
  }
}

/** l into A and r into X, l evaluated first. */
function emitPair(l: Val, r: Val, reg: number): Stmt[] {
  return [...emitVal(l, reg), stmt(BPF_ST, reg), ...emitVal(r, reg + 1), stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | BPF_MEM, reg)];
}

function emitLoad(v: Extract<Val, { kind: 'load' }>, reg: number): Stmt[] {
  const ld = stmt(BPF_LD | BPF_IND | SIZE[v.size], v.base);
  if (v.ipv4Payload) {
    // X = index + IPv4 header length, as libpcap computes it (ldx msh, add)
    const msh = stmt(BPF_LDX | BPF_MSH | BPF_B, v.base);
    const index = v.index.kind === 'const' ? [stmt(BPF_LD | BPF_IMM, v.index.k)] : [...emitVal(v.index, reg), stmt(BPF_ST, reg), msh, stmt(BPF_LD | BPF_MEM, reg)];
    const head = v.index.kind === 'const' ? [msh, ...index] : index;
    return [...head, stmt(BPF_ALU | BPF_ADD | BPF_X), stmt(BPF_MISC | BPF_TAX), ld];
  }
  if (v.index.kind === 'const') return [stmt(BPF_LD | BPF_ABS | SIZE[v.size], (v.base + v.index.k) >>> 0)];
  return [...emitVal(v.index, reg), stmt(BPF_MISC | BPF_TAX), ld];
}

const REL: Record<RelOp, [JumpOp, boolean]> = { '>': ['jgt', false], '>=': ['jge', false], '=': ['jeq', false], '<=': ['jgt', true], '<': ['jge', true], '!=': ['jeq', true] };

/** gen_relation: the guards of both sides (left first), then the comparison. */
export function genRelation(L: Layout, op: RelOp, left: Arith, right: Arith): Cond {
  const l = lowerArith(L, left);
  const r = lowerArith(L, right);
  const [jop, reversed] = REL[op];
  let test: Cond;
  const fail = l.val.kind === 'fail' ? l.val : r.val.kind === 'fail' ? r.val : undefined;
  if (fail) test = { kind: 'fail', message: fail.message };
  else if (l.val.kind === 'const' && r.val.kind === 'const') test = constCompare(l.val.k, jop, r.val.k);
  // libpcap tests equality as `a - b == 0`: a value no primitive's test shares
  else if (r.val.kind === 'const') test = testK(emitVal(l.val, 0), jop, r.val.k, jop === 'jeq' ? 'sub:' : undefined);
  else test = testX(emitPair(l.val, r.val, 0), jop);
  if (reversed) test = not(test);
  const guard = l.guard === undefined ? r.guard : r.guard === undefined ? l.guard : and(l.guard, r.guard);
  return guard === undefined ? test : and(guard, test);
}
