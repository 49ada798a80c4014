/** Checks of a store's database: devices against their flows. */
import type Database from 'better-sqlite3';

/**
 * Devices whose counters are not the sums over the flows that reference them
 * (`atLeast`: below them, for a database whose retention deleted flows but
 * kept their devices); also devices counting flows when none references them.
 * At most 10.
 */
export function wrongDevices(db: Database.Database, atLeast = false): unknown[] {
  const op = atLeast ? '<' : '!=';
  return db
    .prepare(`SELECT d.id, d.flows, x.n, d.packets, x.p, d.bytes, x.b FROM devices d JOIN (
        SELECT dev, count(*) n, sum(p) p, sum(b) b FROM (
          SELECT src_device dev, packets p, bytes b FROM flows UNION ALL SELECT dst_device, packets, bytes FROM flows) GROUP BY dev
      ) x ON x.dev = d.id
      WHERE d.flows ${op} x.n OR d.packets ${op} x.p OR d.bytes ${op} x.b
      UNION ALL SELECT id, flows, 0, packets, 0, bytes, 0 FROM devices d
      WHERE ${atLeast ? '0' : 'd.flows != 0'} AND NOT EXISTS (SELECT 1 FROM flows WHERE src_device = d.id OR dst_device = d.id)
      LIMIT 10`)
    .all();
}
