/**
 * Stored flows as a Parquet file, streamed: each page of rows becomes an
 * Arrow record batch (apache-arrow), parquet-wasm's streaming writer (Rust's
 * parquet crate compiled to WebAssembly: no native install step) gathers
 * them into row groups of `rowGroup` rows, and the file's bytes go out as
 * each group is done: memory holds a page and one encoded row group,
 * whatever the store holds. Columns are typed (rows.ts EXPORT_COLUMNS):
 * int64 for ns times, ids and counters, int32 for small integers, float64
 * for ms times, utf8, dictionary-encoded utf8 for the low-cardinality
 * strings (end reason, service, application, ...). Both libraries load on
 * first use (the wasm module is 5 MB).
 */
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import type * as Arrow from 'apache-arrow';
import { FlowmasterError } from '../errors';
import type { FlowRow } from '../store/query';
import { EXPORT_COLUMNS, type ColumnKind } from './rows';

/** Rows per row group by default: 64 Ki, large enough for columnar reads, small enough to hold in memory. */
export const DEFAULT_ROW_GROUP = 65_536;

export interface ParquetResult {
  rows: number;
  rowGroups: number;
  bytes: number;
}

type ArrowModule = typeof Arrow;

function arrowType(a: ArrowModule, kind: ColumnKind): Arrow.DataType {
  switch (kind) {
    case 'int64': return new a.Int64();
    case 'int32': return new a.Int32();
    case 'float64': return new a.Float64();
    case 'bool': return new a.Bool();
    case 'dict': return new a.Dictionary(new a.Utf8(), new a.Int32());
    default: return new a.Utf8();
  }
}

/** A value as the column's builder takes it (null for a missing one). */
function cell(kind: ColumnKind, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'int64': return BigInt(v as number | bigint | string);
    case 'int32': case 'float64': return Number(v);
    case 'bool': return Boolean(v);
    case 'json': return typeof v === 'object' ? JSON.stringify(v) : String(v);
    default: return String(v);
  }
}

/**
 * One page as an Arrow record batch, column by column through Arrow's
 * builders. A batch per page, not per row group: a builder keeps its
 * strings as JavaScript strings until it is finished, so a row group's
 * worth would hold them all on the heap; the Parquet writer gathers the
 * batches into row groups of `rowGroup` rows itself (in WebAssembly memory,
 * encoded).
 */
class BatchBuilder {
  readonly #a: ArrowModule;
  readonly #types: Arrow.DataType[];
  readonly #schema: Arrow.Schema;
  #builders: Arrow.Builder[] = [];
  length = 0;

  constructor(a: ArrowModule) {
    this.#a = a;
    this.#types = EXPORT_COLUMNS.map((c) => arrowType(a, c.kind));
    // every field nullable, so that each batch's schema is the same whatever its values
    this.#schema = new a.Schema(EXPORT_COLUMNS.map((c, i) => new a.Field(c.name, this.#types[i], true)));
    this.#reset();
  }

  #reset(): void {
    this.#builders = this.#types.map((type) => this.#a.makeBuilder({ type, nullValues: [null] }));
    this.length = 0;
  }

  add(rows: readonly FlowRow[]): void {
    EXPORT_COLUMNS.forEach((c, i) => {
      const b = this.#builders[i];
      for (const r of rows) b.append(cell(c.kind, c.get(r)));
    });
    this.length += rows.length;
  }

  /** The rows added as one Arrow IPC stream (its schema and one record batch); the builders start again. */
  finish(): Uint8Array {
    const a = this.#a;
    const children = this.#builders.map((b) => b.finish().flush());
    const data = a.makeData({ type: new a.Struct(this.#schema.fields), length: this.length, nullCount: 0, children });
    this.#reset();
    return a.tableToIPC(new a.Table([new a.RecordBatch(this.#schema, data)]), 'stream');
  }
}

/**
 * Writes the rows of `pages` (FlowRow arrays of any size) to `path` as
 * Parquet, `rowGroup` rows per row group. A file with no rows still has the
 * schema. The file is removed when the export fails.
 */
export async function writeParquet(pages: Iterable<FlowRow[]>, path: string, rowGroup = DEFAULT_ROW_GROUP): Promise<ParquetResult> {
  const a = await import('apache-arrow');
  const pq = await import('parquet-wasm');
  const source = pages[Symbol.iterator]();
  const batch = new BatchBuilder(a);
  let rows = 0;
  let batches = 0;
  let failure: unknown;
  /** The next page as Arrow IPC; null at the end (an empty batch first when there were no rows, for the schema). */
  const nextBatch = (): Uint8Array | null => {
    for (let r = source.next(); !r.done; r = source.next()) {
      if (r.value.length === 0) continue;
      batch.add(r.value);
      rows += r.value.length;
      batches++;
      return batch.finish();
    }
    return batches++ === 0 ? batch.finish() : null;
  };
  const stream = new ReadableStream({
    pull(controller) {
      try {
        const ipc = nextBatch();
        if (!ipc) return controller.close();
        // one IPC stream per page: parquet-wasm reads it into WebAssembly memory as one record batch
        const table = pq.Table.fromIPCStream(ipc);
        for (const b of table.recordBatches()) controller.enqueue(b);
        table.free(); // its WebAssembly memory now, not at some later garbage collection (the batches hold their own references)
      } catch (e) {
        failure = e;
        controller.error(e);
      }
    },
  });
  const props = new pq.WriterPropertiesBuilder()
    .setMaxRowGroupSize(rowGroup)
    .setCompression(pq.Compression.SNAPPY)
    .setCreatedBy('flowmaster')
    .build();
  const file = fs.createWriteStream(path);
  try {
    const bytes = await pq.transformParquetStream(stream, props);
    await bytes.pipeTo(Writable.toWeb(file) as WritableStream<Uint8Array>);
    // parquet-wasm's writer ends the file at a failed input batch, as if the rows had ended there: never a short file
    if (failure !== undefined) throw failure;
  } catch (e) {
    file.destroy();
    await fs.promises.rm(path, { force: true });
    const cause = failure ?? e;
    if (cause instanceof FlowmasterError) throw cause;
    throw new FlowmasterError('ERR_EXPORT', `Parquet export to ${path} failed: ${(cause as Error)?.message ?? cause}`, { cause, path });
  }
  return { rows, rowGroups: Math.ceil(rows / rowGroup), bytes: fs.statSync(path).size };
}
