/**
 * pcap-filter(7) expressions compiled to classic BPF without libpcap, for
 * the TypeScript engine. The programs need not equal pcap_compile's
 * instruction for instruction, but they accept and reject the same packets
 * (test/pcap-filter.test.ts runs both over the corpus). What libpcap can do
 * and this compiler cannot (names, gateway, mpls, …) is ERR_BPF naming it.
 */
import { FlowmasterError } from '../../../errors';
import type { BpfInstruction } from '../bpf';
import type { FilterNode } from './ast';
import { emitProgram } from './emit';
import { FilterError } from './errors';
import { Layout } from './linktype';
import { lower } from './lower';
import { parseFilter } from './parser';

export { SUPPORTED_LINKTYPES } from './linktype';

function bad(expr: string, e: unknown): unknown {
  return e instanceof FilterError ? new FlowmasterError('ERR_BPF', `bad BPF filter "${expr}": ${e.message}`) : e;
}

/** Parses a filter (syntax and keywords only; no link type): the AST, or ERR_BPF. */
export function parsePcapFilter(expr: string): FilterNode {
  try {
    return parseFilter(expr);
  } catch (e) {
    throw bad(expr, e);
  }
}

/** Compiles a parsed filter for a capture link type (LINKTYPE_ value). */
export function compileParsed(expr: string, ast: FilterNode, linktype: number): BpfInstruction[] {
  try {
    return emitProgram(lower(new Layout(linktype), ast));
  } catch (e) {
    throw bad(expr, e);
  }
}

/** Compiles a filter for a capture link type: the cBPF program, or ERR_BPF. */
export function compilePcapFilter(expr: string, linktype: number): BpfInstruction[] {
  return compileParsed(expr, parsePcapFilter(expr), linktype);
}

/**
 * The TypeScript engine's filter compiler: checks the filter now (as the
 * native engine compiles it for Ethernet at construction) and returns the
 * per-link-type compiler, an Error for a link type the filter cannot apply to.
 */
export function pcapFilterCompiler(expr: string): (linktype: number) => BpfInstruction[] | Error {
  const ast = parsePcapFilter(expr);
  compileParsed(expr, ast, 1);
  const programs = new Map<number, BpfInstruction[] | Error>();
  return (linktype) => {
    let p = programs.get(linktype);
    if (p === undefined) {
      try {
        p = compileParsed(expr, ast, linktype);
      } catch (e) {
        p = e as Error;
      }
      programs.set(linktype, p);
    }
    return p;
  };
}
