/**
 * Arithmetic of relations (`tcp[13] & 2 != 0`), with yacc's resolution of
 * grammar.y's precedence table: | < & < << >> < + - < * / < unary minus,
 * left-associative; `%` and `^` have no declared precedence, so yacc always
 * shifts around them (`a % b + c` is `a % (b + c)`, `a + b % c` is
 * `a + (b % c)`).
 */
import { PNAMES, type Arith, type BinOp } from './ast';
import type { Parser } from './parser';

const PREC: Record<string, number | undefined> = { '|': 1, '&': 2, '<<': 3, '>>': 3, '+': 4, '-': 4, '*': 5, '/': 5, '%': undefined, '^': undefined };
const UMINUS = 6;
const BINOPS = new Set(Object.keys(PREC));

type StackOp = BinOp | 'neg';

function precOf(op: StackOp): number | undefined {
  return op === 'neg' ? UMINUS : PREC[op];
}

/** yacc: reduce when both have a precedence and the stacked one binds at least as tightly (left assoc). */
function reduces(top: StackOp, look: BinOp): boolean {
  const a = precOf(top);
  const b = PREC[look];
  return a !== undefined && b !== undefined && a >= b;
}

function reduce(ops: StackOp[], vals: Arith[]): void {
  const op = ops.pop() as StackOp;
  if (op === 'neg') {
    vals.push({ kind: 'neg', arg: vals.pop() as Arith });
    return;
  }
  const right = vals.pop() as Arith;
  const left = vals.pop() as Arith;
  vals.push({ kind: 'bin', op, left, right });
}

function primary(p: Parser): Arith {
  const t = p.tok;
  if (t.kind === 'num') return p.next(), { kind: 'num', value: t.value };
  if (p.is('kw', 'len')) return p.next(), { kind: 'len' };
  if (p.isOp('(')) {
    p.next();
    const inner = parseArith(p);
    p.expectOp(')');
    return inner;
  }
  if (t.kind === 'kw' && PNAMES.has(t.text) && p.isOp('[', p.peek())) {
    p.i += 2;
    const index = parseArith(p);
    let size = 1;
    if (p.isOp(':')) {
      p.next();
      size = p.expectNum();
    }
    p.expectOp(']');
    return { kind: 'load', proto: t.text, index, size, pos: t.pos };
  }
  p.refuseKeyword(t);
  throw p.syntax();
}

/** Parses `arth` at the parser's position. */
export function parseArith(p: Parser): Arith {
  const ops: StackOp[] = [];
  const vals: Arith[] = [];
  for (;;) {
    while (p.isOp('-')) {
      p.next();
      ops.push('neg');
    }
    vals.push(primary(p));
    const t = p.tok;
    if (!(t.kind === 'op' && BINOPS.has(t.text))) break;
    const look = t.text as BinOp;
    while (ops.length > 0 && reduces(ops[ops.length - 1], look)) reduce(ops, vals);
    ops.push(look);
    p.next();
  }
  while (ops.length > 0) reduce(ops, vals);
  return vals[0];
}
