/**
 * Device inventory behind an LRU cache (lru-cache): resolves a flow's two
 * ends to device ids without a database read on a hit. Devices changed by a
 * batch stay dirty in memory and are written by flush(), which the store
 * calls inside the batch's transaction, so committed flows never point at
 * missing or stale devices. A dirty device evicted from the cache is written
 * at eviction (also inside the transaction: eviction happens while resolving).
 * A device's services are rows of device_services, inserted once each.
 * `max: 0` disables caching (every batch starts from the database).
 */
import type { Database, Statement } from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { vendorOf } from './oui';

export interface Device {
  id: number;
  addr: Buffer;
  vlan: number;
  mac: Buffer | null;
  /** packet time of the flow the MAC came from: a later flow's MAC replaces it, an earlier one does not */
  macSeenMs: number | null;
  vendor: string | null;
  firstSeenMs: number;
  lastSeenMs: number;
  packets: number;
  bytes: number;
  flows: number;
  services: Set<string>;
  /** services added since the last write */
  newServices?: string[];
  /** counters or times changed since the last write */
  dirty: boolean;
  /** MAC or vendor changed since the last write (rarer: a second UPDATE) */
  identityDirty?: boolean;
}

/** Adds a service the device answered on. */
export function addService(d: Device, service: string): void {
  if (d.services.has(service)) return;
  d.services.add(service);
  (d.newServices ??= []).push(service);
  d.dirty = true;
}

export interface DeviceCacheOptions {
  /** entries kept (default 65536; 0 disables the cache) */
  max?: number;
  /** ms an entry may stay unused before it is dropped (default: none) */
  ttlMs?: number;
}

export interface CacheCounters {
  hits: number;
  misses: number;
  evictions: number;
}

interface Row {
  id: number;
  mac: Buffer | null;
  mac_seen_ms: number | null;
  vendor: string | null;
  first_seen_ms: number;
  last_seen_ms: number;
  packets: number;
  bytes: number;
  flows: number;
}

/** The cache key of (addr, vlan): a number for IPv4 (most devices: no string built per flow end), else a string. */
function keyOf(addr: Uint8Array, vlan: number): number | string {
  if (addr.length === 4) return vlan * 0x1_0000_0000 + (((addr[0] << 24) | (addr[1] << 16) | (addr[2] << 8) | addr[3]) >>> 0);
  return `${vlan}/${Buffer.from(addr.buffer, addr.byteOffset, addr.length).toString('hex')}`;
}

export class DeviceCache {
  readonly counters: CacheCounters = { hits: 0, misses: 0, evictions: 0 };
  readonly #lru: LRUCache<number | string, Device> | undefined;
  readonly #batch = new Map<number | string, Device>(); // devices touched since the last flush
  readonly #upsert: Statement;
  readonly #update: Statement;
  readonly #updateIdentity: Statement;
  readonly #services: Statement;
  readonly #addService: Statement;

  constructor(db: Database, options: DeviceCacheOptions = {}) {
    const max = options.max ?? 65536;
    // one statement per miss: creates the device, or returns the stored one
    this.#upsert = db.prepare(
      `INSERT INTO devices (addr, vlan, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?)
       ON CONFLICT (addr, vlan) DO UPDATE SET vlan = excluded.vlan
       RETURNING id, mac, mac_seen_ms, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows`,
    );
    this.#services = db.prepare('SELECT service FROM device_services WHERE device_id = ?').pluck();
    this.#addService = db.prepare('INSERT OR IGNORE INTO device_services (device_id, service) VALUES (?, ?)');
    // most writes only move counters and times: the narrow statement binds and rewrites less
    this.#update = db.prepare('UPDATE devices SET mac_seen_ms = ?, first_seen_ms = ?, last_seen_ms = ?, packets = ?, bytes = ?, flows = ? WHERE id = ?');
    this.#updateIdentity = db.prepare('UPDATE devices SET mac = ?, vendor = ? WHERE id = ?');
    if (max > 0) {
      this.#lru = new LRUCache<number | string, Device>({
        max,
        ...(options.ttlMs ? { ttl: options.ttlMs, updateAgeOnGet: true } : {}),
        dispose: (device, _key, reason) => {
          if (reason === 'evict' || reason === 'expire') {
            this.counters.evictions++;
            if (device.dirty) this.#write(device);
          }
        },
      });
    }
  }

  /** The device for (addr, vlan), created in the database if new. Call inside the batch transaction. */
  resolve(addr: Uint8Array, vlan: number, seenMs: number): Device {
    const key = keyOf(addr, vlan);
    let d = this.#batch.get(key) ?? this.#lru?.get(key);
    if (d) {
      this.counters.hits++;
    } else {
      this.counters.misses++;
      const buf = Buffer.from(addr);
      const row = this.#upsert.get(buf, vlan, seenMs, seenMs) as Row;
      d = {
        id: row.id, addr: buf, vlan, mac: row.mac, macSeenMs: row.mac_seen_ms, vendor: row.vendor, firstSeenMs: row.first_seen_ms, lastSeenMs: row.last_seen_ms,
        packets: row.packets, bytes: row.bytes, flows: row.flows,
        services: new Set(this.#services.all(row.id) as string[]), dirty: false,
      };
      this.#lru?.set(key, d);
    }
    this.#batch.set(key, d);
    return d;
  }

  /**
   * Binds the MAC seen at packet time `seenMs`, unless one from a later flow
   * is bound already (ties: the larger MAC), so the result does not depend on
   * the order flows are ingested in. Sets the vendor when the MAC changes.
   */
  static bindMac(d: Device, mac: Uint8Array, seenMs: number): void {
    if (d.mac && d.macSeenMs !== null && (seenMs < d.macSeenMs || (seenMs === d.macSeenMs && Buffer.compare(mac, d.mac) <= 0))) return;
    if (d.macSeenMs !== seenMs) {
      d.macSeenMs = seenMs;
      d.dirty = true;
    }
    if (d.mac && d.mac.equals(mac)) return;
    d.mac = Buffer.from(mac);
    d.vendor = vendorOf(mac);
    d.dirty = true;
    d.identityDirty = true;
  }

  /** Writes every device changed since the last flush. Call inside the batch transaction. */
  flush(): number {
    let written = 0;
    for (const d of this.#batch.values()) {
      if (d.dirty) {
        this.#write(d);
        written++;
      }
    }
    this.#batch.clear();
    return written;
  }

  /** After a rolled-back transaction: cached devices may hold changes that were not stored. */
  invalidate(): void {
    this.#batch.clear();
    this.#lru?.clear();
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }

  #write(d: Device): void {
    if (d.identityDirty) {
      this.#updateIdentity.run(d.mac, d.vendor, d.id);
      d.identityDirty = false;
    }
    if (d.newServices) {
      for (const s of d.newServices) this.#addService.run(d.id, s);
      d.newServices = undefined;
    }
    this.#update.run(d.macSeenMs, d.firstSeenMs, d.lastSeenMs, d.packets, d.bytes, d.flows, d.id);
    d.dirty = false;
  }
}
