#!/usr/bin/env node
// Seed corpora for the libFuzzer harnesses (native/fuzz/), written under
// build-cmake-fuzz/ (never into the repository):
//
//   corpus-capture/  whole capture files: the shared corpus (../shared/pcaps, or
//                    $FLOWMASTER_CORPUS, and ../shared/community-id, when present;
//                    files over 256 KiB cut to their first 256 KiB) and captures made
//                    by gen-pcap (200 packets, 20 flows, --mix full, every format and
//                    link type, seeds 1..)
//   corpus-decode/   single packets cut out of all those captures, as fuzz_decode
//                    reads them: 2 selector bytes (link type index, options) + the
//                    packet; raw-IP packets also as link types 12/14/228/229, null
//                    (0) packets also as 108, Ethernet IP packets also as raw IP.
//   corpus-app/      the TCP/UDP payloads of those captures' flows, as fuzz_app
//                    reads them (2 selector bytes, then per packet a direction byte,
//                    a u16 length and the payload), at most APP_FLOWS_PER_PORT flows
//                    per server port; and QUIC-mode inputs whose client chunks are
//                    CRYPTO frames carrying the captures' TLS ClientHellos (the
//                    harness protects them as v1 or v2 Initials).
//
// File names are the SHA-1 of the content (as libFuzzer names its own finds), so a
// rerun adds nothing twice. The fuzzers add what they find to the same folders.
//
//   node scripts/fuzz-seeds.mjs [--out build-cmake-fuzz] [--quiet]
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSync } from './gen-pcap.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Link types in fuzz_decode's order (kLinkTypes in native/fuzz/fuzz_decode.cc). */
export const DECODE_LINKTYPES = [1, 0, 108, 101, 12, 14, 113, 276, 228, 229, 147];

const MAX_CAPTURE_SEED = 256 * 1024;
const MAX_PACKETS_PER_LINKTYPE = 400;

/** The captures generated as seeds: gen-pcap options. */
export const GENERATED_SEEDS = [
  { format: 'pcap' },
  { format: 'pcap', nanos: true, bigEndian: true },
  { format: 'pcap', link: 'raw' },
  { format: 'pcap', link: 'sll' },
  { format: 'pcap', link: 'sll2' },
  { format: 'pcap', link: 'null' },
  { format: 'pcapng' },
  { format: 'pcapng', bigEndian: true, nanos: true, extraBlocks: true },
  { format: 'pcapng', multiInterface: true },
  { format: 'pcapng', multiInterface: true, iface2: 'sll', extraBlocks: true },
  { format: 'pcap', sizes: '64' },
  { format: 'pcap', mix: 'full,vxlan=30,gre=20,gtpu=20,mpls=10,pppoe=10,frag=20' },
];

function sharedDirs() {
  const corpus = process.env.FLOWMASTER_CORPUS ?? path.resolve(root, '..', 'shared', 'pcaps');
  return [corpus, path.resolve(corpus, '..', 'community-id')].filter((d) => fs.existsSync(d));
}

/** Capture files of the shared corpus (*.pcap, *.pcapng), sorted. */
export function sharedCaptures() {
  const out = [];
  for (const d of sharedDirs()) {
    for (const f of fs.readdirSync(d).sort()) {
      if (/\.(pcap|pcapng)$/i.test(f) && fs.statSync(path.join(d, f)).isFile()) out.push(path.join(d, f));
    }
  }
  return out;
}

/** Generated seed captures: [{ name, bytes }]. */
export function generatedCaptures() {
  return GENERATED_SEEDS.map((o, i) => {
    const opts = { packets: 200, flows: 20, mix: 'full', seed: i + 1, quiet: true, ...o };
    const { buffer } = generateSync(opts);
    return { name: `gen-${i + 1}`, bytes: Buffer.from(buffer) };
  });
}

/**
 * The packets of a pcap or pcapng file: [{ linktype, data, origLen }]. Tolerant:
 * stops at the first record that does not fit.
 */
