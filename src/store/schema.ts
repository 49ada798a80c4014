/**
 * The database schema, as ordered forward migrations: MIGRATIONS[i] takes a
 * database from user_version i to i + 1. Never edit a released migration;
 * append a new one.
 *
 * Addresses are BLOBs: 4 bytes (IPv4), 16 (IPv6) or 6 (MAC, for layer-2
 * flows and devices seen only at layer 2). Times are integers: ns since the
 * epoch for flows (first_ns/last_ns), ms for devices and sources.
 *
 * Since migration 4, \`flows\` is a view over the partition tables (and the
 * empty flow_template): a later migration that changes the flow columns must
 * change flow_template and every table listed in \`partitions\`, then
 * recreate the view (Partitions.rebuildView).
 */
import type { Database } from 'better-sqlite3';
import { APP_COLUMNS, APP_SQLITE_TYPES } from '../export/app-columns';
import { DETAIL_COLUMNS, DETAIL_SQLITE_TYPES } from './details';
import { ALL_INDEX_SCHEMA, APP_ROLLUP_SCHEMA, rebuildRollups, ROLLUP_SCHEMA, sumAllRows } from './rollups';

/** The indexes of the partitions of migration 4 (its flow_template's). */
const PARTITION_INDEXES_V4: readonly [suffix: string, columns: string][] = [
  ['first', 'first_ns'],
  ['last', 'last_ns'],
  ['src_device', 'src_device, first_ns'],
  ['dst_device', 'dst_device, first_ns'],
  ['dst_port', 'dst_port, first_ns'],
  ['src_port', 'src_port, first_ns'],
  ['source', 'source_id'],
  ['bytes', 'bytes, id'],
  ['packets', 'packets, id'],
  ['service', 'service, first_ns'],
];

/**
 * The indexes of every sealed partition (flows_0, the flows of before migration 4,
 * has the first ten under the names migrations 1 and 2 gave them, on
 * expressions for bytes and packets, which it computes in the view). The
 * application's is partial: only the flows with one are in it.
 */
export const PARTITION_INDEXES: readonly [suffix: string, columns: string, where?: string][] = [
  ...PARTITION_INDEXES_V4,
  ['application', 'application, first_ns', 'application IS NOT NULL'],
  ['community_id', 'community_id'],
];

/** CREATE INDEX of a partition's index `suffix` (PARTITION_INDEXES). */
export function partitionIndexSql(table: string, [suffix, columns, where]: readonly [string, string, string?]): string {
  return `CREATE INDEX ${table}_${suffix} ON ${table} (${columns})${where ? ` WHERE ${where}` : ''}`;
}

/**
 * Recreates the `flows` view over flow_template and the partitions `names`
 * (UNION ALL). flows_0 (the flows of before migration 4) stores no bytes and
 * packets, and got the later columns after them: its arm names the template's
 * columns, computing those two.
 */
export function createFlowsView(db: Database, names: readonly string[]): void {
  const columns = (db.pragma('table_info(flow_template)') as { name: string }[]).map((c) =>
    c.name === 'bytes' ? 'fwd_bytes + rev_bytes' : c.name === 'packets' ? 'fwd_packets + rev_packets' : c.name,
  );
  const arms = ['flow_template', ...names].map((n) => (n === 'flows_0' ? `SELECT ${columns.join(', ')} FROM flows_0` : `SELECT * FROM ${n}`));
  db.exec(`DROP VIEW flows; CREATE VIEW flows AS ${arms.join(' UNION ALL ')}`);
}

/** A migration: SQL, or a function for one that must compute (it runs in the migration's transaction). */
export type Migration = string | ((db: Database) => void);

