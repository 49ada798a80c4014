/**
 * Applications (docs/applications.md) against tshark: for every flow of the
 * corpus (../shared/pcaps) and of the generated captures
 * (scripts/gen-app-pcaps.mjs) where tshark shows a field
 * (scripts/app-oracle.mjs), both engines must give the same value. The
 * agreement per field is printed (`sni 57/57`). Also:
 *  - the oracle's JA4 (written from FoxIO's JA4.md) meets the vectors of the
 *    JA4 repository (test/fixtures/ja4-vectors.json), directly and through
 *    tshark's fields;
 *  - tshark reads each generated capture as it was meant (its manifest);
 *  - the engines give exactly what the manifest expects, fields absent there
 *    absent in the record: the malformed captures crash nothing and give no
 *    guessed field;
 *  - `dissect: false` leaves the application area all zero.
 *
 * Flows are read as the conformance test reads them (no timeouts, no TCP
 * termination, VLAN out of the key), so a flow is a tshark conversation. The
 * oracle already reads tshark the way the spec reads packets (a direction's
 * first PDU, no IP fragments, DNS only on its ports, TLS only from a
 * ClientHello or ServerHello, a Modbus exception's function code with its top
 * bit: see scripts/app-oracle.mjs). A string the record had no room for is
 * cut and flagged (docs/applications.md, Record): it agrees when its bytes
 * begin tshark's, and is counted as cut. Where tshark and the spec
 * legitimately differ the flow or field is left out of the comparison with the
 * reason: EXCLUSIONS below for the corpus (none so far), the manifest's
 * `tsharkDiffers` for the generated captures (scripts/gen-app-pcaps.mjs).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlowMeter, Offsets, type Flow } from '../src/index';
import { DEFAULT_OPTIONS } from '../src/options';
import { addonError } from './helpers/addon';
import { corpusFiles, corpusMissing } from './helpers/corpus';
import { skipping, tsharkMissing } from './helpers/skip';
// @ts-expect-error plain ESM helper without type declarations
import { appOracle, flowKey, normalizeAddr, ORACLE_FIELDS } from '../scripts/app-oracle.mjs';
// @ts-expect-error plain ESM helper without type declarations
import { generateAppCaptures, writeHelloCapture } from '../scripts/gen-app-pcaps.mjs';
// @ts-expect-error plain ESM helper without type declarations
import { clientHelloFields, ja4, ja4Alpn } from '../scripts/lib/fingerprint.mjs';
// @ts-expect-error plain ESM helper without type declarations
import { generate } from '../scripts/gen-pcap.mjs';

type Fields = Record<string, string | number | undefined>;
interface OracleFlow { key: string; proto: string; client: [string, number]; server: [string, number]; fields: Fields; notes: string[] }
interface Oracle { flows: OracleFlow[]; error: string | null; malformed: number[] }
interface ManifestFlow {
  proto: string; client: [string, number]; server: [string, number]; about: string; expect: Fields;
  expectWith?: { dissectBytes: number; expect: Fields }; tsharkDiffers?: Record<string, string>;
}
interface ManifestCapture { file: string; about: string; decodeAs: string[]; tsharkOptions?: { args: string[]; why: string }; malformed?: boolean; flows: ManifestFlow[] }

const CONFORMANCE = { idleTimeout: Infinity, activeTimeout: Infinity, tcpTermination: false, keyVlan: false } as const;
/** tshark runs twice per capture (a second or two each) the first time; the results are cached. */
const TSHARK_TIMEOUT = 600_000;
const FIELDS = ORACLE_FIELDS as string[];
const ENGINES = ['native', 'ts'] as const;
type Engine = (typeof ENGINES)[number];

/**
 * Corpus flows or fields where tshark and the spec legitimately differ:
 * capture -> [{ key (a flow, or every flow when absent), fields ('*' = all), why }].
 */
const EXCLUSIONS: Record<string, { key?: string; fields: string[]; why: string }[]> = {};

// ------------------------------------------------------------------ tshark and the oracle

const ORACLE_SOURCES = ['scripts/app-oracle.mjs', 'scripts/lib/fingerprint.mjs'].map((f) => fs.readFileSync(path.join(__dirname, '..', f)));
const CACHE = path.join(os.tmpdir(), 'flowmaster-app-oracle');
const oracles = new Map<string, Promise<Oracle>>();