export function readPackets(buf) {
  const out = [];
  if (buf.length < 24) return out;
  const m = buf.readUInt32LE(0);
  const pcapMagics = { 0xa1b2c3d4: false, 0xa1b23c4d: false, 0xd4c3b2a1: true, 0x4d3cb2a1: true };
  if (m in pcapMagics) {
    const be = pcapMagics[m];
    const u32 = (o) => (be ? buf.readUInt32BE(o) : buf.readUInt32LE(o));
    const linktype = u32(20) & 0x0fffffff;
    for (let o = 24; o + 16 <= buf.length; ) {
      const caplen = u32(o + 8);
      const orig = u32(o + 12);
      if (caplen > 262144 || o + 16 + caplen > buf.length) break;
      out.push({ linktype, data: buf.subarray(o + 16, o + 16 + caplen), origLen: orig });
      o += 16 + caplen;
    }
    return out;
  }
  if (m !== 0x0a0d0d0a) return out;
  let be = false;
  let ifaces = [];
  for (let o = 0; o + 12 <= buf.length; ) {
    let type = be ? buf.readUInt32BE(o) : buf.readUInt32LE(o);
    if (type === 0x0a0d0d0a) {
      const bom = buf.readUInt32LE(o + 8);
      be = bom === 0x4d3c2b1a;
      ifaces = [];
      type = 0x0a0d0d0a;
    }
    const len = be ? buf.readUInt32BE(o + 4) : buf.readUInt32LE(o + 4);
    if (len < 12 || len % 4 !== 0 || o + len > buf.length) break;
    const u32 = (x) => (be ? buf.readUInt32BE(x) : buf.readUInt32LE(x));
    const u16 = (x) => (be ? buf.readUInt16BE(x) : buf.readUInt16LE(x));
    if (type === 1 && len >= 20) ifaces.push(u16(o + 8));
    else if (type === 6 && len >= 32) {
      const iface = u32(o + 8);
      const caplen = u32(o + 20);
      const orig = u32(o + 24);
      if (iface < ifaces.length && 28 + caplen <= len) out.push({ linktype: ifaces[iface], data: buf.subarray(o + 28, o + 28 + caplen), origLen: orig });
    } else if (type === 3 && len >= 16 && ifaces.length) {
      const orig = u32(o + 8);
      const caplen = Math.min(orig, len - 16);
      out.push({ linktype: ifaces[0], data: buf.subarray(o + 12, o + 12 + caplen), origLen: orig });
    } else if (type === 2 && len >= 32) {
      const iface = u16(o + 8);
      const caplen = u32(o + 20);
      const orig = u32(o + 24);
      if (iface < ifaces.length && 28 + caplen <= len) out.push({ linktype: ifaces[iface], data: buf.subarray(o + 28, o + 28 + caplen), origLen: orig });
    }
    o += len;
  }
  return out;
}

/** A fuzz_decode input for `data` on `linktype` (null when fuzz_decode has no selector for it). */
export function decodeInput(linktype, data, options = 0) {
  const i = DECODE_LINKTYPES.indexOf(linktype);
  if (i < 0) return null;
  return Buffer.concat([Buffer.from([i, options]), data]);
}

/** More fuzz_decode inputs from one packet: the same bytes seen through related link types. */
function decodeVariants(linktype, data) {
  const v = [[linktype, data]];
  const ipVersion = data.length ? data[0] >> 4 : 0;
  if (linktype === 101 || linktype === 12 || linktype === 14 || linktype === 228 || linktype === 229) {
    v.push([12, data], [14, data]);
    if (ipVersion === 4) v.push([228, data]);
    if (ipVersion === 6) v.push([229, data]);
  }
  if (linktype === 0 && data.length >= 4) {
    const fam = data.readUInt32LE(0);
    const be = Buffer.from(data);
    be.writeUInt32BE(fam, 0);
    v.push([108, be]);
  }
  if (linktype === 1 && data.length > 14) {
    const et = data.readUInt16BE(12);
    if (et === 0x0800 || et === 0x86dd) v.push([101, data.subarray(14)]);
  }
  return v;
}

/** fuzz_app's server ports, in native/fuzz/fuzz_app.cc's order (kPorts; the last one stands for any other). */
export const APP_PORTS = [53, 5353, 5355, 443, 80, 22, 502, 20000, 102, 44818, 47808, 2404, 4840, 1883, 8080, 9999];
const APP_FLOWS_PER_PORT = 40;
const APP_PACKETS_PER_FLOW = 12;
const APP_BOUND_DEFAULT = 5; // kBounds[5] = 4096

/** Offset of the IP header in a frame of `linktype` (-1 when not IPv4/IPv6 at a known place). */
function ipOffset(linktype, d) {
  if (linktype === 1) {
    let o = 12;
    while (o + 2 <= d.length && [0x8100, 0x88a8, 0x9100].includes(d.readUInt16BE(o))) o += 4;
    return o + 2 <= d.length && [0x0800, 0x86dd].includes(d.readUInt16BE(o)) ? o + 2 : -1;
  }
  if ([101, 12, 14, 228, 229].includes(linktype)) return 0;
  if (linktype === 113) return d.length >= 16 && [0x0800, 0x86dd].includes(d.readUInt16BE(14)) ? 16 : -1;
  if (linktype === 276) return d.length >= 20 && [0x0800, 0x86dd].includes(d.readUInt16BE(0)) ? 20 : -1;
  if (linktype === 0 || linktype === 108) return 4;
  return -1;
}

