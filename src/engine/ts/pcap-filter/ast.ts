/** The parsed filter, before any link type is known. */

/** Protocol names usable as qualifiers, abbreviations and in proto[...] (libpcap's pname). */
export const PNAMES = new Set(['link', 'ip', 'arp', 'rarp', 'sctp', 'tcp', 'udp', 'icmp', 'igmp', 'igrp', 'pim', 'vrrp', 'carp', 'ip6', 'icmp6', 'ah', 'esp']);

export type Dir = 'src' | 'dst' | 'or' | 'and';
export type AddrQual = 'host' | 'net' | 'port' | 'portrange' | 'proto';

/** libpcap's `struct qual`: protocol, direction and address-type qualifiers (undefined: default). */
export interface Qual {
  proto?: string;
  dir?: Dir;
  addr?: AddrQual;
}

export type IdValue =
  | { kind: 'num'; value: number }
  | { kind: 'hid'; text: string; masklen?: number; mask?: string }
  | { kind: 'hid6'; text: string; masklen?: number }
  | { kind: 'eid'; text: string }
  | { kind: 'name'; text: string };

export type BinOp = '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | '<<' | '>>';
export type RelOp = '>' | '>=' | '=' | '<=' | '<' | '!=';

export type Arith =
  | { kind: 'num'; value: number }
  | { kind: 'len' }
  | { kind: 'load'; proto: string; index: Arith; size: number; pos: number }
  | { kind: 'bin'; op: BinOp; left: Arith; right: Arith }
  | { kind: 'neg'; arg: Arith };

export type FilterNode =
  | { kind: 'true' }
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; arg: FilterNode }
  | { kind: 'prim'; q: Qual; id: IdValue; pos: number }
  | { kind: 'abbrev'; proto: string; pos: number }
  | { kind: 'rel'; op: RelOp; left: Arith; right: Arith }
  | { kind: 'len'; op: 'less' | 'greater'; value: number }
  | { kind: 'vlan'; id?: number; pos: number };
