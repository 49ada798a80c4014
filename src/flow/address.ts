/** Address formatting for the Flow view: IPv4 dotted, IPv6 RFC 5952, MAC colon-hex. */

export function formatIPv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

export function formatIPv6(b: Uint8Array, o: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  if (isV4Mapped(b, o)) return `::ffff:${formatIPv4(b, o + 12)}`; // RFC 5952 §5
  // RFC 5952: compress the longest run (>= 2) of zero words, the first on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/** ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), written with its IPv4 part as a dotted quad. */
export function isV4Mapped(b: Uint8Array, o: number): boolean {
  for (let i = 0; i < 10; i++) if (b[o + i] !== 0) return false;
  return b[o + 10] === 0xff && b[o + 11] === 0xff;
}

export function formatMac(b: Uint8Array, o: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[o + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** An address BLOB as text by its length: 4 IPv4, 16 IPv6, 6 MAC. */
export function formatAddress(b: Uint8Array): string {
  if (b.length === 4) return formatIPv4(b, 0);
  if (b.length === 6) return formatMac(b, 0);
  return formatIPv6(b, 0);
}