/** The TCP/UDP payload of one frame: { key, tcp, src, sport, dport, data } or null (fragments, other protocols). */
function payloadOf(linktype, d) {
  const o = ipOffset(linktype, d);
  if (o < 0 || o >= d.length) return null;
  const v = d[o] >> 4;
  let proto, l4, end, src, dst;
  if (v === 4 && o + 20 <= d.length) {
    const ihl = (d[o] & 15) * 4;
    if ((d.readUInt16BE(o + 6) & 0x3fff) !== 0) return null;
    proto = d[o + 9];
    l4 = o + ihl;
    end = Math.min(d.length, o + d.readUInt16BE(o + 2));
    src = d.subarray(o + 12, o + 16).toString('hex');
    dst = d.subarray(o + 16, o + 20).toString('hex');
  } else if (v === 6 && o + 40 <= d.length) {
    proto = d[o + 6];
    l4 = o + 40;
    end = Math.min(d.length, l4 + d.readUInt16BE(o + 4));
    src = d.subarray(o + 8, o + 24).toString('hex');
    dst = d.subarray(o + 24, o + 40).toString('hex');
  } else return null;
  let data;
  if (proto === 6 && l4 + 20 <= end) data = d.subarray(l4 + (d[l4 + 12] >> 4) * 4, end);
  else if (proto === 17 && l4 + 8 <= end) data = d.subarray(l4 + 8, Math.min(end, l4 + d.readUInt16BE(l4 + 4)));
  else return null;
  const sport = d.readUInt16BE(l4), dport = d.readUInt16BE(l4 + 2);
  const a = `${src}:${sport}`, b = `${dst}:${dport}`;
  return { key: `${proto} ${a < b ? `${a} ${b}` : `${b} ${a}`}`, tcp: proto === 6, src: a, sport, dport, data };
}

const u16le = (n) => Buffer.from([n & 0xff, n >> 8]);

/** One fuzz_app input: selectors, then (direction byte, u16 length, bytes) per packet. */
export function appInput({ tcp, port, bound = APP_BOUND_DEFAULT, options = 0, packets }) {
  const i = APP_PORTS.indexOf(port);
  const head = Buffer.from([(tcp ? 1 : 0) | ((i < 0 ? APP_PORTS.length - 1 : i) << 1) | (bound << 5), options]);
  return Buffer.concat([head, ...packets.flatMap((p) => [Buffer.from([p.header ?? (p.rev ? 1 : 0)]), u16le(p.data.length), p.data])]);
}

/** The flows of a capture with payload, in order: [{ tcp, port, packets: [{ rev, data }] }]. */
export function appFlows(packets) {
  const flows = new Map();
  for (const p of packets) {
    const x = payloadOf(p.linktype, p.data);
    if (!x || x.data.length === 0) continue;
    let f = flows.get(x.key);
    if (!f) flows.set(x.key, (f = { tcp: x.tcp, client: x.src, port: APP_PORTS.includes(x.dport) || !APP_PORTS.includes(x.sport) ? x.dport : x.sport, packets: [] }));
    if (f.packets.length < APP_PACKETS_PER_FLOW) f.packets.push({ rev: x.src !== f.client, data: Buffer.from(x.data) });
  }
  return [...flows.values()];
}

/** A TLS ClientHello's handshake bytes from a client payload (its handshake records joined), or null. */
function clientHelloOf(data) {
  const parts = [];
  for (let o = 0; o + 5 <= data.length && data[o] === 22; ) {
    const n = data.readUInt16BE(o + 3);
    parts.push(data.subarray(o + 5, Math.min(data.length, o + 5 + n)));
    o += 5 + n;
  }
  const hs = Buffer.concat(parts);
  return hs.length > 4 && hs[0] === 1 ? hs : null;
}

