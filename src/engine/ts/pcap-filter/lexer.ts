/**
 * Tokens of the pcap-filter language, split the way libpcap's flex scanner
 * (scanner.l, 1.10) splits them: the longest match wins and, on a tie, the
 * earlier rule (keywords, operators, MAC, number, IPv4, IPv6, named
 * constants, then names). Keeping flex's tie-breaking matters: `tcp-syn` is
 * the number 2, `10.1` an IPv4 prefix, `1000-2000` a name (a port range).
 */
import { FilterError } from './errors';

export type TokenKind = 'kw' | 'op' | 'num' | 'hid' | 'hid6' | 'eid' | 'id' | 'end';

export interface Token {
  kind: TokenKind;
  /** the keyword's canonical name, the operator, or the text */
  text: string;
  /** for 'num' */
  value: number;
  pos: number;
  /** characters of the expression the token covers */
  len: number;
}

/** Scanner keywords; aliases map to one name (libpcap's token). */
const KEYWORDS = new Map<string, string>();
for (const k of (
  'dst src arp rarp ip sctp tcp udp icmp igmp igrp pim vrrp carp radio ip6 icmp6 ah esp atalk aarp decnet lat sca moprc mopdl ' +
  'iso clnp stp ipx netbeui l1 l2 iih lsp snp csnp psnp host net mask port portrange proto protochain gateway type subtype ' +
  'ra ta less greater byte broadcast multicast inbound outbound ifindex vlan mpls pppoed pppoes geneve lane llc metac bcc oam ' +
  'oamf4 oamf4ec oamf4sc sc ilmic vpi vci connectmsg metaconnect reason action fisu lssu msu hfisu hlssu hmsu sio opc dpc sls ' +
  'hsio hopc hdpc hsls and or not len'
).split(' '))
  KEYWORDS.set(k, k);
const ALIASES: [string, string][] = [
  ['link', 'link'], ['ether', 'link'], ['ppp', 'link'], ['slip', 'link'], ['fddi', 'link'], ['tr', 'link'], ['wlan', 'link'],
  ['es-is', 'esis'], ['esis', 'esis'], ['isis', 'isis'], ['is-is', 'isis'], ['direction', 'dir'], ['dir', 'dir'],
  ['address1', 'addr1'], ['addr1', 'addr1'], ['address2', 'addr2'], ['addr2', 'addr2'], ['address3', 'addr3'], ['addr3', 'addr3'],
  ['address4', 'addr4'], ['addr4', 'addr4'], ['length', 'len'], ['on', 'ifname'], ['ifname', 'ifname'], ['rset', 'ruleset'],
  ['ruleset', 'ruleset'], ['rnr', 'rulenum'], ['rulenum', 'rulenum'], ['srnr', 'subrulenum'], ['subrulenum', 'subrulenum'], ['lsu', 'lssu'],
];
for (const [k, v] of ALIASES) KEYWORDS.set(k, v);

/** Named constants the scanner turns into numbers (pcap-filter(7)). */
const CONSTANTS: Record<string, number> = {
  icmptype: 0, icmpcode: 1, 'icmp-echoreply': 0, 'icmp-unreach': 3, 'icmp-sourcequench': 4, 'icmp-redirect': 5, 'icmp-echo': 8,
  'icmp-routeradvert': 9, 'icmp-routersolicit': 10, 'icmp-timxceed': 11, 'icmp-paramprob': 12, 'icmp-tstamp': 13,
  'icmp-tstampreply': 14, 'icmp-ireq': 15, 'icmp-ireqreply': 16, 'icmp-maskreq': 17, 'icmp-maskreply': 18,
  icmp6type: 0, icmp6code: 1, 'icmp6-destinationunreach': 1, 'icmp6-packettoobig': 2, 'icmp6-timeexceeded': 3,
  'icmp6-parameterproblem': 4, 'icmp6-echo': 128, 'icmp6-echoreply': 129, 'icmp6-multicastlistenerquery': 130,
  'icmp6-multicastlistenerreportv1': 131, 'icmp6-multicastlistenerdone': 132, 'icmp6-routersolicit': 133,
  'icmp6-routeradvert': 134, 'icmp6-neighborsolicit': 135, 'icmp6-neighboradvert': 136, 'icmp6-redirect': 137,
  'icmp6-routerrenum': 138, 'icmp6-nodeinformationquery': 139, 'icmp6-nodeinformationresponse': 140,
  'icmp6-ineighbordiscoverysolicit': 141, 'icmp6-ineighbordiscoveryadvert': 142, 'icmp6-multicastlistenerreportv2': 143,
  'icmp6-homeagentdiscoveryrequest': 144, 'icmp6-homeagentdiscoveryreply': 145, 'icmp6-mobileprefixsolicit': 146,
  'icmp6-mobileprefixadvert': 147, 'icmp6-certpathsolicit': 148, 'icmp6-certpathadvert': 149,
  'icmp6-multicastrouteradvert': 151, 'icmp6-multicastroutersolicit': 152, 'icmp6-multicastrouterterm': 153,
  tcpflags: 13, 'tcp-fin': 0x01, 'tcp-syn': 0x02, 'tcp-rst': 0x04, 'tcp-push': 0x08, 'tcp-ack': 0x10, 'tcp-urg': 0x20,
  'tcp-ece': 0x40, 'tcp-cwr': 0x80,
};

