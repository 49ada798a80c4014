#!/usr/bin/env node
// app-oracle: what tshark says each flow's payload is, in the terms of
// docs/applications.md, as JSON. The reference test/applications.test.ts
// holds both engines to.
//
//   node scripts/app-oracle.mjs CAPTURE [-d 'tcp.port==8443,tls' ...] [-o PREF:VALUE ...] [--out FILE]
//   import { appOracle } from './scripts/app-oracle.mjs';  const { flows } = await appOracle(file, { decodeAs });
//
// tshark (Wireshark >= 4.0) runs twice with its default preferences (TCP and
// TLS reassembly on, QUIC Initial decryption on):
//  1. `-2 -T json -e ...` over every packet (two passes, so a segment knows the
//     frame that completes its PDU): the flow key, direction, protocols and the
//     DNS, HTTP, SSH and industrial fields;
//  2. `-T json -x --no-duplicate-keys -Y tls.handshake`: the TLS handshake trees
//     (TCP and QUIC), with raw bytes, for the ClientHello fields, the
//     ServerHello version and the first certificate's subject.
// JA4 is not in Wireshark 4.0: it is computed here from tshark's ClientHello
// fields (scripts/lib/fingerprint.mjs, written from FoxIO's JA4.md). JA3 is
// tshark's own (tls.handshake.ja3).
//
// A flow is keyed like test/helpers/conversations.ts: `proto a#port b#port`,
// endpoints sorted, addresses normalised; `client` is the sender of its first
// packet (the engines' `src`, the fwd direction). The application is what
// tshark makes of the first PDU of a direction (TCP: the first packet with
// payload that is not a segment of a later PDU, leading COTP connection
// requests/confirms passed over as the spec's "maybe"; UDP: the first of the
// first 8 datagrams tshark names), the earliest of the two directions: the
// engines read a TCP direction from its first byte and never match a protocol
// that starts later (STARTTLS, a capture that starts mid-connection). TLS
// needs a handshake record first and a ClientHello or ServerHello as the
// direction's first handshake message (so no "SSL" of a protocol that only
// looks like it). A direction whose first PDU is not the application gives no
// field. The values are the first ones per flow and direction as
// docs/applications.md defines them:
//  - packets that are IP fragments (or complete a reassembly) and ICMP
//    packets (whose quoted headers tshark dissects) are not read; tunnels are
//    opened where the engines open them (GRE, IP-in-IP, 6in4, VXLAN, GTP-U);
//  - TLS: sni, alpn, ja4, ja3 from a ClientHello that is the first handshake
//    message of its direction; tlsVersion from a ServerHello that is the first
//    message of the other direction (supported_versions, else its version);
//    certCn from the Certificate that follows that ServerHello (versions below
//    1.3), the first attribute 2.5.4.3 of the first certificate's subject;
//  - QUIC: the first ClientHello tshark decrypts from the flow's client;
//    tlsVersion 0x0304 with it, as the spec defines;
//  - DNS (ports 53, 5353, 5355 only, as the spec reads it): the first message
//    of each direction; dnsQuery/dnsQtype from the first of them with a
//    question, dnsRcode/dnsAnswers/dnsAnswer from the first response;
//  - HTTP (TCP): the first message of each direction: a request gives method,
//    Host, User-Agent; a response the status;
//  - SSH: the first banner of each direction (fwd sshClient, rev sshServer);
//  - appCode: modbus.func_code (with 0x80 added back for an exception, which
//    tshark shows without it), dnp3.al.func, s7comm.header.rosctr,
//    enip.command, bvlc.function, mqtt.ver of the first packet that has one.
// Also given, for reading, not in the record: ja4_r, ja3_full, opcuaType (the
// first OPC UA message type); per capture the frames tshark marks malformed.

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ja3 as ja3Of, ja4 as ja4Of } from './lib/fingerprint.mjs';

const run = promisify(execFile);

