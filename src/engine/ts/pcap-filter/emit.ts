/**
 * Cond tree -> block graph -> cBPF. Blocks are built back to front, so every
 * jump goes forward. The graph is then threaded the way libpcap's optimizer
 * threads it (opt_j/fold_edge): a test whose outcome an earlier test on the
 * same value already decided is skipped, and a test whose two branches meet
 * is dropped with its loads. That matters beyond speed: a load past the
 * captured bytes rejects the packet, so which loads run must be libpcap's.
 */
import { BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_RET, type BpfInstruction } from '../bpf';
import type { Cond, Stmt } from './cond';
import { FilterError } from './errors';

/** libpcap's accept value: the snapshot length of pcap_open_dead(…, 262144). */
export const ACCEPT = 262144;

interface Ret {
  ret: number;
}

interface Block {
  stmts: Stmt[];
  code: number;
  k: number;
  /** identity of the value A holds at the jump (the statements computing it) */
  key: string;
  t: Node;
  f: Node;
  /** the error libpcap's optimizer raises on this block (Cond 'fail') */
  fail?: string;
}

type Node = Block | Ret;

let failures = 0;

function isRet(n: Node): n is Ret {
  return (n as Ret).ret !== undefined;
}

function build(c: Cond, t: Node, f: Node): Node {
  switch (c.kind) {
    case 'const':
      return c.value ? t : f;
    case 'not':
      return build(c.a, f, t);
    case 'and':
      return build(c.a, build(c.b, t, f), f);
    case 'or':
      return build(c.a, t, build(c.b, t, f));
    case 'fail':
      // refused only if still reachable once threaded, as libpcap's optimizer refuses only code it reaches
      return { stmts: [], code: BPF_JMP | BPF_JEQ | BPF_K, k: 0, key: `fail:${failures++}`, t, f, fail: c.message };
    case 'test':
      if (t === f) return t;
      return { stmts: c.stmts, code: c.code, k: c.k, key: (c.tag ?? '') + c.stmts.map((s) => `${s.code}:${s.k}`).join(','), t, f };
  }
}

/** Reachable blocks in topological order (every edge goes to a later block). */
function order(root: Node): Block[] {
  const seen = new Set<Block>();
  const post: Block[] = [];
  const visit = (n: Node) => {
    if (isRet(n) || seen.has(n)) return;
    seen.add(n);
    visit(n.t);
    visit(n.f);
    post.push(n);
  };
  visit(root);
  return post.reverse();
}

/** An edge: block `from` leaving on its true (sense) or false side. */
interface Edge {
  from: Block;
  sense: boolean;
}

/** fold_edge: the outcome of `child` decided by dominating edge d, or undefined. */
function fold(child: Block, d: Edge): Node | undefined {
  if ((child.code & 0x08) !== BPF_K || child.code !== d.from.code || child.key !== d.from.key) return undefined;
  if (child.k === d.from.k) return d.sense ? child.t : child.f;
  if (d.sense && child.code === (BPF_JMP | BPF_JEQ | BPF_K)) return child.f;
  return undefined;
}

/** Edge dominators: the edges on every path from the root to each edge. */
function edgeDominators(blocks: Block[]): Map<Block, [Edge[], Edge[]]> {
  const into = new Map<Block, Edge[][]>();
  const out = new Map<Block, [Edge[], Edge[]]>();
  for (const b of blocks) {
    const ins = into.get(b);
    const common = ins === undefined ? [] : ins.reduce((acc, d) => acc.filter((e) => d.includes(e)));
    const doms: [Edge[], Edge[]] = [[...common, { from: b, sense: true }], [...common, { from: b, sense: false }]];
    out.set(b, doms);
    for (const [i, next] of [b.t, b.f].entries()) {
      if (isRet(next)) continue;
      const list = into.get(next) ?? [];
      list.push(doms[i]);
      into.set(next, list);
    }
  }
  return out;
}

/** Where an edge really leads once decided tests and tests with one destination are skipped. */
function resolve(n: Node, doms: Edge[]): Node {
  for (let guard = 0; guard < 10_000 && !isRet(n); guard++) {
    if (n.t === n.f && n.fail === undefined) {
      n = n.t;
      continue;
    }
    let next: Node | undefined;
    for (const d of doms) if ((next = fold(n, d)) !== undefined) break;
    if (next === undefined) return n;
    n = next;
  }
  return n;
}

/** One threading pass; true when an edge moved. */
function thread(root: { n: Node }): boolean {
  const blocks = order(root.n);
  const doms = edgeDominators(blocks);
  let changed = false;
  const r = resolve(root.n, []);
  if (r !== root.n) [root.n, changed] = [r, true];
  for (const b of blocks) {
    const [dt, df] = doms.get(b) as [Edge[], Edge[]];
    const t = resolve(b.t, dt);
    const f = resolve(b.f, df);
    if (t !== b.t || f !== b.f) [b.t, b.f, changed] = [t, f, true];
  }
  return changed;
}

class Builder {
  /** rev[id]: instructions in reverse order; id 0 is the program's last instruction */
  readonly rev: BpfInstruction[] = [];

  prepend(code: number, jt: number, jf: number, k: number): number {
    this.rev.push({ code, jt, jf, k: k | 0 });
    return this.rev.length - 1;
  }

  /** jump offset from a new instruction (the next id) to target id */
  dist(target: number): number {
    return this.rev.length - target - 1;
  }

  ja(target: number): number {
    return this.prepend(BPF_JMP | BPF_JA, 0, 0, this.dist(target));
  }

  /** A conditional jump; a target farther than 255 goes through a `ja` (32-bit offset) right after it. */
  jump(code: number, k: number, t: number, f: number): number {
    if (this.dist(f) > 255) f = this.ja(f);
    if (this.dist(t) > 255) {
      t = this.ja(t);
      if (this.dist(f) > 255) f = this.ja(f);
    }
    return this.prepend(code, this.dist(t), this.dist(f), k);
  }
}

/** The program: ACCEPT when the condition holds, else 0. */
export function emitProgram(c: Cond): BpfInstruction[] {
  const accept: Ret = { ret: ACCEPT };
  const reject: Ret = { ret: 0 };
  const root = { n: build(c, accept, reject) };
  for (let pass = 0; pass < 100 && thread(root); pass++);
  // as pcap_compile, which refuses a program its optimizer reduces to `ret #0`
  if (root.n === reject) throw new FilterError('expression rejects all packets');
  const b = new Builder();
  const ids = new Map<Node, number>([[reject, b.prepend(BPF_RET | BPF_K, 0, 0, 0)], [accept, b.prepend(BPF_RET | BPF_K, 0, 0, ACCEPT)]]);
  const blocks = order(root.n);
  const failed = blocks.find((blk) => blk.fail !== undefined);
  if (failed) throw new FilterError(failed.fail as string);
  for (const blk of blocks.reverse()) {
    let at = b.jump(blk.code, blk.k, ids.get(blk.t) as number, ids.get(blk.f) as number);
    for (let i = blk.stmts.length - 1; i >= 0; i--) at = b.prepend(blk.stmts[i].code, 0, 0, blk.stmts[i].k);
    ids.set(blk, at);
  }
  const entry = ids.get(root.n) as number;
  if (entry !== b.rev.length - 1) b.ja(entry);
  return b.rev.reverse();
}
