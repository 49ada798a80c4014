/**
 * Vendor of a MAC address from its OUI (IEEE registry, npm `oui-data`),
 * loaded on first use (5 MB of JSON, ~150 ms) and kept as a Map.
 */
let table: Map<string, string> | undefined;

function load(): Map<string, string> {
  const raw = require('oui-data') as Record<string, string>;
  const m = new Map<string, string>();
  for (const [prefix, entry] of Object.entries(raw)) m.set(prefix, entry.split('\n')[0].trim());
  return m;
}

/** Organisation registered for the MAC's first 24 bits, or null (also for locally administered and group addresses). */
export function vendorOf(mac: Uint8Array): string | null {
  if (mac.length < 3 || mac[0] & 0x03) return null; // multicast/broadcast or locally administered
  table ??= load();
  const key = ((mac[0] << 16) | (mac[1] << 8) | mac[2]).toString(16).toUpperCase().padStart(6, '0');
  return table.get(key) ?? null;
}