const FIELDS = [
  'frame.number', 'frame.time_epoch', 'frame.protocols', '_ws.malformed',
  'ip.src', 'ip.dst', 'ip.flags.mf', 'ip.frag_offset', 'ipv6.src', 'ipv6.dst', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.more',
  'tcp.srcport', 'tcp.dstport', 'tcp.stream', 'tcp.len', 'tcp.reassembled_in', 'udp.srcport', 'udp.dstport', 'udp.stream', 'udp.length',
  'tls.record.content_type', 'tls.handshake.type',
  'quic.frame_type', 'quic.long.packet_type',
  'dns.flags.response', 'dns.count.queries', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.count.answers',
  'dns.resp.type', 'dns.a', 'dns.aaaa',
  'http.request.method', 'http.host', 'http.user_agent', 'http.response.code',
  'ssh.protocol',
  'modbus.func_code', 'modbus.exception_code', 'dnp3.al.func', 's7comm.header.rosctr', 'enip.command', 'bvlc.function', 'mqtt.ver', 'opcua.transport.type',
];

/** tshark protocol names (frame.protocols) -> application, in the spec's terms. */
const APP_OF = {
  tls: 'tls', quic: 'quic', dns: 'dns', mdns: 'mdns', llmnr: 'llmnr', http: 'http', ssh: 'ssh', mbtcp: 'modbus',
  dnp3: 'dnp3', s7comm: 's7comm', mms: 'mms', enip: 'enip', bvlc: 'bacnet', '104apci': 'iec104', iec60870_104: 'iec104',
  opcua: 'opcua', mqtt: 'mqtt',
};
const DNS_PORTS = { 53: 'dns', 5353: 'mdns', 5355: 'llmnr' };
const TUNNEL_AFTER_UDP = new Set(['vxlan', 'gtp']);

/** The fields of the oracle that docs/applications.md defines, in the Flow getters' names. */
export const ORACLE_FIELDS = [
  'application', 'sni', 'alpn', 'ja4', 'ja3', 'certCn', 'tlsVersion', 'dnsQuery', 'dnsQtype', 'dnsRcode', 'dnsAnswers',
  'dnsAnswer', 'httpMethod', 'httpHost', 'userAgent', 'httpStatus', 'sshClient', 'sshServer', 'appCode',
];

// ------------------------------------------------------------------ helpers

/** Address as test/helpers/conversations.ts normalises it (IPv6: 8 groups, no leading zeros). */
export function normalizeAddr(a) {
  if (!a.includes(':')) return a;
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  if (t.length && t[t.length - 1].includes('.')) {
    const v4 = t.pop().split('.').map(Number);
    t.push(((v4[0] << 8) | v4[1]).toString(16), ((v4[2] << 8) | v4[3]).toString(16));
  }
  const zeros = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((w) => parseInt(w, 16).toString(16)).join(':');
}

/** The flow key: protocol and both endpoints, sorted, so either direction gives the same key. */
export function flowKey(proto, aAddr, aPort, bAddr, bPort) {
  const a = `${normalizeAddr(aAddr)}#${aPort}`, b = `${normalizeAddr(bAddr)}#${bPort}`;
  return `${proto} ${a <= b ? a : b} ${a <= b ? b : a}`;
}

const int = (s) => (s === undefined ? undefined : s.startsWith('0x') ? parseInt(s, 16) : parseInt(s, 10));
const utf8 = new TextDecoder();
const fromRaw = (raw) => (raw ? Buffer.from(Array.isArray(raw[0]) ? raw[0][0] : raw[0], 'hex') : null);

/** Every value of `key` under `o`, in document order (arrays of values flattened). */
function deep(o, key, out = []) {
  if (Array.isArray(o)) { for (const x of o) deep(x, key, out); return out; }
  if (o && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      if (k === key) { if (Array.isArray(v) && !(key.endsWith('_raw') && typeof v[0] === 'string')) out.push(...v); else out.push(v); } else deep(v, key, out);
    }
  }
  return out;
}

/** Objects under `o` that have `key`, in document order (not descending into a found one). */
function nodes(o, key, out = [], inQuic = false) {
  if (Array.isArray(o)) { for (const x of o) nodes(x, key, out, inQuic); return out; }
  if (o && typeof o === 'object') {
    if (key in o) { out.push({ node: o, inQuic }); return out; }
    for (const [k, v] of Object.entries(o)) nodes(v, key, out, inQuic || k === 'quic');
  }
  return out;
}