const OPS = ['&&', '||', '>=', '<=', '!=', '==', '<<', '>>', '+', '-', '*', '/', '%', ':', '[', ']', '!', '<', '>', '(', ')', '&', '|', '^', '='];

const N = '(?:0[xX][0-9A-Fa-f]+|[0-9]+)';
const B = '[0-9A-Fa-f]{1,2}';
const B2 = '[0-9A-Fa-f]{4}';
const W = '[0-9A-Fa-f]{1,4}';
const V4 = `${N}\\.${N}\\.${N}\\.${N}`;

/** scanner.l's V6 alternatives: n groups with `::` after a of them, with or without a trailing dotted quad. */
function v6Patterns(): RegExp[] {
  const groups = (n: number) => (n === 0 ? '' : `${W}(?::${W}){${n - 1}}`);
  const out = [`${W}(?::${W}){7}`, `${W}(?::${W}){5}:${V4}`];
  for (let total = 0; total <= 7; total++) {
    for (let a = 0; a <= total; a++) out.push(`${groups(a)}::${groups(total - a)}`);
  }
  for (let total = 0; total <= 5; total++) {
    for (let a = 0; a <= total; a++) out.push(`${groups(a)}::${groups(total - a)}${total - a > 0 ? ':' : ''}${V4}`);
  }
  return out.map((p) => new RegExp(p, 'y'));
}

/** [kind, patterns] in scanner.l's rule order (a tie goes to the earlier entry). */
const RULES: [TokenKind, RegExp[]][] = [
  ['eid', [`${B}(?::${B}){5}`, `${B}(?:-${B}){5}`, `${B}(?:\\.${B}){5}`, `${B2}\\.${B2}\\.${B2}`, `(?:${B2}){3}`].map((p) => new RegExp(p, 'y'))],
  ['num', [new RegExp(N, 'y')]],
  ['hid', [`${N}\\.${N}`, `${N}\\.${N}\\.${N}`, V4].map((p) => new RegExp(p, 'y'))],
  ['hid6', v6Patterns()],
  ['id', [/[A-Za-z0-9](?:[-_.A-Za-z0-9]*[.A-Za-z0-9])?/y]],
];

function longest(res: RegExp[], s: string, pos: number): number {
  let best = 0;
  for (const re of res) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m && m[0].length > best) best = m[0].length;
  }
  return best;
}

/** libpcap's stou(): decimal, 0x hex or 0-prefixed octal, at most 32 bits. */
export function parseNumber(text: string, pos: number): number {
  let v: number;
  if (/^0[xX]/.test(text)) v = parseInt(text.slice(2), 16);
  else if (text.length > 1 && text[0] === '0') {
    if (/[89]/.test(text)) throw new FilterError(`number ${text} contains non-octal digit`, pos);
    v = parseInt(text, 8);
  } else v = parseInt(text, 10);
  if (!(v <= 0xffffffff)) throw new FilterError(`number ${text} overflows 32 bits`, pos);
  return v;
}

function word(s: string, pos: number): Token | undefined {
  let bestLen = 0;
  let kind: TokenKind = 'id';
  for (const [k, res] of RULES) {
    const len = longest(res, s, pos);
    if (len > bestLen) {
      bestLen = len;
      kind = k;
    }
  }
  if (bestLen === 0) return undefined;
  const text = s.slice(pos, pos + bestLen); // case-sensitive, like libpcap's scanner
  const len = text.length;
  if (kind === 'id' && KEYWORDS.has(text)) return { kind: 'kw', text: KEYWORDS.get(text) as string, value: 0, pos, len };
  if (kind === 'id' && Object.hasOwn(CONSTANTS, text)) return { kind: 'num', text, value: CONSTANTS[text], pos, len };
  if (kind === 'num') return { kind, text, value: parseNumber(text, pos), pos, len };
  return { kind, text, value: 0, pos, len };
}

/** Splits a filter into tokens, ending with an 'end' token. */
export function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let pos = 0;
  while (pos < s.length) {
    const c = s[pos];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      pos++;
      continue;
    }
    const w = /[A-Za-z0-9]/.test(c) || c === ':' ? word(s, pos) : undefined;
    const op = OPS.find((o) => s.startsWith(o, pos));
    if (w && (!op || w.len > op.length)) {
      out.push(w);
      pos += w.len;
    } else if (c === '\\') {
      const m = /[^ !()\n\t]+/y;
      m.lastIndex = pos + 1;
      const r = m.exec(s);
      if (!r) throw new FilterError(`unexpected '\\'`, pos);
      out.push({ kind: 'id', text: r[0], value: 0, pos, len: 1 + r[0].length });
      pos += 1 + r[0].length;
    } else if (op) {
      out.push({ kind: 'op', text: op === '==' ? '=' : op, value: 0, pos, len: op.length });
      pos += op.length;
    } else {
      throw new FilterError(`unexpected character '${c}'`, pos);
    }
  }
  out.push({ kind: 'end', text: '', value: 0, pos: s.length, len: 0 });
  return out;
}