export const MIGRATIONS: readonly Migration[] = [
  // 1: sources, devices, flows
  `
  CREATE TABLE sources (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,            -- file path or interface name
    kind          TEXT NOT NULL CHECK (kind IN ('file', 'interface')),
    sensor        TEXT NOT NULL,            -- host name of the machine that ingested it
    engine        TEXT NOT NULL,
    started_ms    INTEGER NOT NULL,
    ended_ms      INTEGER,                  -- NULL while ingesting (or after a crash)
    packets       INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    flows         INTEGER NOT NULL DEFAULT 0,
    drops         INTEGER NOT NULL DEFAULT 0,
    decode_errors INTEGER NOT NULL DEFAULT 0,
    error         TEXT                      -- code and message when reading ended early
  );

  CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    addr          BLOB NOT NULL,            -- IPv4 (4), IPv6 (16) or MAC (6) bytes
    vlan          INTEGER NOT NULL DEFAULT 0,
    mac           BLOB,                     -- last MAC seen with this address
    vendor        TEXT,                     -- from the MAC's OUI
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    packets       INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    flows         INTEGER NOT NULL DEFAULT 0,
    services      TEXT NOT NULL DEFAULT '[]', -- JSON array of "proto/port service" it answered on
    UNIQUE (addr, vlan)
  );
  -- devices_last_seen: left to the retention migration (every batch rewrites last_seen_ms)

  CREATE TABLE flows (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES sources (id),
    flow_id       INTEGER NOT NULL,         -- equal for the segments of one flow within a source
    segment       INTEGER NOT NULL,
    first_ns      INTEGER NOT NULL,
    last_ns       INTEGER NOT NULL,
    end_reason    INTEGER NOT NULL,         -- 1 idle, 2 active, 3 tcp-end, 4 flush, 5 evicted
    ip_version    INTEGER NOT NULL,         -- 4, 6, 0 for layer 2
    protocol      INTEGER NOT NULL,
    ether_type    INTEGER NOT NULL,
    vlan          INTEGER NOT NULL,
    src_addr      BLOB NOT NULL,
    dst_addr      BLOB NOT NULL,
    src_port      INTEGER NOT NULL,
    dst_port      INTEGER NOT NULL,
    src_device    INTEGER NOT NULL REFERENCES devices (id),
    dst_device    INTEGER NOT NULL REFERENCES devices (id),
    src_mac       BLOB,
    dst_mac       BLOB,
    fwd_packets   INTEGER NOT NULL,
    fwd_bytes     INTEGER NOT NULL,
    rev_packets   INTEGER NOT NULL,
    rev_bytes     INTEGER NOT NULL,
    fwd_tcp_flags INTEGER NOT NULL,
    rev_tcp_flags INTEGER NOT NULL,
    icmp_type     INTEGER,
    icmp_code     INTEGER,
    flags         INTEGER NOT NULL,         -- RecordFlags: l2, drops, fragments, tunnel, truncated
    service       TEXT,
    server_is_dst INTEGER NOT NULL
  );
  CREATE INDEX flows_first ON flows (first_ns);
  CREATE INDEX flows_last ON flows (last_ns);
  CREATE INDEX flows_src_device ON flows (src_device, first_ns);
  CREATE INDEX flows_dst_device ON flows (dst_device, first_ns);
  CREATE INDEX flows_dst_port ON flows (dst_port, first_ns);
  CREATE INDEX flows_src_port ON flows (src_port, first_ns);
  CREATE INDEX flows_source ON flows (source_id);
  `,
  // 2: paging and retention: cursor secret, sort indexes, device age
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
  CREATE INDEX flows_bytes ON flows ((fwd_bytes + rev_bytes), id);
  CREATE INDEX flows_packets ON flows ((fwd_packets + rev_packets), id);
  CREATE INDEX devices_last_seen ON devices (last_seen_ms, id);
  CREATE INDEX flows_service ON flows (service, first_ns);
  `,
  // 3: a device's MAC is the one of its latest flow (by packet time), whatever order files are ingested in
  `
  ALTER TABLE devices ADD COLUMN mac_seen_ms INTEGER; -- packet time of the flow that gave \`mac\`
  `,
  // 4: flows in time partitions (by end time) behind the \`flows\` view, so retention drops
  // whole tables instead of deleting rows through ten indexes (src/store/partitions.ts).
  // The rows of before become partition flows_0; flow_template is the schema of every new
  // partition (always empty, always in the view); ids come from meta next_flow_id so that
  // they stay unique across partitions and are never reused after a drop.
  `
  CREATE TABLE flow_template (
    id            INTEGER PRIMARY KEY,
    source_id     INTEGER NOT NULL REFERENCES sources (id),
    flow_id       INTEGER NOT NULL,
    segment       INTEGER NOT NULL,
    first_ns      INTEGER NOT NULL,
    last_ns       INTEGER NOT NULL,
    end_reason    INTEGER NOT NULL,
    ip_version    INTEGER NOT NULL,
    protocol      INTEGER NOT NULL,
    ether_type    INTEGER NOT NULL,
    vlan          INTEGER NOT NULL,
    src_addr      BLOB NOT NULL,
    dst_addr      BLOB NOT NULL,
    src_port      INTEGER NOT NULL,
    dst_port      INTEGER NOT NULL,
    src_device    INTEGER NOT NULL REFERENCES devices (id),
    dst_device    INTEGER NOT NULL REFERENCES devices (id),
    src_mac       BLOB,
    dst_mac       BLOB,
    fwd_packets   INTEGER NOT NULL,
    fwd_bytes     INTEGER NOT NULL,
    rev_packets   INTEGER NOT NULL,
    rev_bytes     INTEGER NOT NULL,
    fwd_tcp_flags INTEGER NOT NULL,
    rev_tcp_flags INTEGER NOT NULL,
    icmp_type     INTEGER,
    icmp_code     INTEGER,
    flags         INTEGER NOT NULL,
    service       TEXT,
    server_is_dst INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,         -- fwd_bytes + rev_bytes, stored so that (bytes, id) cursors seek
    packets       INTEGER NOT NULL          -- fwd_packets + rev_packets
  );
  ${PARTITION_INDEXES_V4.map(([suffix, columns]) => `CREATE INDEX flow_template_${suffix} ON flow_template (${columns});`).join('\n  ')}
  -- a partition holds the flows whose last_ns lies in [lo_ns, hi_ns]
  CREATE TABLE partitions (name TEXT PRIMARY KEY, lo_ns INTEGER NOT NULL, hi_ns INTEGER NOT NULL);
  ALTER TABLE flows RENAME TO flows_0;
  INSERT INTO partitions SELECT 'flows_0', coalesce(min(last_ns), 0), coalesce(max(last_ns), -1) FROM flows_0;
  INSERT INTO meta VALUES ('next_flow_id', (SELECT coalesce(max(id), 0) + 1 FROM flows_0));
  INSERT INTO meta VALUES ('partition_span_ns', 86400000000000);
  CREATE VIEW flows AS
    SELECT * FROM flow_template
    UNION ALL SELECT *, fwd_bytes + rev_bytes, fwd_packets + rev_packets FROM flows_0;
  `,
  // 5: a device's services in their own table (a JSON list in the row made every rewrite
  // of its counters, and every page written at commit, about three times larger); device
  // counters synced from memory, with the flows since the last sync as their journal
  `
  CREATE TABLE device_services (
    device_id     INTEGER NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    service       TEXT NOT NULL,            -- "proto/port name" it answered on, "eth/0x88b8 goose" at layer 2
    PRIMARY KEY (device_id, service)
  ) WITHOUT ROWID;
  CREATE INDEX device_services_service ON device_services (service);
  INSERT INTO device_services SELECT d.id, s.value FROM devices d, json_each(d.services) s;
  ALTER TABLE devices DROP COLUMN services;
  -- device counters are synced from memory every few seconds: the flows from this id on are
  -- not in them yet (a crash leaves them to be replayed)
  INSERT INTO meta VALUES ('devices_synced_id', (SELECT value FROM meta WHERE key = 'next_flow_id'));
  `,
  // 6: several processes: one writer at a time holds the lease (src/store/lease.ts); a source
  // records its input's content fingerprint and how its ingest ended, so a re-ingest can find it
  `
  CREATE TABLE writer_lease (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    token         TEXT NOT NULL,            -- random, per holder
    pid           INTEGER NOT NULL,
    host          TEXT NOT NULL,
    command       TEXT NOT NULL,            -- what the holder runs ("flowmaster ingest a.pcap")
    started_ms    INTEGER NOT NULL,
    heartbeat_ms  INTEGER NOT NULL          -- the holder writes it every few seconds
  );
  ALTER TABLE sources ADD COLUMN fingerprint TEXT; -- src/store/sources.ts fingerprintFile()
  ALTER TABLE sources ADD COLUMN status TEXT NOT NULL DEFAULT 'complete' -- an ingest sets 'running' until it ends
    CHECK (status IN ('running', 'complete', 'interrupted', 'failed'));
  UPDATE sources SET status = CASE WHEN ended_ms IS NULL THEN 'interrupted' WHEN error IS NULL THEN 'complete' ELSE 'failed' END;
  CREATE INDEX sources_fingerprint ON sources (fingerprint) WHERE fingerprint IS NOT NULL;
  `,
  // 7: partitions in arrival order (src/store/partitions.ts): rows land in the one 'hot' partition,
  // which has no secondary index, and a partition gets its indexes, in bulk, when it is sealed. The
  // partitions of before are sealed; new ones are named flows_p<first id>.
  `
  ALTER TABLE partitions ADD COLUMN state TEXT NOT NULL DEFAULT 'sealed' CHECK (state IN ('hot', 'sealing', 'sealed'));
  ALTER TABLE partitions ADD COLUMN rows INTEGER NOT NULL DEFAULT 0;   -- flows written to it
  ALTER TABLE partitions ADD COLUMN created_ms INTEGER;                 -- a partition is hot for at most partition_span_ns
  INSERT INTO meta VALUES ('seal_rows', 262144);
  `,
  // 8: roll-ups per minute and hour (src/store/rollups.ts); the flows already stored are summed
  // into them once. Writers book the flows from meta rollups_synced_id on every few seconds: those
  // flows are the roll-ups' journal (Writer.bookRollups)
  (db) => {
    db.exec(ROLLUP_SCHEMA);
    rebuildRollups(db);
    db.exec("INSERT INTO meta VALUES ('rollups_synced_id', (SELECT value FROM meta WHERE key = 'next_flow_id'))");
  },
  // 9: what the payload said (docs/applications.md): the application columns on flow_template and every
  // partition (NULL: not seen; ADD COLUMN rewrites no row), a partial index of the flows with an
  // application on every sealed partition (the others get it when sealed), roll-ups by application
  // and by TLS server name, and the host names DNS answers gave addresses (latest answer wins)
  (db) => {
    const partitions = db.prepare('SELECT name, state FROM partitions ORDER BY rowid').all() as { name: string; state: string }[];
    for (const table of ['flow_template', ...partitions.map((p) => p.name)])
      for (const c of APP_COLUMNS) db.exec(`ALTER TABLE ${table} ADD COLUMN ${c} ${APP_SQLITE_TYPES[c]}`);
    const index = PARTITION_INDEXES.find(([suffix]) => suffix === 'application')!;
    for (const table of ['flow_template', ...partitions.filter((p) => p.state === 'sealed').map((p) => p.name)]) db.exec(partitionIndexSql(table, index));
    createFlowsView(db, partitions.map((p) => p.name));
    db.exec(APP_ROLLUP_SCHEMA);
    db.exec(`
      CREATE TABLE host_names (
        addr          BLOB PRIMARY KEY,         -- an A (4 bytes) or AAAA (16) answer
        name          TEXT NOT NULL,            -- the question it answered
        seen_ms       INTEGER NOT NULL          -- time of the flow that gave it: a later answer replaces it, an earlier one does not
      ) WITHOUT ROWID;
      CREATE INDEX host_names_seen ON host_names (seen_ms);
    `);
  },
  // 10: the details of field list v2 (docs/fields.md): Community ID (indexed on every sealed partition:
  // a Zeek or Suricata community_id is looked up), Zeek's conn_state and history, IP and payload bytes,
  // inner VLAN, tunnel type and id, TTLs, per-direction times, statistics and SPLT as JSON. Added to
  // flow_template and every partition (the flows of before have NULL: not recorded), as migration 9 did
  (db) => {
    const partitions = db.prepare('SELECT name, state FROM partitions ORDER BY rowid').all() as { name: string; state: string }[];
    for (const table of ['flow_template', ...partitions.map((p) => p.name)])
      for (const c of DETAIL_COLUMNS) db.exec(`ALTER TABLE ${table} ADD COLUMN ${c} ${DETAIL_SQLITE_TYPES[c]}`);
    const index = PARTITION_INDEXES.find(([suffix]) => suffix === 'community_id')!;
    for (const table of ['flow_template', ...partitions.filter((p) => p.state === 'sealed').map((p) => p.name)]) db.exec(partitionIndexSql(table, index));
    createFlowsView(db, partitions.map((p) => p.name));
  },
  // 11: each roll-up's ALL rows (res 0, t 0: a key's sums over every stored hour, src/store/rollups.ts),
  // so a ranking over the whole store reads a row per key, and by bytes the first rows of a partial
  // index, instead of summing every hour row per request. Summed here from the hour rows once
  (db) => {
    sumAllRows(db);
    db.exec(ALL_INDEX_SCHEMA);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;
