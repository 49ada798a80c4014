/**
 * Device inventory behind an LRU cache (lru-cache): resolves a flow's two
 * ends to device ids without a database read on a hit. A new device is
 * inserted when first resolved, inside the batch's transaction, so committed
 * flows never point at missing devices; what an ARP flow binds is written by
 * flush() in the same transaction. What the stored flows record (packets,
 * bytes, flow counts, first/last seen, the MAC and its vendor, services)
 * stays in memory until sync(), which the store runs every `deviceSyncMs` and at the
 * end of an ingest; the flows committed since the last sync are their journal
 * (the store replays them after a crash, see Writer#replayDevices). A device
 * with unsynced changes stays held while the LRU evicts it.
 * `max: 0` disables caching: a device is read again once it has been synced.
 *
 * The cache follows the transaction it is used in: begin() before it,
 * commit() after it, rollback() when it failed. A rollback forgets every
 * device held (what the failed transaction did to them, and the counters not
 * synced yet): the flows committed since the last sync are their journal,
 * which the writer replays before its next transaction (Writer#replay), as
 * after a crash. Another process may delete devices (retention):
 * reconcile() forgets the ones it deleted.
 *
 * Host names: a DNS answer (A or AAAA) names its address (learnName()),
 * written in the batch's transaction into host_names, keyed by address alone
 * (the answer may come before or after the address is seen as a device, on
 * any VLAN); the latest answer by packet time wins, whatever order flows are
 * ingested in.
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
  /** counters or times changed since the last sync */
  dirty: boolean;
}

/**
 * A broadcast or multicast MAC (the group bit of its first octet:
 * ff:ff:ff:ff:ff:ff, 01:00:5e:…, 33:33:…, 01:80:c2:…): a layer-2 flow's end
 * that is no device, and never a device's MAC. Addresses of other lengths
 * (IP) are not MACs.
 */
export function isGroupMac(addr: Uint8Array): boolean {
  return addr.length === 6 && (addr[0] & 1) === 1;
}

/** What a flow end that is no device (isGroupMac) resolves to: id 0, never stored, never counted. */
export const NO_DEVICE: Device = Object.freeze({
  id: 0, addr: Buffer.alloc(0), vlan: 0, mac: null, macSeenMs: null, vendor: null, firstSeenMs: 0, lastSeenMs: 0, packets: 0, bytes: 0, flows: 0,
  services: new Set<string>(), dirty: false,
}) as Device;