function varint(n) {
  if (n < 64) return Buffer.from([n]);
  if (n < 16384) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  return Buffer.from([0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}
const cryptoFrame = (offset, data) => Buffer.concat([Buffer.from([0x06]), varint(offset), varint(data.length), data]);

/** QUIC-mode fuzz_app inputs around a ClientHello: v1 and v2, whole and split, with an ACK and PING. */
function quicInputs(hello) {
  const cut = Math.min(100, hello.length >> 1);
  const split = [cryptoFrame(cut, hello.subarray(cut)), Buffer.concat([Buffer.from([0x01, 0x02, 0x00, 0x00, 0x00, 0x00]), cryptoFrame(0, hello.subarray(0, cut))])];
  return [0, 8].flatMap((v2) => [
    appInput({ tcp: false, port: 443, options: 1, packets: [{ header: v2, data: cryptoFrame(0, hello) }, { rev: true, data: Buffer.from('server') }] }),
    appInput({ tcp: false, port: 443, options: 1, packets: split.map((data) => ({ header: v2, data })) }),
  ]);
}

function sha1(b) {
  return createHash('sha1').update(b).digest('hex');
}

function put(dir, bytes) {
  const f = path.join(dir, sha1(bytes));
  if (fs.existsSync(f)) return false;
  fs.writeFileSync(f, bytes);
  return true;
}

/** Writes the seeds; returns the corpus folders and counts. */
export function writeSeeds({ out = path.join(root, 'build-cmake-fuzz'), quiet = false } = {}) {
  const capDir = path.join(out, 'corpus-capture');
  const decDir = path.join(out, 'corpus-decode');
  const appDir = path.join(out, 'corpus-app');
  fs.mkdirSync(capDir, { recursive: true });
  fs.mkdirSync(decDir, { recursive: true });
  fs.mkdirSync(appDir, { recursive: true });
  const captures = [];
  const shared = sharedCaptures();
  for (const f of shared) captures.push({ name: path.basename(f), bytes: fs.readFileSync(f) });
  captures.push(...generatedCaptures());
  let capNew = 0;
  let decNew = 0;
  let appNew = 0;
  const perLinktype = new Map();
  const perPort = new Map();
  const hellos = new Set();
  for (const c of captures) {
    const seed = c.bytes.length > MAX_CAPTURE_SEED ? c.bytes.subarray(0, MAX_CAPTURE_SEED) : c.bytes;
    if (put(capDir, seed)) capNew++;
    const packets = readPackets(c.bytes);
    for (const f of appFlows(packets)) {
      const n = perPort.get(f.port) ?? 0;
      const hello = f.tcp && f.packets.length && !f.packets[0].rev ? clientHelloOf(f.packets[0].data) : null;
      if (hello && hellos.size < 20 && !hellos.has(hello.toString('hex'))) {
        hellos.add(hello.toString('hex'));
        for (const input of quicInputs(hello)) if (put(appDir, input)) appNew++;
      }
      if (n >= APP_FLOWS_PER_PORT) continue;
      // mostly the default bound; some flows with a small one, some with snaplen-cut packets
      const bound = n % 5 === 1 ? 0 : n % 5 === 3 ? 2 : APP_BOUND_DEFAULT;
      if (put(appDir, appInput({ ...f, bound, options: n % 7 === 2 ? 2 : 0 }))) {
        appNew++;
        perPort.set(f.port, n + 1);
      }
    }
    for (const [k, p] of packets.entries()) {
      for (const [lt, data] of decodeVariants(p.linktype, p.data)) {
        const n = perLinktype.get(lt) ?? 0;
        if (n >= MAX_PACKETS_PER_LINKTYPE) continue;
        // mostly default options; every 7th packet with tunnels or L2 flows off, or a longer wire length
        const opts = k % 7 === 3 ? 1 : k % 7 === 5 ? 2 : k % 11 === 4 ? 4 << 2 : 0;
        const input = decodeInput(lt, data, opts);
        if (input && put(decDir, input)) {
          decNew++;
          perLinktype.set(lt, n + 1);
        }
      }
    }
  }
  const summary = {
    captureDir: capDir,
    decodeDir: decDir,
    appDir,
    sharedCaptures: shared.length,
    generatedCaptures: GENERATED_SEEDS.length,
    newCaptureSeeds: capNew,
    newDecodeSeeds: decNew,
    newAppSeeds: appNew,
    captureCorpus: fs.readdirSync(capDir).length,
    decodeCorpus: fs.readdirSync(decDir).length,
    appCorpus: fs.readdirSync(appDir).length,
  };
  if (!quiet) {
    console.log(
      `fuzz seeds: ${summary.sharedCaptures} shared + ${summary.generatedCaptures} generated captures; ` +
        `corpus-capture ${summary.captureCorpus} files (+${capNew}), corpus-decode ${summary.decodeCorpus} files (+${decNew}), ` +
        `corpus-app ${summary.appCorpus} files (+${appNew})`,
    );
  }
  return summary;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const o = argv.indexOf('--out');
  writeSeeds({ out: o >= 0 ? path.resolve(argv[o + 1]) : undefined, quiet: argv.includes('--quiet') });
}