/** Extension objects of a handshake node, in wire order (merged duplicates kept together). */
function extensionsOf(h) {
  const out = [];
  for (const [k, v] of Object.entries(h)) {
    if (!k.startsWith('Extension:')) continue;
    for (const e of Array.isArray(v) ? v : [v]) if (e && typeof e === 'object' && 'tls.handshake.extension.type' in e) out.push(e);
  }
  return out;
}

/** ClientHello fields from tshark's tree (one handshake node of type 1). */
export function clientHelloFromTree(h) {
  const exts = extensionsOf(h);
  const extOf = (t) => exts.find((e) => int(e['tls.handshake.extension.type']) === t);
  const sniExt = extOf(0), alpnExt = extOf(16), sigExt = extOf(13), verExt = extOf(43), groupExt = extOf(10), pfExt = extOf(11);
  let serverName = null;
  if (sniExt) {
    const types = deep(sniExt, 'tls.handshake.extensions_server_name_type');
    const raws = deep(sniExt, 'tls.handshake.extensions_server_name_raw');
    const i = types.findIndex((t) => int(t) === 0);
    if (i >= 0 && raws[i]) serverName = Buffer.from(raws[i][0], 'hex');
  }
  const alpnRaw = alpnExt ? deep(alpnExt, 'tls.handshake.extensions_alpn_str_raw').map((r) => Buffer.from(r[0], 'hex')) : [];
  return {
    version: int(h['tls.handshake.version']),
    ciphers: deep(h['tls.handshake.ciphersuites'] ?? {}, 'tls.handshake.ciphersuite').map(int),
    extensions: exts.map((e) => int(e['tls.handshake.extension.type'])),
    sigAlgs: sigExt ? deep(sigExt, 'tls.handshake.sig_hash_alg').map(int) : [],
    supportedVersions: verExt ? deep(verExt, 'tls.handshake.extensions.supported_version').map(int) : [],
    groups: groupExt ? deep(groupExt, 'tls.handshake.extensions_supported_group').map(int) : [],
    pointFormats: pfExt ? deep(pfExt, 'tls.handshake.extensions_ec_point_format').map(int) : [],
    sni: !!sniExt,
    serverName,
    alpnList: alpnRaw,
    alpn: alpnRaw[0] ?? null,
    ja3: h['tls.handshake.ja3'],
    ja3Full: h['tls.handshake.ja3_full'],
  };
}

/** The raw bytes of the first string value (x509sat.*String) under `o`. */
function firstString(o) {
  if (Array.isArray(o)) { for (const x of o) { const r = firstString(x); if (r) return r; } return null; }
  if (!o || typeof o !== 'object') return null;
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('x509sat.') && k.endsWith('String_raw') && k !== 'x509sat.DirectoryString_raw') return Buffer.from(Array.isArray(v[0]) ? v[0][0] : v[0], 'hex');
    const r = typeof v === 'object' ? firstString(v) : null;
    if (r) return r;
  }
  return null;
}

/** The subject CN bytes of the first certificate of a Certificate node, or null. */
function certificateCn(h) {
  const first = deep(h, 'tls.handshake.certificate_tree')[0];
  const subject = first && deep(first, 'x509af.subject_tree')[0];
  if (!subject) return null;
  for (const key of ['x509if.oid', 'x509if.id']) {
    for (const { node } of nodes(subject, key)) if (node[key] === '2.5.4.3') return firstString(node);
  }
  return null;
}

// ------------------------------------------------------------------ tshark

/**
 * tshark's JSON packets. A capture damaged part way gives the packets before the damage
 * (tshark exits 2 after them) and the error in `errors`.
 */
async function tshark(args, bin, errors) {
  let stdout;
  try {
    ({ stdout } = await run(bin, args, { maxBuffer: 1 << 30, encoding: 'utf8' }));
  } catch (e) {
    if (typeof e.stdout !== 'string' || e.code === 'ENOENT') throw e;
    stdout = e.stdout;
    errors.push(String(e.stderr ?? e.message).split('\n').filter((l) => l && !l.startsWith('Running as user')).join(' ').trim());
  }
  const text = stdout.trim();
  if (!text) return [];
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(`${text.replace(/,\s*$/, '')}\n]`);
  }
}

