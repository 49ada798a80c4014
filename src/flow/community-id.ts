/**
 * Community ID v1 (corelight/community-id-spec): SHA-1 over seed, the ordered
 * endpoints, protocol, a pad byte and ports; ICMP/ICMPv6 use type and
 * counterpart type (or code) as ports.
 */
import { createHash } from 'node:crypto';

const ICMP4_PAIRS: Record<number, number> = { 8: 0, 0: 8, 13: 14, 14: 13, 15: 16, 16: 15, 10: 9, 9: 10, 17: 18, 18: 17 };
const ICMP6_PAIRS: Record<number, number> = {
  128: 129, 129: 128, 133: 134, 134: 133, 135: 136, 136: 135, 130: 131, 131: 130, 144: 145, 145: 144,
};

export interface CommunityIdOptions {
  seed?: number;
  /** true (default): base64; false: hex */
  base64?: boolean;
}

/**
 * Computes the Community ID of a tuple. For ICMP (1) and ICMPv6 (58) pass the
 * type as `sport` and the code as `dport`.
 */
export function communityId(
  proto: number,
  saddr: Uint8Array,
  daddr: Uint8Array,
  sport: number,
  dport: number,
  options: CommunityIdOptions = {},
): string {
  const seed = options.seed ?? 0;
  let oneWay = false;
  if (proto === 1 || proto === 58) {
    const pairs = proto === 1 ? ICMP4_PAIRS : ICMP6_PAIRS;
    const counterpart = pairs[sport];
    if (counterpart === undefined) oneWay = true;
    else dport = counterpart;
  }
  const hasPorts = proto === 6 || proto === 17 || proto === 132 || proto === 1 || proto === 58;
  let a = saddr;
  let b = daddr;
  let pa = sport;
  let pb = dport;
  if (!oneWay) {
    const c = Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length));
    if (c > 0 || (c === 0 && pa > pb)) {
      [a, b] = [b, a];
      [pa, pb] = [pb, pa];
    }
  }
  const head = Buffer.alloc(2);
  head.writeUInt16BE(seed & 0xffff);
  const tail = Buffer.alloc(hasPorts ? 6 : 2);
  tail[0] = proto;
  tail[1] = 0;
  if (hasPorts) {
    tail.writeUInt16BE(pa, 2);
    tail.writeUInt16BE(pb, 4);
  }
  const digest = createHash('sha1').update(head).update(a).update(b).update(tail).digest();
  return '1:' + (options.base64 === false ? digest.toString('hex') : digest.toString('base64'));
}
