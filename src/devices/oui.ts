/**
 * Vendor of a MAC address from its OUI (IEEE registry, npm `oui-data`, 5 MB
 * of JSON parsed on first use). The vendors looked up are kept by their
 * 24-bit OUI: a lookup builds no string once its OUI has been seen.
 */
let registry: Record<string, string> | undefined;
const vendors = new Map<number, string | null>();

/** Organisation registered for the MAC's first 24 bits, or null (also for locally administered and group addresses). */
export function vendorOf(mac: Uint8Array): string | null {
  if (mac.length < 3 || mac[0] & 0x03) return null; // multicast/broadcast or locally administered
  const oui = (mac[0] << 16) | (mac[1] << 8) | mac[2];
  let vendor = vendors.get(oui);
  if (vendor === undefined) {
    registry ??= require('oui-data') as Record<string, string>;
    const entry = registry[oui.toString(16).toUpperCase().padStart(6, '0')];
    vendor = entry === undefined ? null : entry.split('\n')[0].trim();
    if (vendors.size >= 65536) vendors.clear(); // random MACs: bounded
    vendors.set(oui, vendor);
  }
  return vendor;
}

/** The OUIs (24-bit) registered to exactly this vendor name, as vendorOf() gives it. */
export function ouisOf(vendor: string): number[] {
  registry ??= require('oui-data') as Record<string, string>;
  const out: number[] = [];
  for (const [hex, entry] of Object.entries(registry)) if (entry.split('\n')[0].trim() === vendor) out.push(parseInt(hex, 16));
  return out;
}
