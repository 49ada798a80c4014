/**
 * Recursive-descent parser for libpcap's grammar (grammar.y, 1.10) with its
 * quirks kept: `and` and `or` have equal precedence and group left to right;
 * a bare address or number after `and`/`or` reuses the qualifiers of the
 * term before it (`port 80 or 443`, `host a and not b`); `(` may open an
 * expression, an address list (`port (80 or 443)`) or arithmetic.
 */
import { PNAMES, type Arith, type BinOp, type Dir, type FilterNode, type IdValue, type Qual, type RelOp } from './ast';
import { FilterError, unsupported } from './errors';
import { tokenize, type Token } from './lexer';
import { parseArith } from './parse-arith';

const DQUALS = new Set(['src', 'dst']);
const AQUALS = new Set(['host', 'net', 'port', 'portrange']);
const RELOPS = new Set(['>', '>=', '=', '<=', '<', '!=']);

interface Parsed {
  node: FilterNode;
  /** the qualifiers a following bare id inherits (null: none, a bare id is a syntax error) */
  q: Qual | null;
}

export class Parser {
  readonly toks: Token[];
  i = 0;

  constructor(expr: string) {
    this.toks = tokenize(expr);
  }

  get tok(): Token {
    return this.toks[this.i];
  }

  peek(n = 1): Token {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)];
  }

  is(kind: Token['kind'], text?: string, t = this.tok): boolean {
    return t.kind === kind && (text === undefined || t.text === text);
  }

  isOp(text: string, t = this.tok): boolean {
    return this.is('op', text, t);
  }

  isAnd(t = this.tok): boolean {
    return this.is('kw', 'and', t) || this.isOp('&&', t);
  }

  isOr(t = this.tok): boolean {
    return this.is('kw', 'or', t) || this.isOp('||', t);
  }

  isNot(t = this.tok): boolean {
    return this.is('kw', 'not', t) || this.isOp('!', t);
  }

  next(): Token {
    return this.toks[this.i++];
  }

  syntax(t = this.tok): FilterError {
    return new FilterError(t.kind === 'end' ? 'syntax error: unexpected end of filter' : `syntax error near "${t.text}"`, t.pos);
  }

  expectOp(text: string): void {
    if (!this.isOp(text)) throw this.syntax();
    this.i++;
  }

  expectNum(): number {
    if (!this.is('num')) throw this.syntax();
    return this.next().value;
  }

  /** A keyword the compiler does not know is named in the error. */
  refuseKeyword(t = this.tok): void {
    if (t.kind === 'kw' && !KNOWN.has(t.text)) throw unsupported(t.text, t.pos);
  }

  program(): FilterNode {
    if (this.is('end')) return { kind: 'true' };
    const { node } = this.expr(null);
    if (!this.is('end')) throw this.syntax();
    return node;
  }

  expr(ctx: Qual | null): Parsed {
    let { node, q } = this.term(ctx);
    while (this.isAnd() || this.isOr()) {
      const kind = this.isAnd() ? 'and' : 'or';
      this.i++;
      const id = this.tryId(q);
      const right = id ?? this.term(q);
      node = { kind, left: node, right: right.node };
      q = right.q;
    }
    return { node, q };
  }

  /** `id` where the grammar allows a bare id (after and/or), else undefined with nothing consumed. */
  tryId(q: Qual | null): Parsed | undefined {
    const save = this.i;
    let node: FilterNode;
    try {
      node = this.id(q ?? {});
    } catch (e) {
      if (!(e instanceof FilterError)) throw e;
      this.i = save;
      return undefined;
    }
    const t = this.tok;
    if (!(this.isAnd(t) || this.isOr(t) || this.isOp(')', t) || this.is('end', undefined, t))) {
      this.i = save;
      return undefined;
    }
    if (q === null) throw this.syntax(this.toks[save]); // libpcap: an id with no qualifiers to inherit
    return { node, q };
  }

  term(ctx: Qual | null): Parsed {
    if (this.isNot()) {
      this.i++;
      const inner = this.term(ctx);
      return { node: { kind: 'not', arg: inner.node }, q: inner.q };
    }
    return this.rterm(ctx);
  }

  rterm(ctx: Qual | null): Parsed {
    const t = this.tok;
    this.refuseKeyword(t);
    if (this.isOp('(')) return this.parenTerm(ctx);
    if (t.kind === 'kw' && PNAMES.has(t.text)) return this.pnameTerm();
    if (t.kind === 'kw' && (DQUALS.has(t.text) || AQUALS.has(t.text) || t.text === 'proto')) return this.headTerm({});
    if (t.kind === 'num' || this.isOp('-') || this.is('kw', 'len')) return { node: this.relation(), q: null };
    if (this.is('kw', 'less') || this.is('kw', 'greater')) {
      this.i++;
      return { node: { kind: 'len', op: t.text as 'less' | 'greater', value: this.expectNum() }, q: null };
    }
    if (this.is('kw', 'vlan')) return { node: this.vlan(), q: null };
    throw this.syntax();
  }

  /** `( expr )` or a parenthesized start of arithmetic, `(tcp[13] & 2) != 0`. */
  parenTerm(ctx: Qual | null): Parsed {
    const save = this.i;
    try {
      return { node: this.relation(), q: null };
    } catch (e) {
      if (!(e instanceof FilterError)) throw e;
      this.i = save;
    }
    this.i++;
    const inner = this.expr(ctx);
    this.expectOp(')');
    return { node: inner.node, q: ctx };
  }

  pnameTerm(): Parsed {
    const t = this.tok;
    const n = this.peek();
    if (this.isOp('[', n)) return { node: this.relation(), q: null };
    this.refuseKeyword(n);
    if (n.kind === 'kw' && (DQUALS.has(n.text) || AQUALS.has(n.text) || n.text === 'proto')) {
      this.i++;
      return this.headTerm({ proto: t.text });
    }
    this.i++;
    return { node: { kind: 'abbrev', proto: t.text, pos: t.pos }, q: null };
  }

  /** `[pqual] [dqual] [aqual] id`, or `[pqual] proto id`. */
  headTerm(q: Qual): Parsed {
    if (this.is('kw', 'proto')) {
      this.i++;
      q.addr = 'proto';
    } else {
      if (this.is('kw') && DQUALS.has(this.tok.text)) q.dir = this.dqual();
      if (this.is('kw') && AQUALS.has(this.tok.text)) q.addr = this.next().text as Qual['addr'];
    }
    this.refuseKeyword();
    return { node: this.id(q), q };
  }

  dqual(): Dir {
    const first = this.next().text as 'src' | 'dst';
    const other = first === 'src' ? 'dst' : 'src';
    if ((this.isOr() || this.isAnd()) && this.is('kw', other, this.peek())) {
      const d: Dir = this.isOr() ? 'or' : 'and';
      this.i += 2;
      return d;
    }
    return first;
  }

  /** libpcap's `id`: an address, number or name, `not id`, or `( id and/or id ... )`. */
  id(q: Qual): FilterNode {
    const t = this.tok;
    if (this.isNot()) {
      this.i++;
      return { kind: 'not', arg: this.id(q) };
    }
    if (this.isOp('(')) {
      this.i++;
      let node = this.id(q);
      while (this.isAnd() || this.isOr()) {
        const kind = this.isAnd() ? 'and' : 'or';
        this.i++;
        node = { kind, left: node, right: this.id(q) };
      }
      this.expectOp(')');
      return node;
    }
    this.refuseKeyword(t);
    const value = this.idValue();
    return { kind: 'prim', q: { ...q }, id: value, pos: t.pos };
  }

  idValue(): IdValue {
    const t = this.next();
    switch (t.kind) {
      case 'num':
        return { kind: 'num', value: t.value };
      case 'hid':
        if (this.isOp('/')) return this.i++, { kind: 'hid', text: t.text, masklen: this.expectNum() };
        if (this.is('kw', 'mask')) {
          this.i++;
          if (!this.is('hid')) throw this.syntax();
          return { kind: 'hid', text: t.text, mask: this.next().text };
        }
        return { kind: 'hid', text: t.text };
      case 'hid6':
        if (this.isOp('/')) return this.i++, { kind: 'hid6', text: t.text, masklen: this.expectNum() };
        return { kind: 'hid6', text: t.text };
      case 'eid':
        return { kind: 'eid', text: t.text };
      case 'id':
        return { kind: 'name', text: t.text };
      default:
        throw this.syntax(t);
    }
  }

  relation(): FilterNode {
    const left = parseArith(this);
    const t = this.tok;
    if (!(t.kind === 'op' && RELOPS.has(t.text))) throw this.syntax();
    this.i++;
    const right: Arith = parseArith(this);
    return { kind: 'rel', op: t.text as RelOp, left, right };
  }

  vlan(): FilterNode {
    const pos = this.next().pos;
    let depth = 0;
    while (this.isOp('(') && this.is('num', undefined, this.peek(depth + 1))) depth++;
    if (!this.is('num', undefined, this.peek(depth))) return { kind: 'vlan', pos };
    this.i += depth;
    const id = this.expectNum();
    for (let k = 0; k < depth; k++) this.expectOp(')');
    return { kind: 'vlan', id, pos };
  }
}

/** Keywords with a meaning in this compiler; any other keyword is refused by name. */
const KNOWN = new Set([...PNAMES, ...DQUALS, ...AQUALS, 'proto', 'mask', 'and', 'or', 'not', 'len', 'less', 'greater', 'vlan']);

export type { BinOp };

/** Parses a filter expression (no link type needed). */
export function parseFilter(expr: string): FilterNode {
  return new Parser(expr).program();
}