/** tshark's version line ("4.0.17"), or throws if tshark is missing. */
export async function tsharkVersion(bin = 'tshark') {
  const { stdout } = await run(bin, ['--version'], { encoding: 'utf8' });
  return /TShark \(Wireshark\) (\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0];
}

/** Where the innermost flow of a packet lies (the transport occurrence the engines key by), or null. */
function locate(protos) {
  let transport = -1;
  for (let i = 0; i < protos.length; i++) {
    const p = protos[i];
    if (p === 'icmp' || p === 'icmpv6') return null;
    if (p === 'tcp' || p === 'udp') {
      transport = i;
      if (!(p === 'udp' && TUNNEL_AFTER_UDP.has(protos[i + 1]))) break;
    }
  }
  if (transport < 0) return null;
  let ipAt = -1;
  for (let i = transport - 1; i >= 0; i--) if (protos[i] === 'ip' || protos[i] === 'ipv6') { ipAt = i; break; }
  if (ipAt < 0) return null;
  const nth = (name, upto) => protos.slice(0, upto + 1).filter((p) => p === name).length - 1;
  return { proto: protos[transport], tIndex: nth(protos[transport], transport), ipName: protos[ipAt], ipIndex: nth(protos[ipAt], ipAt), after: protos.slice(transport + 1) };
}

// ------------------------------------------------------------------ the oracle

/**
 * Runs tshark on `file` and returns { file, tshark, error (why tshark stopped early, or null),
 * malformed (the frames tshark marks malformed), flows }: one entry per TCP/UDP flow with
 * { key, proto, client: [addr, port], server: [addr, port], firstFrame, firstTime, streams,
 *   fields: { application?, sni?, ... }, notes: [] }.
 * options: decodeAs: ['tcp.port==8443,tls', ...]; options: more tshark arguments ('-o', 'pref:value'); tshark: the binary.
 */
export async function appOracle(file, { decodeAs = [], options = [], tshark: bin = 'tshark' } = {}) {
  const d = decodeAs.flatMap((x) => ['-d', x]);
  const base = ['-n', '-r', file, ...d, ...options];
  const errors = [];
  const pass1 = await tshark([...base, '-2', '-T', 'json', ...FIELDS.flatMap((f) => ['-e', f])], bin, errors);
  const flows = new Map();
  const malformed = [];
  for (const pkt of pass1) {
    const L = pkt._source.layers;
    const v = (k, i = 0) => L[k]?.[i];
    if (L['_ws.malformed'] !== undefined) malformed.push(int(v('frame.number')));
    const protos = (v('frame.protocols') ?? '').split(':');
    const where = locate(protos);
    if (!where) continue;
    const { proto, tIndex, ipName, ipIndex, after } = where;
    const src = v(`${ipName}.src`, ipIndex), dst = v(`${ipName}.dst`, ipIndex);
    const sport = int(v(`${proto}.srcport`, tIndex)), dport = int(v(`${proto}.dstport`, tIndex));
    if (src === undefined || sport === undefined) continue;
    const key = flowKey(proto, src, sport, dst, dport);
    const frame = int(v('frame.number'));
    let flow = flows.get(key);
    if (!flow) {
      flow = {
        key, proto, client: [src, sport], server: [dst, dport], firstFrame: frame, firstTime: Number(v('frame.time_epoch')),
        streams: new Set(), events: { fwd: [], rev: [] }, fields: {}, notes: [],
      };
      flows.set(key, flow);
    }
    const dir = normalizeAddr(src) === normalizeAddr(flow.client[0]) && sport === flow.client[1] ? 'fwd' : 'rev';
    flow.streams.add(v(`${proto}.stream`, tIndex));
    const fragment = ipName === 'ip'
      ? v('ip.flags.mf', ipIndex) === '1' || (int(v('ip.frag_offset', ipIndex)) ?? 0) > 0
      : L['ipv6.fraghdr.offset'] !== undefined && ((int(v('ipv6.fraghdr.offset')) ?? 0) > 0 || v('ipv6.fraghdr.more') === '1');
    if (fragment) {
      if (after.some((p) => p !== 'data')) flow.notes.push(`frame ${frame}: an IP fragment, not read (tshark: ${after.join(':')})`);
      continue;
    }
    const payload = proto === 'tcp' ? (int(v('tcp.len', tIndex)) ?? 0) > 0 : (int(v('udp.length', tIndex)) ?? 8) > 8;
    const later = proto === 'tcp' && L['tcp.reassembled_in'] !== undefined; // a segment of a PDU tshark completes later
    flow.events[dir].push({ frame, L, after, payload, later, malformed: L['_ws.malformed'] !== undefined });
  }

  // pass 2: the TLS handshake trees of the frames that have handshake messages
  const hasTls = [...flows.values()].some((f) => [...f.events.fwd, ...f.events.rev].some((e) => e.after.includes('tls')));
  const handshakes = new Map(); // frame -> [{ type, node, inQuic }]
  if (hasTls) {
    const pass2 = await tshark([...base, '-T', 'json', '-x', '--no-duplicate-keys', '-Y', 'tls.handshake'], bin, []);
    for (const pkt of pass2) {
      const L = pkt._source.layers;
      const frame = int(L.frame?.['frame.number']);
      const list = nodes(L, 'tls.handshake.type').map(({ node, inQuic }) => ({ type: int(node['tls.handshake.type']), node, inQuic }));
      if (list.length) handshakes.set(frame, list);
    }
  }

  const out = [];
  for (const flow of [...flows.values()].sort((a, b) => a.firstFrame - b.firstFrame)) {
    decide(flow, handshakes);
    out.push({
      key: flow.key, proto: flow.proto, client: flow.client, server: flow.server, firstFrame: flow.firstFrame,
      firstTime: flow.firstTime, streams: flow.streams.size, fields: flow.fields, notes: flow.notes,
    });
  }
  return { file, tshark: await tsharkVersion(bin), decodeAs, options, error: errors[0] ?? null, malformed, flows: out };
}

