import { FlowMeter, type FlowMeterOptions, type FlowObject, type Summary } from '../../src/index';
import type { FlowmasterError } from '../../src/errors';

export interface ReadResult {
  flows: FlowObject[];
  raw: Buffer[];
  summary: Summary;
  error?: FlowmasterError;
}

/**
 * The engine the behaviour tests run on: native unless FLOWMASTER_TEST_ENGINE
 * says 'ts' (test/equivalence.test.ts proves both give the same records).
 */
export const TEST_ENGINE = (process.env.FLOWMASTER_TEST_ENGINE ?? 'native') as 'native' | 'ts';

/** Reads a whole capture, collecting records, the summary and a final error. */
export async function readAll(file: string, options: FlowMeterOptions = {}): Promise<ReadResult> {
  const run = new FlowMeter({ engine: TEST_ENGINE, ...options }).readFile(file);
  const flows: FlowObject[] = [];
  const raw: Buffer[] = [];
  let error: FlowmasterError | undefined;
  try {
    for await (const batch of run) {
      for (const f of batch) {
        flows.push(f.toObject({ statistics: options.statistics }));
        raw.push(Buffer.from(f.raw));
      }
    }
  } catch (e) {
    error = e as FlowmasterError;
  }
  return { flows, raw, summary: await run.summary, error };
}