/** tshark's view of a capture, cached on disk by the capture's bytes, the arguments and the oracle's source. */
function oracleOf(file: string, decodeAs: string[] = [], options: string[] = []): Promise<Oracle> {
  const h = createHash('sha256');
  h.update(fs.readFileSync(file));
  h.update(JSON.stringify([decodeAs, options]));
  for (const s of ORACLE_SOURCES) h.update(s);
  const id = h.digest('hex').slice(0, 32);
  let p = oracles.get(id);
  if (!p) {
    const cached = path.join(CACHE, `${id}.json`);
    p = fs.existsSync(cached)
      ? Promise.resolve(JSON.parse(fs.readFileSync(cached, 'utf8')) as Oracle)
      : (appOracle(file, { decodeAs, options }) as Promise<Oracle>).then((o) => {
        fs.mkdirSync(CACHE, { recursive: true });
        fs.writeFileSync(cached, JSON.stringify(o));
        return o;
      });
    oracles.set(id, p);
  }
  return p;
}

// ------------------------------------------------------------------ the engines

interface EngineFlow { key: string; fields: Fields; area: Buffer; cut: boolean; bytes: Record<string, Buffer> }

const STRING_FIELDS = ['sni', 'alpn', 'ja4', 'ja3', 'certCn', 'dnsQuery', 'httpMethod', 'httpHost', 'userAgent', 'sshClient', 'sshServer'] as const;

/** The spec's fields of a record, in the oracle's terms (absent = undefined). */
function fieldsOf(f: Flow): Fields {
  const v = (x: string | number | null) => (x === null ? undefined : x);
  return {
    application: v(f.application), sni: v(f.sni), alpn: v(f.alpn), ja4: v(f.ja4), ja3: v(f.ja3), certCn: v(f.certCn),
    tlsVersion: v(f.tlsVersion), dnsQuery: v(f.dnsQuery), dnsQtype: v(f.dnsQtype), dnsRcode: v(f.dnsRcode), dnsAnswers: v(f.dnsAnswers),
    dnsAnswer: v(f.dnsAnswer), httpMethod: v(f.httpMethod), httpHost: v(f.httpHost), userAgent: v(f.userAgent), httpStatus: v(f.httpStatus),
    sshClient: v(f.sshClient), sshServer: v(f.sshServer), appCode: v(f.appCode),
  };
}

async function readFlows(file: string, engine: Engine, options: Record<string, unknown> = {}): Promise<{ flows: EngineFlow[]; error?: Error }> {
  const run = new FlowMeter({ engine, ...CONFORMANCE, ...options }).readFile(file);
  const flows: EngineFlow[] = [];
  let error: Error | undefined;
  try {
    for await (const batch of run) {
      for (const f of batch) {
        if (f.protocol !== 6 && f.protocol !== 17) continue;
        if (f.srcPort === 0 && f.dstPort === 0) continue; // truncated or unmatched fragments (see conformance)
        const bytes: Record<string, Buffer> = {};
        for (const name of STRING_FIELDS) {
          const b = f.appStringBytes(name);
          if (b) bytes[name] = Buffer.from(b);
        }
        flows.push({
          key: flowKey(f.protocol === 6 ? 'tcp' : 'udp', f.src, f.srcPort, f.dst, f.dstPort), fields: fieldsOf(f),
          area: Buffer.from(f.raw.subarray(Offsets.kApp, Offsets.kApp + Offsets.kAppSize)), cut: (f.appFlags & 1) !== 0, bytes,
        });
      }
    }
  } catch (e) {
    error = e as Error;
  }
  await run.summary;
  return { flows, error };
}

const same = (field: string, a: unknown, b: unknown): boolean =>
  field === 'dnsAnswer' && typeof a === 'string' && typeof b === 'string' ? normalizeAddr(a) === normalizeAddr(b) : a === b;

/** Why an engine cannot be held to tshark here, or undefined. */
const dissectMissing: string | undefined = 'dissect' in DEFAULT_OPTIONS ? undefined : 'FlowMeterOptions has no `dissect` yet (the engines do not dissect)';
const engineMissing = new Map<Engine, Promise<string | undefined>>();
let generatedDir = '';
let manifest: { captures: ManifestCapture[] } = { captures: [] };