/**
 * A direction's packets that carry a PDU tshark names, without leading COTP connection
 * requests/confirms (the spec's ISO-TSAP classifier says "maybe" to them and reads on).
 */
function firstPdus(events) {
  const pdus = events.filter((e) => e.after.length > 0 || (e.payload && !e.later));
  let i = 0;
  while (i < pdus.length && /^(tpkt:)?cotp$/.test(pdus[i].after.join(':'))) i++;
  return pdus.slice(i);
}

/** The spec's first values from a flow's packets (see the header). */
function decide(flow, handshakes) {
  const F = flow.fields;
  const set = (k, val) => { if (val !== undefined && val !== null && F[k] === undefined) F[k] = val; };
  const ports = [flow.client[1], flow.server[1]];
  const dnsApp = ports.includes(53) ? 'dns' : ports.includes(5353) ? 'mdns' : ports.includes(5355) ? 'llmnr' : null;

  // The engines read each direction from its first payload byte (TCP) or datagram by datagram
  // (UDP, the first 8 with payload while nothing matched): a direction's candidate is what tshark
  // makes of its first PDU (TCP: the first packet with payload that is not a segment of a PDU
  // completed later) or of the first of its first 8 datagrams it names (UDP); the application is
  // the earliest candidate. TLS only when that PDU starts with a ClientHello or ServerHello.
  const appOf = (e, dir) => {
    let app;
    for (const p of e.after) { if (p === 'data') return undefined; if (APP_OF[p]) { app = APP_OF[p]; break; } }
    // TLS: the PDU starts with a handshake record and the direction's first handshake message is
    // a ClientHello or ServerHello (tshark names it on the packet that completes it)
    if (app === 'tls' && !(e.L['tls.record.content_type']?.[0] === '22'
      && ['1', '2'].includes(flow.events[dir].find((x) => x.L['tls.handshake.type'])?.L['tls.handshake.type'][0]))) app = undefined;
    if (app === 'quic') app = dir === 'fwd' && e.L['quic.frame_type'] !== undefined ? 'quic' : undefined;
    if (app === 'dns' || app === 'mdns' || app === 'llmnr') app = dnsApp ?? undefined;
    if ((app === 'http' || app === 'tls') && flow.proto !== 'tcp') app = undefined;
    if (app === 'quic' && flow.proto !== 'udp') app = undefined;
    return app;
  };
  const candidates = [];
  for (const dir of ['fwd', 'rev']) {
    const pdus = firstPdus(flow.events[dir]);
    const tries = flow.proto === 'tcp' ? pdus.slice(0, 1) : pdus.slice(0, 8);
    const hit = tries.map((e) => ({ app: appOf(e, dir), frame: e.frame })).find((c) => c.app);
    if (hit) candidates.push(hit);
  }
  candidates.sort((a, b) => a.frame - b.frame);
  if (!candidates.length) return;
  F.application = candidates[0].app;
  // a TCP direction whose stream does not start with the application gives no fields
  const readable = (dir) => flow.proto === 'udp' || appOf(firstPdus(flow.events[dir])[0] ?? { after: [] }, dir) === F.application;
  for (const dir of ['fwd', 'rev']) if (!readable(dir)) flow.events[dir] = [];

  if (F.application === 'tls' || F.application === 'quic') tlsFields(flow, handshakes, F.application === 'quic');

  if (F.application === 'dns' || F.application === 'mdns' || F.application === 'llmnr') {
    const firsts = ['fwd', 'rev'].map((dir) => flow.events[dir].find((e) => e.L['dns.flags.response'] !== undefined)).filter(Boolean).sort((a, b) => a.frame - b.frame);
    for (const m of firsts) {
      const L = m.L;
      if ((int(L['dns.count.queries']?.[0]) ?? 0) > 0 && L['dns.qry.name']) {
        const name = L['dns.qry.name'][0];
        set('dnsQuery', name === '<Root>' ? '' : name);
        set('dnsQtype', int(L['dns.qry.type']?.[0]));
      }
      if (L['dns.flags.response'][0] === '1' && F.dnsRcode === undefined) {
        F.dnsRcode = int(L['dns.flags.rcode']?.[0]) ?? 0;
        const answers = int(L['dns.count.answers']?.[0]) ?? 0;
        F.dnsAnswers = answers;
        const types = (L['dns.resp.type'] ?? []).map(int);
        let a = 0, aaaa = 0;
        for (let i = 0; i < Math.min(answers, types.length); i++) {
          if (types[i] === 1) { if (L['dns.a']?.[a] !== undefined) { F.dnsAnswer = L['dns.a'][a]; break; } a++; }
          else if (types[i] === 28) { if (L['dns.aaaa']?.[aaaa] !== undefined) { F.dnsAnswer = normalizeAddr(L['dns.aaaa'][aaaa]); break; } aaaa++; }
        }
        if (m.malformed) flow.notes.push(`frame ${m.frame}: tshark marks the DNS response malformed`);
      }
    }
  }

  if (F.application === 'http') {
    const firsts = ['fwd', 'rev'].map((dir) => flow.events[dir].find((e) => e.after.includes('http'))).filter(Boolean).sort((a, b) => a.frame - b.frame);
    for (const m of firsts) {
      const L = m.L;
      if (L['http.request.method']) {
        set('httpMethod', L['http.request.method'][0]);
        set('httpHost', L['http.host']?.[0]);
        set('userAgent', L['http.user_agent']?.[0]);
      } else if (L['http.response.code']) set('httpStatus', int(L['http.response.code'][0]));
    }
  }

  if (F.application === 'ssh') {
    set('sshClient', flow.events.fwd.find((e) => e.L['ssh.protocol'])?.L['ssh.protocol'][0]);
    set('sshServer', flow.events.rev.find((e) => e.L['ssh.protocol'])?.L['ssh.protocol'][0]);
  }

  // informational, not a record field: OPC UA's first message type (HEL, OPN, MSG ...)
  if (F.application === 'opcua') {
    const first = [...flow.events.fwd, ...flow.events.rev].filter((e) => e.L['opcua.transport.type']).sort((a, b) => a.frame - b.frame)[0];
    if (first) F.opcuaType = first.L['opcua.transport.type'][0];
  }

  const codeField = { modbus: 'modbus.func_code', dnp3: 'dnp3.al.func', s7comm: 's7comm.header.rosctr', enip: 'enip.command', bacnet: 'bvlc.function', mqtt: 'mqtt.ver' }[F.application];
  if (codeField) {
    const first = [...flow.events.fwd, ...flow.events.rev].filter((e) => e.L[codeField] !== undefined).sort((a, b) => a.frame - b.frame)[0];
    let code = int(first?.L[codeField][0]);
    // tshark shows a Modbus exception's function code without its top bit; the spec keeps byte 7 as it is
    if (F.application === 'modbus' && code !== undefined && first.L['modbus.exception_code'] !== undefined) code |= 0x80;
    set('appCode', code);
  }
}

