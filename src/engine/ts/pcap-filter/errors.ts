/** A filter the compiler refuses; index.ts turns it into ERR_BPF with the expression. */
export class FilterError extends Error {
  /** character offset in the expression, when the problem has one */
  readonly pos: number | undefined;

  constructor(message: string, pos?: number) {
    super(pos === undefined ? message : `${message} at offset ${pos}`);
    this.pos = pos;
  }
}

/** What the compiler supports, for the messages of unsupported keywords. */
export const SUPPORTED =
  'host, net (CIDR, mask, partial), port, portrange, src/dst, proto, ether host/src/dst/proto, ip, ip6, arp, rarp, tcp, udp, sctp, ' +
  'icmp, icmp6, igmp, igrp, pim, vrrp, carp, ah, esp, vlan, less, greater, len, proto[expr:size] comparisons, and/or/not';

export function unsupported(what: string, pos?: number): FilterError {
  return new FilterError(`"${what}" is not supported by the TypeScript filter compiler (supported: ${SUPPORTED})`, pos);
}