/** Accounts one flow end to its device; `mac` is the MAC that end had in the flow, if any. */
export function touchDevice(d: Device, firstMs: number, lastMs: number, packets: number, bytes: number, mac: Uint8Array | null): void {
  if (firstMs < d.firstSeenMs) d.firstSeenMs = firstMs;
  if (lastMs > d.lastSeenMs) d.lastSeenMs = lastMs;
  d.packets += packets;
  d.bytes += bytes;
  d.flows++;
  if (mac) DeviceCache.bindMac(d, mac, lastMs);
  d.dirty = true;
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
  /** devices inserted (new addresses) */
  created: number;
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
  readonly counters: CacheCounters = { hits: 0, misses: 0, evictions: 0, created: 0 };
  readonly #lru: LRUCache<number | string, Device> | undefined;
  readonly #arp = new Set<Device>(); // hosts an ARP flow bound since the last flush: no flow row of theirs records it
  readonly #unsynced = new Map<number | string, Device>(); // devices resolved since the last sync
  readonly #holdMax: number;
  /** inside begin()/commit() */
  #open = false;
  /** devices the open transaction created: counted once it commits */
  #createdHere = 0;
  /** sync() ran in the open transaction: its commit makes every device synced */
  #synced = false;
  readonly #insert: Statement;
  readonly #select: Statement;
  readonly #exists: Statement;
  readonly #byId: Statement;
  readonly #update: Statement;
  readonly #writeArp: Statement;
  readonly #services: Statement;
  readonly #addService: Statement;
  readonly #learnName: Statement;
  /** the latest name written per address (hex), so that the same answer again costs no write */
  readonly #names = new Map<string, { name: string; seenMs: number }>();

  constructor(db: Database, options: DeviceCacheOptions = {}) {
    const max = options.max ?? 65536;
    this.#holdMax = max || 65536;
    // a miss creates the device (a row comes back only when it is new), else reads the stored one
    const columns = 'id, mac, mac_seen_ms, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows';
    // ids are never given again (retention raises device_id_floor): roll-up rows name devices by id
    this.#insert = db.prepare(`INSERT INTO devices (id, addr, vlan, first_seen_ms, last_seen_ms)
      VALUES (max((SELECT coalesce(max(id), 0) + 1 FROM devices), coalesce((SELECT value FROM meta WHERE key = 'device_id_floor'), 0)), ?, ?, ?, ?)
      ON CONFLICT DO NOTHING RETURNING ${columns}`);
    this.#select = db.prepare(`SELECT ${columns} FROM devices WHERE addr = ? AND vlan = ?`);
    this.#exists = db.prepare('SELECT 1 FROM devices WHERE id = ? AND addr = ? AND vlan = ?').pluck();
    this.#byId = db.prepare('SELECT id, addr, vlan, mac, mac_seen_ms, vendor, first_seen_ms, last_seen_ms, packets, bytes, flows FROM devices WHERE id = ?');
    this.#services = db.prepare('SELECT service FROM device_services WHERE device_id = ?').pluck();
    this.#addService = db.prepare('INSERT OR IGNORE INTO device_services (device_id, service) VALUES (?, ?)');
    // a later answer replaces the name, an earlier one does not (ties: the larger name), in any ingest order
    this.#learnName = db.prepare(`INSERT INTO host_names (addr, name, seen_ms) VALUES (?, ?, ?) ON CONFLICT (addr) DO UPDATE SET name = excluded.name,
      seen_ms = excluded.seen_ms WHERE excluded.seen_ms > host_names.seen_ms OR (excluded.seen_ms = host_names.seen_ms AND excluded.name > host_names.name)`);
    this.#update = db.prepare(
      'UPDATE devices SET mac = ?, vendor = ?, mac_seen_ms = ?, first_seen_ms = ?, last_seen_ms = ?, packets = ?, bytes = ?, flows = ? WHERE id = ?',
    );
    // the columns a replay of the flows could not restore (all move one way: a second write is harmless)
    this.#writeArp = db.prepare('UPDATE devices SET mac = ?, vendor = ?, mac_seen_ms = ?, first_seen_ms = ?, last_seen_ms = ? WHERE id = ?');
    if (max > 0) {
      this.#lru = new LRUCache<number | string, Device>({
        max,
        ...(options.ttlMs ? { ttl: options.ttlMs, updateAgeOnGet: true } : {}),
        dispose: (_device, _key, reason) => {
          if (reason === 'evict' || reason === 'expire') this.counters.evictions++;
        },
      });
    }
  }

  /** The device for (addr, vlan), created in the database if new. Call inside the batch transaction. */
  resolve(addr: Uint8Array, vlan: number, seenMs: number): Device {
    const key = keyOf(addr, vlan);
    let d = this.#unsynced.get(key);
    if (d !== undefined) {
      this.counters.hits++;
      return d;
    }
    d = this.#lru?.get(key);
    let created = false;
    if (d) {
      this.counters.hits++;
    } else {
      this.counters.misses++;
      const buf = Buffer.from(addr);
      let row = this.#insert.get(buf, vlan, seenMs, seenMs) as Row | undefined;
      created = row !== undefined;
      row ??= this.#select.get(buf, vlan) as Row;
      d = this.#device(row, buf, vlan, created);
      this.#lru?.set(key, d);
      if (created) this.#createdHere++;
    }
    this.#unsynced.set(key, d);
    return d;
  }

  /**
   * A DNS answer gave `addr` (4 or 16 bytes) the name `name` at packet time
   * `seenMs`: stored unless a later answer (ties: a larger name) named it.
   * Call inside the batch transaction.
   */
  learnName(addr: Buffer, name: string, seenMs: number): void {
    const key = addr.toString('hex');
    const known = this.#names.get(key);
    if (known && (known.seenMs > seenMs || (known.seenMs === seenMs && known.name >= name))) return;
    this.#learnName.run(addr, name, seenMs);
    if (this.#names.size >= 65536) this.#names.clear(); // bounded: a miss costs one upsert
    this.#names.set(key, { name, seenMs });
  }

  /** The device with this id (replaying flows after a crash), or undefined if it is not stored. */
  resolveId(id: number): Device | undefined {
    const row = this.#byId.get(id) as (Row & { addr: Buffer; vlan: number }) | undefined;
    if (!row) return undefined;
    const key = keyOf(row.addr, row.vlan);
    let d = this.#unsynced.get(key) ?? this.#lru?.get(key);
    if (!d) {
      d = this.#device(row, row.addr, row.vlan);
      this.#lru?.set(key, d);
    }
    this.#unsynced.set(key, d);
    return d;
  }

  /** Before a transaction that uses the cache. */
  begin(): void {
    this.#open = true;
    this.#synced = false;
    this.#createdHere = 0;
  }

  /** After that transaction committed. */
  commit(): void {
    this.#open = false;
    this.counters.created += this.#createdHere;
    this.#createdHere = 0;
    if (!this.#synced) return;
    this.#synced = false;
    for (const d of this.#unsynced.values()) {
      d.dirty = false;
      d.newServices = undefined;
    }
    this.#unsynced.clear();
  }

  /**
   * After that transaction rolled back: forgets every device (the flows
   * committed since the last sync are replayed into them from the database).
   */
  rollback(): void {
    this.#open = false;
    this.#synced = false;
    this.#createdHere = 0;
    this.invalidate();
  }

  /**
   * Another connection changed the database (call inside the write
   * transaction that noticed it): forgets the held devices it deleted, whose
   * flows went with them, and empties the LRU, whose devices it may have
   * deleted too. Returns the devices forgotten.
   */
  reconcile(): number {
    let gone = 0;
    for (const [key, d] of this.#unsynced) {
      if (this.#exists.get(d.id, d.addr, d.vlan)) continue;
      this.#unsynced.delete(key);
      gone++;
    }
    this.#lru?.clear();
    this.#names.clear(); // its retention may have deleted names too
    return gone;
  }

  /** A device from its row; a new one (`created`) has no services to read yet. */
  #device(row: Row, addr: Buffer, vlan: number, created = false): Device {
    return {
      id: row.id, addr, vlan, mac: row.mac, macSeenMs: row.mac_seen_ms, vendor: row.vendor, firstSeenMs: row.first_seen_ms, lastSeenMs: row.last_seen_ms,
      packets: row.packets, bytes: row.bytes, flows: row.flows, services: new Set(created ? [] : (this.#services.all(row.id) as string[])), dirty: false,
    };
  }

  /**
   * Binds the MAC seen at packet time `seenMs`, unless one from a later flow
   * is bound already (ties: the larger MAC), so the result does not depend on
   * the order flows are ingested in. Sets the vendor when the MAC changes.
   */
  static bindMac(d: Device, mac: Uint8Array, seenMs: number): void {
    if (mac[0] & 1) return; // a broadcast or multicast destination is not the device's MAC
    if (d.mac && d.macSeenMs !== null && (seenMs < d.macSeenMs || (seenMs === d.macSeenMs && Buffer.compare(mac, d.mac) <= 0))) return;
    if (d.macSeenMs !== seenMs) {
      d.macSeenMs = seenMs;
      d.dirty = true;
    }
    if (d.mac && d.mac.equals(mac)) return;
    d.mac = Buffer.from(mac);
    d.vendor = vendorOf(mac);
    d.dirty = true;
  }

  /** An ARP flow saw `host` (a resolved IPv4 device) at `mac`: its times and MAC binding. */
  bindArp(host: Device, mac: Uint8Array, firstMs: number, lastMs: number): void {
    if (firstMs < host.firstSeenMs) host.firstSeenMs = firstMs;
    if (lastMs > host.lastSeenMs) host.lastSeenMs = lastMs;
    DeviceCache.bindMac(host, mac, lastMs);
    host.dirty = true;
    this.#arp.add(host);
  }

  /** Writes what the batch changed that its flows do not record (ARP bindings and times). Call inside the batch transaction. */
  flush(): number {
    for (const d of this.#arp) this.#writeArp.run(d.mac, d.vendor, d.macSeenMs, d.firstSeenMs, d.lastSeenMs, d.id);
    const written = this.#arp.size;
    this.#arp.clear();
    return written;
  }

  /**
   * Writes every device changed since the last sync, whole. Call inside a
   * transaction, after flush(); they count as synced once it commits.
   */
  sync(): number {
    let written = 0;
    for (const d of this.#unsynced.values()) {
      if (d.dirty) {
        this.#update.run(d.mac, d.vendor, d.macSeenMs, d.firstSeenMs, d.lastSeenMs, d.packets, d.bytes, d.flows, d.id);
        written++;
      }
      for (const s of d.newServices ?? []) this.#addService.run(d.id, s);
    }
    this.#synced = true;
    if (!this.#open) this.commit(); // outside begin()/commit(): synced now
    return written;
  }

  /** Devices with changes not synced yet. */
  get unsynced(): number {
    return this.#unsynced.size;
  }

  /** How many devices with changes to hold at most before a sync (the cache size; 65536 without a cache): bounds the memory they take. */
  get holdMax(): number {
    return this.#holdMax;
  }

  /** Forgets every device, unsynced counters too (sync first, or let the flows since the last sync be replayed). */
  invalidate(): void {
    this.#arp.clear();
    this.#names.clear(); // a rolled-back transaction's names are not stored
    this.#unsynced.clear();
    this.#lru?.clear();
  }

  get size(): number {
    return this.#lru?.size ?? 0;
  }
}

/** The service a flow's server answered on, as device_services has it ("tcp/502 modbus", "eth/0x88b8 goose"), or undefined. */
export function deviceService(l2: boolean, protocol: number, etherType: number, serverPort: number, name: string | null): string | undefined {
  if (l2) return name ? `eth/0x${etherType.toString(16).padStart(4, '0')} ${name}` : undefined;
  return serverPort ? `${protoName(protocol)}/${serverPort}${name ? ` ${name}` : ''}` : undefined;
}

function protoName(p: number): string {
  return p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 132 ? 'sctp' : String(p);
}