function tlsFields(flow, handshakes, quic) {
  const F = flow.fields;
  const set = (k, val) => { if (val !== undefined && val !== null && F[k] === undefined) F[k] = val; };
  const stream = (dir) => flow.events[dir].flatMap((e) => (handshakes.get(e.frame) ?? []).map((h) => ({ ...h, frame: e.frame })));
  const streams = { fwd: stream('fwd'), rev: stream('rev') };
  const hellos = [];
  for (const dir of ['fwd', 'rev']) {
    const list = quic ? streams[dir].filter((h) => h.inQuic) : streams[dir].filter((h) => !h.inQuic);
    if (quic && dir === 'rev') continue; // only the client's Initials are read
    const first = quic ? list.find((h) => h.type === 1) : list[0];
    if (first && first.type === 1) hellos.push({ dir, ...first });
  }
  hellos.sort((a, b) => a.frame - b.frame);
  const hello = hellos[0];
  if (hello) {
    const ch = clientHelloFromTree(hello.node);
    if (ch.serverName) set('sni', utf8.decode(ch.serverName));
    if (ch.alpnList.length) set('alpn', utf8.decode(Buffer.concat(ch.alpnList.flatMap((a, i) => (i ? [Buffer.from(','), a] : [a])))));
    set('ja4', ja4Of(ch, quic ? 'q' : 't').ja4);
    set('ja3', ch.ja3);
    F.ja4_r = ja4Of(ch, quic ? 'q' : 't').ja4_r;
    F.ja3_full = ch.ja3Full;
    if (ch.ja3 && ch.ja3 !== ja3Of(ch).ja3) flow.notes.push(`frame ${hello.frame}: tshark's JA3 ${ch.ja3} differs from one computed from its fields (${ja3Of(ch).ja3})`);
    if (quic) set('tlsVersion', 0x0304);
  }
  if (!quic && hello) {
    const other = streams[hello.dir === 'fwd' ? 'rev' : 'fwd'].filter((h) => !h.inQuic);
    if (other[0]?.type === 2) {
      const sh = other[0].node;
      const selected = extensionsOf(sh).find((e) => int(e['tls.handshake.extension.type']) === 43);
      const version = selected ? int(deep(selected, 'tls.handshake.extensions.supported_version')[0]) : int(sh['tls.handshake.version']);
      set('tlsVersion', version);
      if (version < 0x0304 && other[1]?.type === 11) {
        const cn = certificateCn(other[1].node);
        if (cn) set('certCn', utf8.decode(cn));
      }
    }
  }
}

