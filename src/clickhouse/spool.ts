/**
 * The local spool: blocks the server has not taken yet, one file each
 * (`<12-digit sequence>.block`: a JSON line of the block's metadata, then its
 * rows), written to a temporary name, fsynced and renamed, so a file is there
 * whole or not at all. Names sort in the order blocks were made; a process
 * that starts finds the blocks an earlier one (killed, or stopped while the
 * server was down) left, and sends them first.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FlowmasterError } from '../errors';
import type { Block } from './rows';

export interface SpooledBlock {
  file: string;
  /** size on disk */
  size: number;
  meta: Omit<Block, 'body'>;
}

interface MetaLine {
  id: string;
  rows: number;
  /** the rows' columns (schema.ts flowColumnsOf()); absent: 1, a block of before the application columns */
  format?: number;
  minNs: string;
  maxNs: string;
  bytes: number;
  packets: number;
}

export class Spool {
  readonly dir: string;
  #next = 0;

  constructor(dir: string) {
    this.dir = dir;
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new FlowmasterError('ERR_CLICKHOUSE', `spool directory ${dir}: ${(e as Error).message}`, { path: dir, cause: e });
    }
  }

  /** The blocks on disk, oldest first (leftover temporary files of a crash are removed). */
  list(): SpooledBlock[] {
    const out: SpooledBlock[] = [];
    for (const name of fs.readdirSync(this.dir).sort()) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        fs.rmSync(file, { force: true });
        continue;
      }
      const m = /^(\d{12})\.block$/.exec(name);
      if (!m) continue;
      this.#next = Math.max(this.#next, Number(m[1]) + 1);
      const meta = this.#readMeta(file);
      if (meta) out.push({ file, size: fs.statSync(file).size, meta });
    }
    return out;
  }

  /** Writes a block; returns its entry. */
  write(b: Block): SpooledBlock {
    const meta: MetaLine = { id: b.id, rows: b.rows, format: b.format, minNs: String(b.minNs), maxNs: String(b.maxNs), bytes: b.bytes, packets: b.packets };
    const file = path.join(this.dir, `${String(this.#next++).padStart(12, '0')}.block`);
    const tmp = `${file}.tmp`;
    const data = Buffer.concat([Buffer.from(`${JSON.stringify(meta)}\n`), b.body]);
    try {
      const fd = fs.openSync(tmp, 'w');
      try {
        fs.writeSync(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      throw new FlowmasterError('ERR_CLICKHOUSE', `spool ${file}: ${(e as Error).message}`, { path: file, cause: e });
    }
    return { file, size: data.length, meta: { id: b.id, rows: b.rows, format: b.format, minNs: b.minNs, maxNs: b.maxNs, bytes: b.bytes, packets: b.packets } };
  }

  /** A spooled block's rows. */
  body(s: SpooledBlock): Buffer {
    const data = fs.readFileSync(s.file);
    return data.subarray(data.indexOf(10) + 1);
  }

  remove(s: SpooledBlock): void {
    fs.rmSync(s.file, { force: true });
  }

  #readMeta(file: string): SpooledBlock['meta'] | undefined {
    const fd = fs.openSync(file, 'r');
    try {
      const head = Buffer.alloc(1024);
      const n = fs.readSync(fd, head, 0, head.length, 0);
      const line = head.subarray(0, n).toString('utf8').split('\n')[0];
      const m = JSON.parse(line) as MetaLine;
      return { id: m.id, rows: m.rows, format: m.format ?? 1, minNs: BigInt(m.minNs), maxNs: BigInt(m.maxNs), bytes: m.bytes, packets: m.packets };
    } catch {
      return undefined; // not one of ours: left alone
    } finally {
      fs.closeSync(fd);
    }
  }
}
