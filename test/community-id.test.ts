/** Community ID v1 against the spec's published vectors and sample captures. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { communityId } from '../src/index';
import { COMMUNITY_ID_DIR } from './helpers/corpus';
import { normalizeAddr } from './helpers/conversations';
import { readAll } from './helpers/read';
import { skipping } from './helpers/skip';

const present = fs.existsSync(path.join(COMMUNITY_ID_DIR, 'baseline_deflt.json'));

function addrBytes(a: string): Buffer {
  if (!a.includes(':')) return Buffer.from(a.split('.').map(Number));
  const words = normalizeAddr(a).split(':');
  const b = Buffer.alloc(16);
  words.forEach((w, i) => b.writeUInt16BE(parseInt(w, 16), i * 2));
  return b;
}

interface Vector { proto: number; saddr: string; daddr: string; sport: number; dport: number; communityid: string }

describe.skipIf(skipping(!present && `${COMMUNITY_ID_DIR} not found`, 'Community ID v1 vectors'))('Community ID v1 vectors', () => {
  for (const [file, opts] of [
    ['baseline_deflt.json', {}],
    ['baseline_seed1.json', { seed: 1 }],
    ['baseline_nob64.json', { base64: false }],
  ] as const) {
    it(file, () => {
      const vectors = JSON.parse(fs.readFileSync(path.join(COMMUNITY_ID_DIR, file), 'utf8')) as Vector[];
      expect(vectors.length).toBeGreaterThan(10);
      for (const v of vectors) {
        expect(communityId(v.proto, addrBytes(v.saddr), addrBytes(v.daddr), v.sport, v.dport, opts), JSON.stringify(v)).toBe(v.communityid);
      }
    });
  }

  it("flows read from the spec's sample captures carry IDs from its baseline", async () => {
    const vectors = JSON.parse(fs.readFileSync(path.join(COMMUNITY_ID_DIR, 'baseline_deflt.json'), 'utf8')) as Vector[];
    const known = new Set(vectors.map((v) => v.communityid));
    let checked = 0;
    for (const pcap of fs.readdirSync(COMMUNITY_ID_DIR).filter((f) => f.endsWith('.pcap'))) {
      const r = await readAll(path.join(COMMUNITY_ID_DIR, pcap));
      for (const f of r.flows) {
        if (f.l2 || ![1, 6, 17, 58, 132].includes(f.protocol)) continue;
        expect(known.has(f.communityId!), `${pcap} ${f.src} ${f.dst} ${f.protocol}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5);
  });
});