// ------------------------------------------------------------------ CLI

const HELP = `usage: node scripts/app-oracle.mjs CAPTURE [-d DECODE_AS ...] [-o PREF ...] [--out FILE]

  Runs tshark on CAPTURE and prints, per TCP/UDP flow, the application fields of
  docs/applications.md that tshark shows (JSON).
  -d, --decode-as X   passed to tshark as -d X (e.g. 'tcp.port==8443,tls'); repeatable
  -o, --option P      passed to tshark as -o P (e.g. 'tcp.reassemble_out_of_order:TRUE'); repeatable
  --out FILE          write the JSON there instead of stdout
  --tshark BIN        tshark binary (default: tshark)
`;

async function main(argv) {
  const { parseArgs } = await import('node:util');
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { 'decode-as': { type: 'string', short: 'd', multiple: true }, option: { type: 'string', short: 'o', multiple: true }, out: { type: 'string' }, tshark: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || positionals.length !== 1) { process.stdout.write(HELP); if (!values.help) process.exitCode = 2; return; }
  const result = await appOracle(positionals[0], { decodeAs: values['decode-as'] ?? [], options: (values.option ?? []).flatMap((o) => ['-o', o]), tshark: values.tshark });
  const text = `${JSON.stringify(result, null, 1)}\n`;
  if (values.out) writeFileSync(values.out, text); else process.stdout.write(text);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => { process.stderr.write(`app-oracle: ${e.message}\n`); process.exitCode = 1; });
}