/** Whether `engine` dissects: it must name the generated HTTP flows. */
function engineReady(engine: Engine): Promise<string | undefined> {
  let p = engineMissing.get(engine);
  if (!p) {
    p = (async () => {
      if (dissectMissing) return dissectMissing;
      if (engine === 'native' && addonError) return `the native addon does not load: ${addonError}`;
      try {
        const { flows } = await readFlows(path.join(generatedDir, 'http.pcap'), engine);
        return flows.some((f) => f.fields.application === 'http') ? undefined : `the ${engine} engine names no application yet (generated HTTP flows read as none)`;
      } catch (e) {
        return `the ${engine} engine fails: ${(e as Error).message}`;
      }
    })();
    engineMissing.set(engine, p);
  }
  return p;
}

const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'ja4-vectors.json'), 'utf8')) as {
  clientHellos: { source: string; flow: string; transport: 't' | 'q'; ja4: string; clientHello: string }[];
  alpn: { cases: [string, string][] };
  spec: Record<string, string>;
};

/** gen-pcap --apps traffic: handshakes inside every encapsulation of the full mix. */
const MIXED = 'gen-pcap-apps.pcap';
/** The JA4 vectors' ClientHellos, one flow each (TCP, or a QUIC Initial). */
const VECTOR_CAPTURE = 'ja4-vectors.pcap';
let vectorFlows: ManifestFlow[] = [];

beforeAll(async () => {
  generatedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowmaster-apps-'));
  manifest = generateAppCaptures(generatedDir);
  await generate({ out: path.join(generatedDir, MIXED), packets: 20_000, flows: 400, hosts: 40, mix: 'full', seed: 1, apps: true, quiet: true });
  vectorFlows = writeHelloCapture(VECTORS.clientHellos.map((v) => ({ hello: Buffer.from(v.clientHello, 'hex'), transport: v.transport })), path.join(generatedDir, VECTOR_CAPTURE));
});
afterAll(() => {
  if (generatedDir) fs.rmSync(generatedDir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ JA4 of the oracle

describe('the oracle\'s JA4 (scripts/lib/fingerprint.mjs) meets the JA4 repository\'s vectors', () => {
  for (const v of VECTORS.clientHellos) {
    it(`${v.source} (${v.flow}): ${v.ja4}`, () => {
      expect(ja4(clientHelloFields(Buffer.from(v.clientHello, 'hex')), v.transport).ja4).toBe(v.ja4);
    });
  }
  it('ALPN characters as JA4.md prints them', () => {
    for (const [hex, want] of VECTORS.alpn.cases) expect(ja4Alpn(hex === '' ? null : Buffer.from(hex, 'hex')), hex).toBe(want);
  });
  it('hashes JA4.md\'s example lists', () => {
    const sha12 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);
    expect(sha12(VECTORS.spec.cipherList)).toBe(VECTORS.spec.cipherHash);
    expect(sha12(VECTORS.spec.extensionsAndSignatures)).toBe(VECTORS.spec.extensionHash);
    expect(sha12(VECTORS.spec.extensionsOnly)).toBe(VECTORS.spec.extensionsOnlyHash);
  });
  it.skipIf(skipping(tsharkMissing, 'JA4 through tshark'))('gives the same JA4 from tshark\'s fields of each vector', async () => {
    const oracle = await oracleOf(path.join(generatedDir, VECTOR_CAPTURE));
    const byKey = new Map(oracle.flows.map((f) => [f.key, f]));
    vectorFlows.forEach((f, i) => expect(byKey.get(flowKey(f.proto, ...f.client, ...f.server))?.fields.ja4, VECTORS.clientHellos[i].source).toBe(VECTORS.clientHellos[i].ja4));
  }, TSHARK_TIMEOUT);
});

// ------------------------------------------------------------------ generated captures: tshark sees what was meant

describe.skipIf(skipping(tsharkMissing, 'generated captures in tshark'))('generated captures read in tshark as they were meant', () => {
  it('every capture opens cleanly (nothing malformed but in malformed-*) and every flow shows its intended fields', async () => {
    const problems: string[] = [];
    for (const cap of manifest.captures) {
      const oracle = await oracleOf(path.join(generatedDir, cap.file), cap.decodeAs, cap.tsharkOptions?.args);
      if (oracle.error) problems.push(`${cap.file}: tshark: ${oracle.error}`);
      if (!cap.malformed && oracle.malformed.length) problems.push(`${cap.file}: tshark marks frames ${oracle.malformed.join(', ')} malformed`);
      const byKey = new Map(oracle.flows.map((f) => [f.key, f]));
      for (const fl of cap.flows) {
        const got = byKey.get(flowKey(fl.proto, ...fl.client, ...fl.server))?.fields ?? {};
        const differs = fl.tsharkDiffers ?? {};
        const want = fl.expectWith?.expect ?? fl.expect;
        for (const field of FIELDS) {
          if (differs.application || (differs[field] && !fl.expectWith)) continue;
          if (!same(field, want[field], got[field])) problems.push(`${cap.file} ${fl.about}: ${field} meant ${JSON.stringify(want[field])}, tshark ${JSON.stringify(got[field])}`);
        }
      }
    }
    expect(problems).toEqual([]);
  }, TSHARK_TIMEOUT);
});

// ------------------------------------------------------------------ the engines against tshark

type Tally = Map<string, { agree: number; total: number; cut: number }>;

/**
 * A string the record had no room for is cut to the room left and flag 1 set (docs/applications.md,
 * Record): it agrees when its bytes begin tshark's.
 */
function cutToFit(ours: EngineFlow | undefined, field: string, want: unknown): boolean {
  const b = ours?.bytes[field];
  return !!ours?.cut && !!b && b.length > 0 && typeof want === 'string' && Buffer.from(want, 'utf8').subarray(0, b.length).equals(b);
}
type Source = 'corpus' | 'generated';
const tallies = new Map<string, Tally>();

/** Compares one capture's engine flows with the oracle; returns the disagreements. */
function compare(engine: Engine, source: Source, name: string, oracle: Oracle, flows: EngineFlow[], excluded: (key: string, field: string) => string | undefined): string[] {
  const ours = new Map(flows.map((f) => [f.key, f]));
  if (!tallies.has(`${engine} ${source}`)) tallies.set(`${engine} ${source}`, new Map());
  const tally = tallies.get(`${engine} ${source}`)!;
  const problems: string[] = [];
  for (const o of oracle.flows) {
    for (const field of FIELDS) {
      const want = o.fields[field];
      if (want === undefined || excluded(o.key, field)) continue;
      const t = tally.get(field) ?? { agree: 0, total: 0, cut: 0 };
      tally.set(field, t);
      t.total++;
      const got = ours.get(o.key)?.fields[field];
      if (same(field, got, want)) t.agree++;
      else if (cutToFit(ours.get(o.key), field, want)) { t.agree++; t.cut++; }
      else problems.push(`${name} ${o.key}: ${field} ${engine} ${JSON.stringify(got)}, tshark ${JSON.stringify(want)}`);
    }
  }
  return problems;
}

afterAll(() => {
  for (const [what, t] of tallies) {
    if (!t.size) continue;
    const line = FIELDS.filter((f) => t.has(f)).map((f) => {
      const { agree, total, cut } = t.get(f)!;
      return `${f} ${agree}/${total}${cut ? ` (${cut} cut to fit)` : ''}`;
    }).join(', ');
    console.log(`applications vs tshark (${what}): ${line}`);
  }
});

for (const engine of ENGINES) {
  describe(`${engine} engine against tshark`, () => {
    let missing: string | undefined;
    beforeAll(async () => {
      missing = tsharkMissing ?? (await engineReady(engine));
      skipping(missing, `${engine} engine against tshark`);
    });

    describe.skipIf(skipping(corpusMissing, 'applications on the corpus'))('the corpus', () => {
      for (const { name, path: file, oracle: conv } of corpusFiles()) {
        if (!conv.readable) continue;
        it(name, async (ctx) => {
          if (missing) return ctx.skip();
          const oracle = await oracleOf(file);
          const { flows } = await readFlows(file, engine);
          const ex = EXCLUSIONS[name] ?? [];
          const excluded = (key: string, field: string) => ex.find((x) => (!x.key || x.key === key) && (x.fields.includes('*') || x.fields.includes(field)))?.why;
          expect(compare(engine, 'corpus', name, oracle, flows, excluded)).toEqual([]);
        }, TSHARK_TIMEOUT);
      }
    });

    describe('the generated captures', () => {
      it('agree with tshark where the spec and tshark agree', async (ctx) => {
        if (missing) return ctx.skip();
        const problems: string[] = [];
        for (const cap of manifest.captures) {
          const file = path.join(generatedDir, cap.file);
          const oracle = await oracleOf(file, cap.decodeAs, cap.tsharkOptions?.args);
          const { flows } = await readFlows(file, engine);
          const differs = new Map(cap.flows.map((f) => [flowKey(f.proto, ...f.client, ...f.server), f.tsharkDiffers ?? {}]));
          const excluded = (key: string, field: string) => differs.get(key)?.application ?? differs.get(key)?.[field];
          problems.push(...compare(engine, 'generated', `generated/${cap.file}`, oracle, flows, excluded));
        }
        const mixed = path.join(generatedDir, MIXED);
        problems.push(...compare(engine, 'generated', `generated/${MIXED}`, await oracleOf(mixed), (await readFlows(mixed, engine)).flows, () => undefined));
        expect(problems).toEqual([]);
      }, TSHARK_TIMEOUT);
    });
  });

  describe(`${engine} engine on the generated captures' intent`, () => {
    let missing: string | undefined;
    beforeAll(async () => {
      missing = await engineReady(engine);
      skipping(missing, `${engine} engine on generated captures`);
    });
    it('gives every flow exactly the expected fields (malformed ones: no crash, nothing guessed)', async (ctx) => {
      if (missing) return ctx.skip();
      const problems: string[] = [];
      for (const cap of manifest.captures) {
        const { flows, error } = await readFlows(path.join(generatedDir, cap.file), engine);
        if (error) problems.push(`${cap.file}: ${error.message}`);
        const ours = new Map(flows.map((f) => [f.key, f]));
        for (const fl of cap.flows) {
          const got = ours.get(flowKey(fl.proto, ...fl.client, ...fl.server))?.fields ?? {};
          for (const field of FIELDS) {
            if (!same(field, got[field], fl.expect[field])) problems.push(`${cap.file} ${fl.about}: ${field} ${engine} ${JSON.stringify(got[field])}, expected ${JSON.stringify(fl.expect[field])}`);
          }
        }
      }
      expect(problems).toEqual([]);
    });
    it('gives the JA4 of the JA4 repository\'s vectors', async (ctx) => {
      if (missing) return ctx.skip();
      const { flows } = await readFlows(path.join(generatedDir, VECTOR_CAPTURE), engine);
      const ours = new Map(flows.map((f) => [f.key, f.fields.ja4]));
      const got = vectorFlows.map((f) => ours.get(flowKey(f.proto, ...f.client, ...f.server)));
      expect(got).toEqual(VECTORS.clientHellos.map((v) => v.ja4));
    });
    it('reads the 40 kB ClientHello whole with dissectBytes 65535', async (ctx) => {
      if (missing) return ctx.skip();
      const cap = manifest.captures.find((c) => c.flows.some((f) => f.expectWith))!;
      const fl = cap.flows.find((f) => f.expectWith)!;
      const { flows, error } = await readFlows(path.join(generatedDir, cap.file), engine, { dissectBytes: fl.expectWith!.dissectBytes });
      expect(error).toBeUndefined();
      const got = flows.find((f) => f.key === flowKey(fl.proto, ...fl.client, ...fl.server))?.fields ?? {};
      const want = fl.expectWith!.expect;
      expect(FIELDS.filter((f) => !same(f, got[f], want[f])).map((f) => `${f}: ${engine} ${JSON.stringify(got[f])}, expected ${JSON.stringify(want[f])}`)).toEqual([]);
    });
    it('with dissect: false leaves the application area all zero', async (ctx) => {
      if (missing) return ctx.skip();
      const files = manifest.captures.map((c) => path.join(generatedDir, c.file));
      const corpus = corpusFiles().filter((c) => c.oracle.readable && /nfstream__webex|ndpi__alexa|iti__mb2/.test(c.name)).map((c) => c.path);
      for (const file of [...files, ...corpus]) {
        const { flows } = await readFlows(file, engine, { dissect: false });
        expect(flows.length, file).toBeGreaterThan(0);
        for (const f of flows) expect(f.area.every((b) => b === 0), `${file} ${f.key}`).toBe(true);
      }
    });
  });
}
