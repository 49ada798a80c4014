#!/usr/bin/env node
// gen-app-pcaps: deterministic captures of application handshakes for the
// dissectors of docs/applications.md, and what each flow should give.
//
//   node scripts/gen-app-pcaps.mjs OUTDIR
//   import { generateAppCaptures } from './scripts/gen-app-pcaps.mjs';  const manifest = generateAppCaptures(dir);
//
// OUTDIR receives one pcap per topic and manifest.json:
//   { captures: [{ file, about, decodeAs: [tshark -d args for ports tshark does not know],
//                  malformed?: true, flows: [{ proto, client: [addr, port], server: [addr, port], about,
//                  expect: { application, sni, ... } (exactly the fields the spec gives; absent = none),
//                  expectWith?: { dissectBytes, expect }, tsharkDiffers?: { field: why } }] }] }
// Expected JA3/JA4 are computed from the ClientHello bytes the script built
// (scripts/lib/fingerprint.mjs). Same output on every run: no clock, no
// randomness (Ed25519 signatures are deterministic).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { certificate } from './lib/asn1.mjs';
import { Capture } from './lib/conversation.mjs';
import { dnsMessage, dnsTcp, RCODE, TYPE } from './lib/dns.mjs';
import { clientHelloFields, ja3, ja4 } from './lib/fingerprint.mjs';
import * as I from './lib/ics.mjs';
import { cryptoFrame, cryptoFrames, ackFrame, initialPacket, QUIC_V1, QUIC_V2 } from './lib/quic.mjs';
import * as T from './lib/tls.mjs';

const TLS_RECORD_VERSION = 0x0301;

// ------------------------------------------------------------------ TLS pieces

/** What the spec derives from a ClientHello: sni, alpn, ja4, ja3 (null fields left out). */
function helloExpect(hello, transport = 't') {
  const f = clientHelloFields(hello);
  const e = {};
  if (f.serverName !== null) e.sni = f.serverName;
  if (f.alpnList.length) e.alpn = new TextDecoder().decode(Buffer.concat(f.alpnList.flatMap((a, i) => (i ? [Buffer.from(','), a] : [a]))));
  e.ja4 = ja4(f, transport).ja4;
  e.ja3 = ja3(f).ja3;
  return e;
}

/** A TLS 1.2 style ClientHello (no supported_versions): what older clients and curl over TLS 1.2 send. */
function tls12Hello({ sni, alpn, tag }) {
  const extensions = [];
  if (sni) extensions.push(T.ext.sni(sni));
  extensions.push(T.ext.ecPointFormats([0, 1, 2]), T.ext.supportedGroups([0x001d, 0x0017, 0x001e, 0x0019, 0x0018]), T.ext.sessionTicket(),
    T.ext.raw(22), T.ext.extendedMasterSecret(), T.ext.signatureAlgorithms([0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601]));
  if (alpn) extensions.push(T.ext.alpn(alpn));
  return T.clientHello({
    version: 0x0303, random: T.filler(32, tag), sessionId: Buffer.alloc(0),
    ciphers: [0xc02f, 0xc030, 0xc02b, 0xc02c, 0x009e, 0x009f, 0xc027, 0xc028, 0x009c, 0x009d, 0x002f, 0x0035, 0x00ff], extensions,
  });
}

const CA = { C: 'US', O: 'Example Corp', CN: 'Example Issuing CA' };
const caCert = certificate({ subject: CA, serial: 0x1000n, key: Buffer.alloc(32, 0xca), ca: true });

/** A leaf certificate signed by the example CA. */
function leaf(subject, dnsNames, serial) {
  return certificate({ subject, issuer: CA, serial, key: T.filler(32, Number(serial)), issuerKey: Buffer.alloc(32, 0xca), dnsNames });
}

/** TLS 1.2 server flight: ServerHello, Certificate, ServerKeyExchange, ServerHelloDone (handshake records). */
function tls12ServerFlight({ certs, tag, certificateMessage }) {
  const ske = T.handshake(T.HANDSHAKE.SERVER_KEY_EXCHANGE, Buffer.concat([
    Buffer.from([3, 0x00, 0x1d, 32]), T.filler(32, tag + 1), Buffer.from([0x08, 0x07, 0x00, 64]), T.filler(64, tag + 2),
  ]));
  const hs = Buffer.concat([
    T.serverHello({ version: 0x0303, random: T.filler(32, tag + 3), sessionId: T.filler(32, tag + 4), cipher: 0xc02f,
      extensions: [T.ext.renegotiationInfo(), T.ext.ecPointFormats([0]), T.ext.extendedMasterSecret()] }),
    certificateMessage ?? T.certificateMessage(certs), ske, T.serverHelloDone(),
  ]);
  return T.records(T.CONTENT.HANDSHAKE, 0x0303, hs);
}

/** TLS 1.3 server flight: ServerHello (supported_versions 0x0304, key_share), CCS, encrypted records. */
function tls13ServerFlight(tag, sessionId = Buffer.alloc(32, 0)) {
  const sh = T.serverHello({
    version: 0x0303, random: T.filler(32, tag + 5), sessionId, cipher: 0x1301,
    extensions: [T.ext.serverKeyShare(0x001d, T.filler(32, tag + 6)), T.ext.selectedVersion(0x0304)],
  });
  return Buffer.concat([
    T.record(T.CONTENT.HANDSHAKE, 0x0303, sh), T.record(T.CONTENT.CHANGE_CIPHER_SPEC, 0x0303, Buffer.from([1])),
    T.record(T.CONTENT.APPLICATION_DATA, 0x0303, T.filler(900, tag + 7)), T.record(T.CONTENT.APPLICATION_DATA, 0x0303, T.filler(120, tag + 8)),
  ]);
}

/** Client's second flight and some application data both ways, then the close. */
function tlsFinish(c, tag, v13) {
  const finished = v13
    ? Buffer.concat([T.record(T.CONTENT.CHANGE_CIPHER_SPEC, 0x0303, Buffer.from([1])), T.record(T.CONTENT.APPLICATION_DATA, 0x0303, T.filler(74, tag + 9))])
    : Buffer.concat([T.record(T.CONTENT.HANDSHAKE, 0x0303, T.handshake(16, Buffer.concat([Buffer.from([32]), T.filler(32, tag + 9)]))),
      T.record(T.CONTENT.CHANGE_CIPHER_SPEC, 0x0303, Buffer.from([1])), T.record(T.CONTENT.HANDSHAKE, 0x0303, T.filler(40, tag + 10))]);
  c.send('c', finished);
  if (!v13) c.send('s', Buffer.concat([T.record(T.CONTENT.CHANGE_CIPHER_SPEC, 0x0303, Buffer.from([1])), T.record(T.CONTENT.HANDSHAKE, 0x0303, T.filler(40, tag + 11))]));
  c.send('c', T.record(T.CONTENT.APPLICATION_DATA, 0x0303, T.filler(300, tag + 12)));
  c.send('s', T.record(T.CONTENT.APPLICATION_DATA, 0x0303, T.filler(1200, tag + 13)));
  c.close();
}

// ------------------------------------------------------------------ the captures

class Builder {
  constructor(dir) { this.dir = dir; this.captures = []; }
  /** A capture: fn(cap, flow) adds conversations; flow(conv, expect, extra) records a flow's expectation. */
  add(file, about, fn, { decodeAs = [], tsharkOptions, malformed = false, snaplen } = {}) {
    const cap = new Capture();
    const flows = [];
    const flow = (conv, expect, extra = {}) => {
      flows.push({ proto: conv.proto, client: [conv.ends.c.ip, conv.ends.c.port], server: [conv.ends.s.ip, conv.ends.s.port], ...extra, expect });
    };
    fn(cap, flow);
    if (this.dir) cap.write(path.join(this.dir, file), { snaplen });
    this.captures.push({ file, about, decodeAs, ...(tsharkOptions ? { tsharkOptions } : {}), ...(malformed ? { malformed: true } : {}), flows });
  }
}

function tlsCaptures(b) {
  b.add('tls12-certificate.pcap', 'TLS 1.2 full handshakes with certificate chains (IPv4, IPv6; a flight in 200-byte segments; a subject with CN not first and CN twice)', (cap, flow) => {
    const hello = tls12Hello({ sni: 'backup.example.com', alpn: ['http/1.1'], tag: 11 });
    let c = cap.tcp({ client: ['10.1.0.10', 49152], server: ['10.1.0.20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello));
    c.send('s', tls12ServerFlight({ certs: [leaf({ C: 'US', O: 'Example Corp', CN: 'backup.example.com' }, ['backup.example.com'], 0x2001n), caCert], tag: 20 }));
    tlsFinish(c, 30, false);
    flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0303, certCn: 'backup.example.com' }, { about: 'TLS 1.2, certificate chain of two' });

    const hello6 = tls12Hello({ sni: 'files.example.net', tag: 12 });
    c = cap.tcp({ client: ['2001:db8:1::10', 50000], server: ['2001:db8:1::20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello6));
    const subject = [['O', 'Example Corp'], ['CN', 'files.example.net'], ['OU', 'Storage'], ['CN', 'second-cn.example.net']];
    c.send('s', tls12ServerFlight({ certs: [leaf(subject, ['files.example.net'], 0x2002n), caCert], tag: 40 }), { mss: 200 });
    tlsFinish(c, 50, false);
    flow(c, { application: 'tls', ...helloExpect(hello6), tlsVersion: 0x0303, certCn: 'files.example.net' }, { about: 'IPv6, no ALPN, server flight in 200-byte segments, subject O, CN, OU, CN' });
  });

  b.add('tls13.pcap', 'TLS 1.3 ClientHello/ServerHello: GREASE, ALPN h2,http/1.1, key_share; no SNI and no ALPN; a non-alphanumeric first ALPN value; a TLS 1.2 server answering a TLS 1.3 client', (cap, flow) => {
    const cases = [
      { sni: 'www.example.org', alpn: ['h2', 'http/1.1'], grease: 0, about: 'browser-like, GREASE' },
      { sni: undefined, alpn: [], grease: 3, about: 'no SNI (JA4 i), no ALPN (JA4 00)' },
      { sni: 'odd-alpn.example.org', alpn: [Buffer.from([0xba, 0xad]), 'h2'], grease: 7, about: 'first ALPN value 0xba 0xad (JA4 hex digits bd)' },
      { sni: 'single.example.org', alpn: ['x'], grease: null, about: 'one-character ALPN, no GREASE' },
    ];
    cases.forEach((k, i) => {
      const hello = T.browserClientHello({ sni: k.sni, alpn: k.alpn, greaseIndex: k.grease, tag: 100 + i });
      const c = cap.tcp({ client: ['10.2.0.10', 40000 + i], server: ['10.2.0.20', 443] }).open();
      c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello));
      c.send('s', tls13ServerFlight(110 + i, T.filler(32, 200 + i)));
      tlsFinish(c, 120 + i, true);
      flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0304 }, { about: k.about });
    });
    const hello = T.browserClientHello({ sni: 'legacy.example.com', alpn: ['h2', 'http/1.1'], greaseIndex: 9, tag: 130 });
    const c = cap.tcp({ client: ['10.2.0.10', 40010], server: ['10.2.0.21', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello));
    c.send('s', tls12ServerFlight({ certs: [leaf({ CN: 'legacy.example.com', O: 'Legacy' }, [], 0x2003n)], tag: 140 }));
    tlsFinish(c, 150, false);
    flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0303, certCn: 'legacy.example.com' }, { about: 'TLS 1.3 client, TLS 1.2 server with a certificate' });
  });

  b.add('tls-ports.pcap', 'TLS on ports other than 443 (8443, 9999, 5061)', (cap, flow) => {
    [[8443, 'admin.example.com'], [9999, 'backup.example.com'], [5061, 'sip.example.com']].forEach(([port, sni], i) => {
      const hello = T.browserClientHello({ sni, alpn: ['h2', 'http/1.1'], greaseIndex: i + 1, tag: 300 + i });
      const c = cap.tcp({ client: ['10.3.0.10', 41000 + i], server: ['10.3.0.20', port] }).open();
      c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello));
      c.send('s', tls13ServerFlight(310 + i));
      tlsFinish(c, 320 + i, true);
      flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0304 }, { about: `TLS on TCP ${port}` });
    });
  }, { decodeAs: ['tcp.port==9999,tls', 'tcp.port==5061,tls'] });

  b.add('tls-segments.pcap', 'A ClientHello split over two TCP segments, over two TLS records, and both at other boundaries', (cap, flow) => {
    const cases = [
      { about: 'two TCP segments (100 + rest)', records: (h) => T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, h), split: [100] },
      { about: 'two TLS records in one segment', records: (h) => T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, h, 80), split: [] },
      { about: 'three TLS records over three segments', records: (h) => T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, h, 150), split: [7, 200] },
    ];
    cases.forEach((k, i) => {
      const hello = T.browserClientHello({ sni: `split${i}.example.com`, alpn: ['h2'], greaseIndex: i, tag: 400 + i });
      const c = cap.tcp({ client: ['10.4.0.10', 42000 + i], server: ['10.4.0.20', 443] }).open();
      c.send('c', k.records(hello), { split: k.split });
      c.send('s', tls13ServerFlight(410 + i));
      tlsFinish(c, 420 + i, true);
      flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0304 }, { about: k.about });
    });
  });

  b.add('tls-retransmission.pcap', 'A ClientHello in three segments with a retransmitted segment, and with an out-of-order segment (sent again after the gap is filled)', (cap, flow) => {
    const cases = [
      { about: 'segment 1 retransmitted before segment 2', order: [0, 0, 1, 2] },
      { about: 'segment 3 before segment 2, then again', order: [0, 2, 1, 2] },
    ];
    cases.forEach((k, i) => {
      const hello = T.browserClientHello({ sni: `resend${i}.example.com`, alpn: ['h2', 'http/1.1'], greaseIndex: 4 + i, tag: 500 + i });
      const c = cap.tcp({ client: ['10.4.1.10', 43000 + i], server: ['10.4.1.20', 443] }).open();
      c.sendOutOfOrder('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello), [120, 150], k.order);
      c.send('s', tls13ServerFlight(510 + i));
      tlsFinish(c, 520 + i, true);
      flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0304 }, { about: k.about });
    });
  }, {
    tsharkOptions: {
      args: ['-o', 'tcp.reassemble_out_of_order:TRUE'],
      why: 'tshark 4.0 by default does not reassemble a PDU whose third segment came before the second, even when the third is sent again; with out-of-order reassembly on it reads what the spec reads',
    },
  });

  // 10,000 extensions: a 40 kB ClientHello, whole only with dissectBytes >= its size
  b.add('tls-10000-extensions.pcap', 'A ClientHello with 10,000 extensions (40 kB, three TLS records); the default dissectBytes (4096) never holds it whole', (cap, flow) => {
    const extensions = [T.ext.sni('many.example.com'), T.ext.alpn(['h2']), T.ext.signatureAlgorithms([0x0403, 0x0804]), T.ext.supportedVersions([0x0304, 0x0303])];
    for (let t = 0x1000; extensions.length < 10000; t++) if ((t & 0x0f0f) !== 0x0a0a) extensions.push(T.ext.raw(t)); // no GREASE values
    const hello = T.clientHello({ version: 0x0303, random: T.filler(32, 600), ciphers: [0x1301, 0x1302], extensions });
    const c = cap.tcp({ client: ['10.4.2.10', 44000], server: ['10.4.2.20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello), { mss: 1448 });
    c.send('s', tls13ServerFlight(610));
    tlsFinish(c, 620, true);
    flow(c, { application: 'tls', tlsVersion: 0x0304 }, {
      about: '10,000 extensions',
      expectWith: { dissectBytes: 65535, expect: { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0304 } },
      tsharkDiffers: { sni: 'the ClientHello (40 kB) is larger than dissectBytes (4096): the engines never see it whole', alpn: 'as sni', ja4: 'as sni', ja3: 'as sni' },
    });
  });
}

function quicCaptures(b) {
  const transportParams = [[0x04, Buffer.from([0x80, 0x10, 0x00, 0x00])], [0x01, Buffer.from([0x80, 0x00, 0x75, 0x30])], [0x0f, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])]];
  /** A client Initial flight (one or more datagrams) and the server's Initial with a ServerHello. */
  const quicFlow = (cap, { version, client, server, sni, tag, cuts = null, reorder = false, badFirst = false, serverReply = true }) => {
    const dcid = T.filler(8, tag), scid = T.filler(8, tag + 1), serverCid = T.filler(8, tag + 2);
    const hello = T.browserClientHello({ sni, alpn: ['h3'], greaseIndex: tag % 16, tag, quicParams: transportParams, legacyVersions: false });
    const c = cap.udp({ client, server });
    let frames;
    if (cuts) frames = cryptoFrames(hello, cuts).map((f) => [f]);
    else if (reorder) frames = [[cryptoFrame(200, hello.subarray(200)), cryptoFrame(0, hello.subarray(0, 200))]];
    else frames = [[cryptoFrame(0, hello)]];
    let pn = 0;
    if (badFirst) c.datagram('c', initialPacket({ version, dcid, scid, pn: pn++, frames: frames[0], pad: 1200, badTag: true }));
    for (const f of frames) c.datagram('c', initialPacket({ version, dcid, scid, pn: pn++, frames: f, pad: 1200 }));
    if (serverReply) {
      const sh = T.serverHello({ version: 0x0303, random: T.filler(32, tag + 3), cipher: 0x1301, extensions: [T.ext.serverKeyShare(0x001d, T.filler(32, tag + 4)), T.ext.selectedVersion(0x0304)] });
      c.datagram('s', initialPacket({ version, dcid: scid, scid: serverCid, keyDcid: dcid, side: 'server', pn: 0, frames: [ackFrame(pn - 1), cryptoFrame(0, sh)], pad: 1200 }));
      c.datagram('c', initialPacket({ version, dcid: serverCid, scid, keyDcid: dcid, pn, frames: [ackFrame(0)], pad: 1200 }));
    }
    return { c, hello };
  };
  const expectQuic = (hello) => ({ application: 'quic', ...helloExpect(hello, 'q'), tlsVersion: 0x0304 });

  b.add('quic.pcap', 'QUIC v1 and v2 Initial packets encrypted as RFC 9001 / RFC 9369 say; a ClientHello over two Initials; CRYPTO frames out of order (IPv6)', (cap, flow) => {
    let r = quicFlow(cap, { version: QUIC_V1, client: ['10.5.0.10', 51000], server: ['10.5.0.20', 443], sni: 'quic.example.net', tag: 700 });
    flow(r.c, expectQuic(r.hello), { about: 'QUIC v1' });
    r = quicFlow(cap, { version: QUIC_V2, client: ['10.5.0.10', 51001], server: ['10.5.0.20', 443], sni: 'v2.example.net', tag: 710 });
    flow(r.c, expectQuic(r.hello), { about: 'QUIC v2' });
    r = quicFlow(cap, { version: QUIC_V1, client: ['10.5.0.10', 51002], server: ['10.5.0.21', 443], sni: 'split.quic.example.net', tag: 720, cuts: [150] });
    flow(r.c, expectQuic(r.hello), { about: 'ClientHello CRYPTO data over two Initial packets' });
    r = quicFlow(cap, { version: QUIC_V1, client: ['2001:db8:5::10', 51003], server: ['2001:db8:5::20', 8443], sni: 'six.quic.example.net', tag: 730, reorder: true });
    flow(r.c, expectQuic(r.hello), { about: 'IPv6, port 8443, CRYPTO frames in reverse order' });
  }, { decodeAs: ['udp.port==8443,quic'] });

  b.add('quic-bad-tag.pcap', 'QUIC Initials whose AEAD tag is wrong: alone, and followed by a good one', (cap, flow) => {
    const dcid = T.filler(8, 740), scid = T.filler(8, 741);
    const hello = T.browserClientHello({ sni: 'bad-tag.example.net', alpn: ['h3'], greaseIndex: 1, tag: 742, quicParams: transportParams, legacyVersions: false });
    const c = cap.udp({ client: ['10.5.1.10', 52000], server: ['10.5.1.20', 443] });
    c.datagram('c', initialPacket({ version: QUIC_V1, dcid, scid, pn: 0, frames: [cryptoFrame(0, hello)], pad: 1200, badTag: true }));
    flow(c, {}, { about: 'only a bad tag: nothing decrypts' });
    const r = quicFlow(cap, { version: QUIC_V1, client: ['10.5.1.10', 52001], server: ['10.5.1.20', 443], sni: 'second.example.net', tag: 750, badFirst: true });
    flow(r.c, expectQuic(r.hello), { about: 'a bad tag, then the same Initial with a good one' });
  }, { malformed: true });
}

function dnsCaptures(b) {
  b.add('dns.pcap', 'DNS over UDP and TCP: A with CNAME, AAAA, NXDOMAIN, an MX answer (no address), two A answers over TCP', (cap, flow) => {
    const resolver = '10.6.0.53';
    const udp = (port, q, r, about, expect) => {
      const c = cap.udp({ client: ['10.6.0.10', port], server: [resolver, 53] });
      c.datagram('c', dnsMessage(q)); c.datagram('s', dnsMessage(r));
      flow(c, { application: 'dns', ...expect }, { about });
    };
    const qA = { id: 0x1a2b, rd: true, questions: [{ name: 'www.example.com', type: TYPE.A }] };
    udp(53001, qA, { ...qA, qr: true, ra: true, answers: [
      { name: 'www.example.com', type: TYPE.CNAME, data: 'edge.example.net' },
      { name: 'edge.example.net', type: TYPE.A, data: '93.184.216.34' }, { name: 'edge.example.net', type: TYPE.A, data: '93.184.216.35' }] },
    'A via CNAME', { dnsQuery: 'www.example.com', dnsQtype: 1, dnsRcode: 0, dnsAnswers: 3, dnsAnswer: '93.184.216.34' });
    const qAAAA = { id: 0x2b3c, rd: true, questions: [{ name: 'ipv6.example.com', type: TYPE.AAAA }] };
    udp(53002, qAAAA, { ...qAAAA, qr: true, ra: true, answers: [{ name: 'ipv6.example.com', type: TYPE.AAAA, data: '2001:db8::1234' }] },
      'AAAA', { dnsQuery: 'ipv6.example.com', dnsQtype: 28, dnsRcode: 0, dnsAnswers: 1, dnsAnswer: '2001:db8::1234' });
    const label = (n) => Buffer.concat([...n.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
    const soa = Buffer.concat([label('ns.example.com'), label('hostmaster.example.com'), Buffer.from([0x78, 0x49, 0x5e, 0x01, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10, 0, 0x12, 0x75, 0, 0, 0, 0x01, 0x2c])]);
    const qNx = { id: 0x3c4d, rd: true, questions: [{ name: 'nosuch.example.com', type: TYPE.A }] };
    udp(53003, qNx, { ...qNx, qr: true, ra: true, rcode: RCODE.NXDOMAIN, authority: [{ name: 'example.com', type: TYPE.SOA, rdata: soa }] },
    'NXDOMAIN', { dnsQuery: 'nosuch.example.com', dnsQtype: 1, dnsRcode: 3, dnsAnswers: 0 });
    const qMx = { id: 0x4d5e, rd: true, questions: [{ name: 'example.com', type: TYPE.MX }] };
    udp(53004, qMx, { ...qMx, qr: true, ra: true, answers: [{ name: 'example.com', type: TYPE.MX, rdata: Buffer.from([0, 10, 4, 0x6d, 0x61, 0x69, 0x6c, 0xc0, 0x0c]) }],
      additional: [{ name: 'mail.example.com', type: TYPE.A, data: '192.0.2.25' }] },
    'MX answer, the address only in the additional section', { dnsQuery: 'example.com', dnsQtype: 15, dnsRcode: 0, dnsAnswers: 1 });
    const c = cap.tcp({ client: ['10.6.0.10', 53005], server: [resolver, 53] }).open();
    const qT = { id: 0x5e6f, rd: true, questions: [{ name: 'tcp.example.com', type: TYPE.A }] };
    c.send('c', dnsTcp(dnsMessage(qT)));
    c.send('s', dnsTcp(dnsMessage({ ...qT, qr: true, ra: true, answers: [{ name: 'tcp.example.com', type: TYPE.A, data: '198.51.100.7' }, { name: 'tcp.example.com', type: TYPE.A, data: '198.51.100.8' }] })));
    c.close();
    flow(c, { application: 'dns', dnsQuery: 'tcp.example.com', dnsQtype: 1, dnsRcode: 0, dnsAnswers: 2, dnsAnswer: '198.51.100.7' }, { about: 'DNS over TCP' });
  });

  b.add('mdns-llmnr.pcap', 'mDNS and LLMNR queries and responses (A, AAAA, AAAA before A, IPv6)', (cap, flow) => {
    let c = cap.udp({ client: ['10.6.1.10', 5353], server: ['224.0.0.251', 5353] });
    c.datagram('c', dnsMessage({ questions: [{ name: 'printer.local', type: TYPE.A, class: 0x8001 }] }));
    flow(c, { application: 'mdns', dnsQuery: 'printer.local', dnsQtype: 1 }, { about: 'mDNS query (QU)' });
    c = cap.udp({ client: ['10.6.1.30', 5353], server: ['10.6.1.10', 5353] });
    c.datagram('c', dnsMessage({ qr: true, aa: true, questions: [{ name: 'printer.local', type: TYPE.A, class: 0x8001 }],
      answers: [{ name: 'printer.local', type: TYPE.A, class: 0x8001, ttl: 120, data: '10.6.1.30' }, { name: 'printer.local', type: TYPE.AAAA, class: 0x8001, ttl: 120, data: 'fe80::30' }] }));
    flow(c, { application: 'mdns', dnsQuery: 'printer.local', dnsQtype: 1, dnsRcode: 0, dnsAnswers: 2, dnsAnswer: '10.6.1.30' }, { about: 'mDNS unicast response' });
    c = cap.udp({ client: ['10.6.1.31', 5353], server: ['224.0.0.251', 5353] });
    c.datagram('c', dnsMessage({ qr: true, aa: true, answers: [{ name: 'nas.local', type: TYPE.AAAA, class: 0x8001, ttl: 120, data: 'fe80::31' }, { name: 'nas.local', type: TYPE.A, class: 0x8001, ttl: 120, data: '10.6.1.31' }] }));
    flow(c, { application: 'mdns', dnsRcode: 0, dnsAnswers: 2, dnsAnswer: 'fe80::31' }, { about: 'mDNS announcement, no question, AAAA first' });
    c = cap.udp({ client: ['10.6.1.10', 53010], server: ['224.0.0.252', 5355] });
    c.datagram('c', dnsMessage({ id: 0x0101, questions: [{ name: 'fileserver', type: TYPE.A }] }));
    flow(c, { application: 'llmnr', dnsQuery: 'fileserver', dnsQtype: 1 }, { about: 'LLMNR query (multicast)' });
    c = cap.udp({ client: ['10.6.1.40', 5355], server: ['10.6.1.10', 53010] });
    c.datagram('c', dnsMessage({ id: 0x0101, qr: true, questions: [{ name: 'fileserver', type: TYPE.A }], answers: [{ name: 'fileserver', type: TYPE.A, ttl: 30, data: '10.6.1.40' }] }));
    flow(c, { application: 'llmnr', dnsQuery: 'fileserver', dnsQtype: 1, dnsRcode: 0, dnsAnswers: 1, dnsAnswer: '10.6.1.40' }, { about: 'LLMNR response (unicast)' });
    c = cap.udp({ client: ['fe80::10', 53011], server: ['fe80::40', 5355] });
    c.datagram('c', dnsMessage({ id: 0x0202, questions: [{ name: 'nas', type: TYPE.AAAA }] }));
    c.datagram('s', dnsMessage({ id: 0x0202, qr: true, questions: [{ name: 'nas', type: TYPE.AAAA }], answers: [{ name: 'nas', type: TYPE.AAAA, ttl: 30, data: 'fe80::40' }] }));
    flow(c, { application: 'llmnr', dnsQuery: 'nas', dnsQtype: 28, dnsRcode: 0, dnsAnswers: 1, dnsAnswer: 'fe80::40' }, { about: 'LLMNR over IPv6, unicast query and response' });
  });
}

function textCaptures(b) {
  b.add('http.pcap', 'HTTP/1.x requests and responses: GET on 80, POST on 8081 with lower-case headers and padded values, HTTP/1.0 HEAD without Host, a request in three segments', (cap, flow) => {
    const ua = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
    let c = cap.tcp({ client: ['10.7.0.10', 45000], server: ['10.7.0.20', 80] }).open();
    c.send('c', Buffer.from(`GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: ${ua}\r\nAccept: text/html\r\n\r\n`));
    const body = 'x'.repeat(600);
    c.send('s', Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
    c.close();
    flow(c, { application: 'http', httpMethod: 'GET', httpHost: 'www.example.com', userAgent: ua, httpStatus: 200 }, { about: 'GET, 200' });

    c = cap.tcp({ client: ['10.7.0.10', 45001], server: ['10.7.0.21', 8081] }).open();
    c.send('c', Buffer.from('POST /api/upload HTTP/1.1\r\nhost:  api.example.com\r\nuser-agent:\tcurl/8.5.0\r\ncontent-length: 5\r\n\r\nhello'));
    c.send('s', Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'));
    c.close();
    flow(c, { application: 'http', httpMethod: 'POST', httpHost: 'api.example.com', userAgent: 'curl/8.5.0', httpStatus: 404 }, { about: 'POST on 8081, lower-case names, value padding' });

    c = cap.tcp({ client: ['10.7.0.10', 45002], server: ['10.7.0.20', 80] }).open();
    c.send('c', Buffer.from('HEAD /status HTTP/1.0\r\nAccept: */*\r\n\r\n'));
    c.send('s', Buffer.from('HTTP/1.0 301 Moved Permanently\r\nLocation: http://www.example.com/\r\n\r\n'));
    c.close();
    flow(c, { application: 'http', httpMethod: 'HEAD', httpStatus: 301 }, { about: 'HTTP/1.0, no Host' });

    c = cap.tcp({ client: ['10.7.0.10', 45003], server: ['10.7.0.20', 80] }).open();
    c.send('c', Buffer.from('GET /a/long/path?query=1 HTTP/1.1\r\nHost: split.example.com\r\nUser-Agent: Wget/1.21.3\r\nAccept: */*\r\nConnection: close\r\n\r\n'), { split: [20, 40] });
    c.send('s', Buffer.from('HTTP/1.1 304 Not Modified\r\nETag: "abc"\r\n\r\n'));
    c.close();
    flow(c, { application: 'http', httpMethod: 'GET', httpHost: 'split.example.com', userAgent: 'Wget/1.21.3', httpStatus: 304 }, { about: 'a request in three segments' });
  }, { decodeAs: ['tcp.port==8081,http'] });

  b.add('ssh.pcap', 'SSH banners: server first on 22, client first on 2222 with a banner ended by LF alone', (cap, flow) => {
    const kexinit = (tag) => {
      const payload = Buffer.concat([Buffer.from([20]), T.filler(16, tag), Buffer.from([0, 0, 0, 10]), Buffer.from('curve25519'), Buffer.alloc(4 * 9), Buffer.from([0, 0, 0, 0, 0])]);
      const pad = 8 - ((payload.length + 5) % 8) + 8;
      const len = Buffer.alloc(4); len.writeUInt32BE(payload.length + pad + 1);
      return Buffer.concat([len, Buffer.from([pad]), payload, Buffer.alloc(pad)]);
    };
    let c = cap.tcp({ client: ['10.7.1.10', 46000], server: ['10.7.1.20', 22] }).open();
    c.send('s', Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n'));
    c.send('c', Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'));
    c.send('c', kexinit(1)); c.send('s', kexinit(2));
    c.close();
    flow(c, { application: 'ssh', sshClient: 'SSH-2.0-OpenSSH_9.6', sshServer: 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3' }, { about: 'server banner first' });
    c = cap.tcp({ client: ['10.7.1.10', 46001], server: ['10.7.1.21', 2222] }).open();
    c.send('c', Buffer.from('SSH-2.0-PuTTY_Release_0.80\r\n'));
    c.send('s', Buffer.from('SSH-2.0-dropbear_2022.83\n'));
    c.send('c', kexinit(3)); c.send('s', kexinit(4));
    c.close();
    flow(c, { application: 'ssh', sshClient: 'SSH-2.0-PuTTY_Release_0.80', sshServer: 'SSH-2.0-dropbear_2022.83' }, { about: 'port 2222, client first, LF-only banner' });
  }, { decodeAs: ['tcp.port==2222,ssh'] });
}

function industrialCaptures(b) {
  b.add('modbus.pcap', 'Modbus/TCP: read holding registers on 502, write multiple registers on 5020, an exception response', (cap, flow) => {
    let c = cap.tcp({ client: ['10.8.0.10', 47000], server: ['10.8.0.20', 502] }).open();
    c.send('c', I.modbus({ transactionId: 1, functionCode: 3, data: Buffer.from([0x00, 0x00, 0x00, 0x0a]) }));
    c.send('s', I.modbus({ transactionId: 1, functionCode: 3, data: Buffer.concat([Buffer.from([20]), T.filler(20, 1)]) }));
    c.close();
    flow(c, { application: 'modbus', appCode: 3 }, { about: 'read holding registers' });
    c = cap.tcp({ client: ['10.8.0.10', 47001], server: ['10.8.0.21', 5020] }).open();
    c.send('c', I.modbus({ transactionId: 7, unitId: 17, functionCode: 16, data: Buffer.from([0x00, 0x10, 0x00, 0x02, 0x04, 0x00, 0x0a, 0x01, 0x02]) }));
    c.send('s', I.modbus({ transactionId: 7, unitId: 17, functionCode: 16, data: Buffer.from([0x00, 0x10, 0x00, 0x02]) }));
    c.close();
    flow(c, { application: 'modbus', appCode: 16 }, { about: 'write multiple registers on 5020' });
    c = cap.tcp({ client: ['10.8.0.10', 47002], server: ['10.8.0.20', 502] }).open();
    c.send('c', I.modbus({ transactionId: 9, functionCode: 1, data: Buffer.from([0x27, 0x10, 0x00, 0x08]) }));
    c.send('s', I.modbus({ transactionId: 9, functionCode: 0x81, data: Buffer.from([0x02]) }));
    c.close();
    flow(c, { application: 'modbus', appCode: 1 }, { about: 'read coils, exception response' });
  }, { decodeAs: ['tcp.port==5020,mbtcp'] });

  b.add('dnp3.pcap', 'DNP3 over TCP and UDP 20000 with valid CRCs: a read and its multi-block response, an unsolicited response, a link status request first', (cap, flow) => {
    let c = cap.tcp({ client: ['10.8.1.10', 48000], server: ['10.8.1.20', 20000] }).open();
    c.send('c', I.dnp3Frame({ control: 0xc4, destination: 10, source: 1, userData: I.dnp3Application({ seq: 1, functionCode: 1, objects: Buffer.from([0x3c, 0x01, 0x06]) }) }));
    const analog = Buffer.concat([Buffer.from([0x1e, 0x01, 0x00, 0x00, 0x04]), T.filler(25, 3)]);
    c.send('s', I.dnp3Frame({ control: 0x44, destination: 1, source: 10, userData: I.dnp3Application({ seq: 1, functionCode: 0x81, objects: Buffer.concat([Buffer.from([0x00, 0x00]), analog]) }) }));
    c.close();
    flow(c, { application: 'dnp3', appCode: 1 }, { about: 'read class 0, response over several CRC blocks' });
    c = cap.udp({ client: ['10.8.1.21', 20000], server: ['10.8.1.10', 20000] });
    c.datagram('c', I.dnp3Frame({ control: 0x44, destination: 1, source: 11, userData: I.dnp3Application({ seq: 0, appControl: 0xf0, functionCode: 0x82, objects: Buffer.from([0x00, 0x00]) }) }));
    c.datagram('s', I.dnp3Frame({ control: 0xc4, destination: 11, source: 1, userData: I.dnp3Application({ seq: 0, appControl: 0xd0, functionCode: 0x00 }) }));
    flow(c, { application: 'dnp3', appCode: 130 }, { about: 'UDP, unsolicited response first' });
    c = cap.tcp({ client: ['10.8.1.10', 48001], server: ['10.8.1.22', 20000] }).open();
    c.send('c', I.dnp3Frame({ control: 0xc9, destination: 12, source: 1 }));
    c.send('s', I.dnp3Frame({ control: 0x0b, destination: 1, source: 12 }));
    c.send('c', I.dnp3Frame({ control: 0xc4, destination: 12, source: 1, userData: I.dnp3Application({ seq: 2, functionCode: 1, objects: Buffer.from([0x3c, 0x02, 0x06]) }) }));
    c.close();
    flow(c, { application: 'dnp3', appCode: 1 }, { about: 'link status request before the first application function' });
  }, { decodeAs: [] });

  b.add('iso-tsap.pcap', 'TCP 102: S7comm setup communication, IEC 61850 MMS associate (session CONNECT/ACCEPT), S7comm-plus, and S7comm on 10102', (cap, flow) => {
    const s7 = (client, server) => {
      const c = cap.tcp({ client, server }).open();
      c.send('c', I.tpkt(I.cotpConnect({ srcTsap: Buffer.from([0x01, 0x00]), dstTsap: Buffer.from([0x01, 0x02]) })));
      c.send('s', I.tpkt(I.cotpConnect({ confirm: true, dstRef: 1, srcRef: 0x44, srcTsap: Buffer.from([0x01, 0x02]), dstTsap: Buffer.from([0x01, 0x00]) })));
      c.send('c', I.tpkt(I.cotpData(I.s7comm({ rosctr: 1, pduRef: 0x0400, parameter: I.s7SetupCommunication(480) }))));
      c.send('s', I.tpkt(I.cotpData(I.s7comm({ rosctr: 3, pduRef: 0x0400, parameter: I.s7SetupCommunication(240) }))));
      c.close();
      return c;
    };
    flow(s7(['10.9.0.10', 49000], ['10.9.0.20', 102]), { application: 's7comm', appCode: 1 }, { about: 'S7comm on 102' });
    let c = cap.tcp({ client: ['10.9.0.10', 49001], server: ['10.9.0.21', 102] }).open();
    c.send('c', I.tpkt(I.cotpConnect({ srcTsap: Buffer.from([0x00, 0x01]), dstTsap: Buffer.from([0x00, 0x01]) })));
    c.send('s', I.tpkt(I.cotpConnect({ confirm: true, dstRef: 1, srcRef: 0x45, srcTsap: Buffer.from([0x00, 0x01]), dstTsap: Buffer.from([0x00, 0x01]) })));
    c.send('c', I.tpkt(I.cotpData(I.mmsAssociate())));
    c.send('s', I.tpkt(I.cotpData(I.mmsAssociate({ response: true }))));
    c.close();
    flow(c, { application: 'mms' }, { about: 'MMS initiate over ISO session/presentation/ACSE' });
    c = cap.tcp({ client: ['10.9.0.10', 49002], server: ['10.9.0.22', 102] }).open();
    c.send('c', I.tpkt(I.cotpConnect({ srcTsap: Buffer.from([0x01, 0x00]), dstTsap: Buffer.from('SIMATIC-ROOT-HMI') })));
    c.send('s', I.tpkt(I.cotpConnect({ confirm: true, dstRef: 1, srcRef: 0x46, srcTsap: Buffer.from('SIMATIC-ROOT-HMI'), dstTsap: Buffer.from([0x01, 0x00]) })));
    c.send('c', I.tpkt(I.cotpData(Buffer.concat([Buffer.from([0x72, 0x01, 0x00, 0x1e]), T.filler(30, 9), Buffer.from([0x72, 0x01, 0x00, 0x00])]))));
    c.send('s', I.tpkt(I.cotpData(Buffer.concat([Buffer.from([0x72, 0x01, 0x00, 0x10]), T.filler(16, 10), Buffer.from([0x72, 0x01, 0x00, 0x00])]))));
    c.close();
    flow(c, { application: 's7comm-plus' }, { about: 'S7comm-plus (0x72)', tsharkDiffers: { application: 'Wireshark 4.0 has no S7comm-plus dissector (it shows COTP data)' } });
    flow(s7(['10.9.0.10', 49003], ['10.9.0.23', 10102]), { application: 's7comm', appCode: 1 }, { about: 'S7comm on 10102' });
  }, { decodeAs: ['tcp.port==10102,tpkt'] });

  b.add('enip.pcap', 'EtherNet/IP: RegisterSession over TCP 44818, ListIdentity over UDP 44818', (cap, flow) => {
    let c = cap.tcp({ client: ['10.10.0.10', 50100], server: ['10.10.0.20', 44818] }).open();
    c.send('c', I.enip({ command: 0x65, context: T.filler(8, 1), data: Buffer.from([1, 0, 0, 0]) }));
    c.send('s', I.enip({ command: 0x65, session: 0x12345678, context: T.filler(8, 1), data: Buffer.from([1, 0, 0, 0]) }));
    c.close();
    flow(c, { application: 'enip', appCode: 0x65 }, { about: 'RegisterSession' });
    c = cap.udp({ client: ['10.10.0.10', 50101], server: ['10.10.0.21', 44818] });
    c.datagram('c', I.enip({ command: 0x63, context: T.filler(8, 2) }));
    const name = Buffer.from('1756-ENBT/A');
    const item = Buffer.concat([
      Buffer.from([0x01, 0x00]), // encapsulation protocol version
      Buffer.from([0x00, 0x02, 0xaf, 0x12, 10, 10, 0, 21]), Buffer.alloc(8), // socket address (big-endian): AF_INET, 44818, 10.10.0.21
      Buffer.from([0x01, 0x00, 0x0c, 0x00, 0x36, 0x00, 0x02, 0x06, 0x30, 0x00, 0x78, 0x56, 0x34, 0x12]), // vendor, device type, product, revision, status, serial
      Buffer.from([name.length]), name, Buffer.from([0x03]),
    ]);
    const identity = Buffer.concat([Buffer.from([0x01, 0x00, 0x0c, 0x00, item.length & 0xff, item.length >> 8]), item]);
    c.datagram('s', I.enip({ command: 0x63, context: T.filler(8, 2), data: identity }));
    flow(c, { application: 'enip', appCode: 0x63 }, { about: 'ListIdentity over UDP' });
  });

  b.add('bacnet.pcap', 'BACnet/IP: Who-Is broadcast, I-Am, a unicast confirmed request on 47809', (cap, flow) => {
    let c = cap.udp({ client: ['10.11.0.10', 47808], server: ['10.11.0.255', 47808] });
    c.datagram('c', I.bvlc({ fn: 0x0b, npdu: I.bacnetNpdu({ control: 0x00, apdu: I.bacnetWhoIs() }) }));
    flow(c, { application: 'bacnet', appCode: 0x0b }, { about: 'Who-Is, Original-Broadcast-NPDU' });
    c = cap.udp({ client: ['10.11.0.20', 47808], server: ['10.11.0.10', 47808] });
    c.datagram('c', I.bvlc({ fn: 0x0a, npdu: I.bacnetNpdu({ control: 0x00, apdu: I.bacnetIAm(1234) }) }));
    flow(c, { application: 'bacnet', appCode: 0x0a }, { about: 'I-Am, Original-Unicast-NPDU' });
    c = cap.udp({ client: ['10.11.0.10', 47809], server: ['10.11.0.30', 47809] });
    c.datagram('c', I.bvlc({ fn: 0x0a, npdu: I.bacnetNpdu({ control: 0x04, apdu: Buffer.from([0x00, 0x05, 0x01, 0x0c, 0x0c, 0x02, 0x00, 0x04, 0xd2, 0x19, 0x55]) }) }));
    c.datagram('s', I.bvlc({ fn: 0x0a, npdu: I.bacnetNpdu({ control: 0x00, apdu: Buffer.from([0x30, 0x01, 0x0c, 0x0c, 0x02, 0x00, 0x04, 0xd2, 0x19, 0x55, 0x3e, 0x44, 0x42, 0x28, 0x00, 0x00, 0x3f]) }) }));
    flow(c, { application: 'bacnet', appCode: 0x0a }, { about: 'ReadProperty on 47809' });
  }, { decodeAs: ['udp.port==47809,bvlc'] });

  b.add('iec104.pcap', 'IEC 60870-5-104: STARTDT, interrogation, S-frame on 2404; TESTFR on 12404', (cap, flow) => {
    let c = cap.tcp({ client: ['10.12.0.10', 51500], server: ['10.12.0.20', 2404] }).open();
    c.send('c', I.iec104U(0x07)); c.send('s', I.iec104U(0x0b));
    c.send('c', I.iec104I({ send: 0, recv: 0, asdu: I.iec104Interrogation(1) }));
    c.send('s', I.iec104I({ send: 0, recv: 1, asdu: Buffer.from([100, 0x01, 0x07, 0x00, 0x01, 0x00, 0, 0, 0, 0x14]) }));
    c.send('c', I.iec104S(1));
    c.close();
    flow(c, { application: 'iec104' }, { about: 'STARTDT, interrogation' });
    c = cap.tcp({ client: ['10.12.0.10', 51501], server: ['10.12.0.21', 12404] }).open();
    c.send('c', I.iec104U(0x43)); c.send('s', I.iec104U(0x83));
    c.close();
    flow(c, { application: 'iec104' }, { about: 'TESTFR on 12404' });
  }, { decodeAs: ['tcp.port==12404,iec60870_104'] });

  b.add('opcua.pcap', 'OPC UA binary: HEL, ACK, OPN, MSG on 4840; HEL/ACK on 48400', (cap, flow) => {
    let c = cap.tcp({ client: ['10.13.0.10', 52500], server: ['10.13.0.20', 4840] }).open();
    const url = 'opc.tcp://10.13.0.20:4840/';
    c.send('c', I.opcuaHello(url)); c.send('s', I.opcuaAck());
    c.send('c', I.opcuaOpen()); c.send('c', I.opcuaGetEndpoints(url));
    c.close();
    flow(c, { application: 'opcua' }, { about: 'HEL, ACK, OPN, MSG' });
    c = cap.tcp({ client: ['10.13.0.10', 52501], server: ['10.13.0.21', 48400] }).open();
    c.send('c', I.opcuaHello('opc.tcp://plc.example.com:48400')); c.send('s', I.opcuaAck());
    c.close();
    flow(c, { application: 'opcua' }, { about: 'HEL, ACK on 48400' });
  }, { decodeAs: ['tcp.port==48400,opcua'] });

  b.add('mqtt.pcap', 'MQTT CONNECT/CONNACK/PUBLISH: 3.1.1 and 5.0 on 1883, 3.1 (MQIsdp) on 11883', (cap, flow) => {
    [[4, 1883, 53500], [5, 1883, 53501], [3, 11883, 53502]].forEach(([level, port, cport], i) => {
      const c = cap.tcp({ client: ['10.14.0.10', cport], server: [`10.14.0.${20 + i}`, port] }).open();
      c.send('c', I.mqttConnect({ level, clientId: `sensor-${i}` }));
      c.send('s', I.mqttConnack(level));
      c.send('c', I.mqttPublish('plant/line1/temperature', '21.5', level));
      c.close();
      flow(c, { application: 'mqtt', appCode: level }, { about: `MQTT protocol level ${level} on ${port}` });
    });
  }, { decodeAs: ['tcp.port==11883,mqtt'] });
}

function malformedCaptures(b) {
  b.add('malformed-tls.pcap', 'ClientHellos whose lengths overrun (extensions, cipher suites, SNI, handshake), a truncated certificate, a record longer than the flow, a ClientHello cut by the snapshot length', (cap, flow) => {
    const good = (i) => T.browserClientHello({ sni: `bad${i}.example.com`, alpn: ['h2'], greaseIndex: null, tag: 800 + i });
    const serverCloses = (c) => { c.send('s', tls13ServerFlight(890)); c.close(); };
    // A: the extensions block claims 100 bytes more than there are (the message length agrees with it)
    const a = good(0);
    const extLenAt = 4 + 2 + 32 + 1 + a[4 + 2 + 32] + 2 + a.readUInt16BE(4 + 2 + 32 + 1 + a[38]) + 1 + 1;
    const a2 = Buffer.from(a); a2.writeUInt16BE(a.readUInt16BE(extLenAt) + 100, extLenAt);
    let c = cap.tcp({ client: ['10.15.0.10', 54000], server: ['10.15.0.20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, a2)); serverCloses(c);
    flow(c, { application: 'tls', tlsVersion: 0x0304 }, { about: 'extensions length overruns the ClientHello', tsharkDiffers: { sni: 'tshark shows the extensions it read before the overrun; the spec writes no field of a malformed ClientHello', alpn: 'as sni', ja3: 'as sni', ja4: 'as sni (computed from the fields tshark shows)' } });
    // B: cipher suites length past the message
    const b2 = Buffer.from(good(1)); const csAt = 4 + 2 + 32 + 1 + b2[38]; b2.writeUInt16BE(0x2000, csAt);
    c = cap.tcp({ client: ['10.15.0.10', 54001], server: ['10.15.0.20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, b2)); serverCloses(c);
    flow(c, { application: 'tls', tlsVersion: 0x0304 }, { about: 'cipher suites length overruns', tsharkDiffers: { ja3: 'tshark computes JA3 of what it read; the spec writes no field of a malformed ClientHello', ja4: 'as ja3' } });
    // C: the SNI name length overruns its extension
    const sniHello = T.clientHello({ version: 0x0303, random: T.filler(32, 803), ciphers: [0x1301, 0xc02f],
      extensions: [{ type: 0, data: Buffer.concat([Buffer.from([0x00, 0x12, 0x00, 0x00, 0x40]), Buffer.from('bad2.example.com')]) }, T.ext.alpn(['h2']), T.ext.supportedVersions([0x0304])] });
    c = cap.tcp({ client: ['10.15.0.10', 54002], server: ['10.15.0.20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, sniHello)); serverCloses(c);
    flow(c, { application: 'tls', tlsVersion: 0x0304 }, { about: 'SNI name length overruns the extension', tsharkDiffers: { alpn: 'tshark reads the extensions after the bad one; the spec writes no field of a malformed ClientHello', ja3: 'as alpn', ja4: 'as alpn', sni: 'as alpn' } });
    // D: a certificate cut short: the server's flight ends inside the first certificate, before its subject
    const hello = tls12Hello({ sni: 'truncated.example.com', alpn: ['http/1.1'], tag: 804 });
    const cert = leaf({ C: 'US', O: 'Example Corp', CN: 'truncated.example.com' }, ['truncated.example.com'], 0x2010n);
    const certMsg = T.certificateMessage([cert, caCert]);
    const sh = T.serverHello({ version: 0x0303, random: T.filler(32, 806), cipher: 0xc02f, extensions: [T.ext.renegotiationInfo()] });
    const flight = Buffer.concat([T.record(T.CONTENT.HANDSHAKE, 0x0303, sh), T.records(T.CONTENT.HANDSHAKE, 0x0303, certMsg)]);
    const cutAt = flight.indexOf(cert) + 120; // inside the issuer name, before the subject
    c = cap.tcp({ client: ['10.15.0.10', 54003], server: ['10.15.0.21', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello));
    c.send('s', flight.subarray(0, cutAt));
    c.close();
    flow(c, { application: 'tls', ...helloExpect(hello), tlsVersion: 0x0303 }, { about: 'certificate cut inside its issuer name' });
    // E: a handshake record whose length runs past the end of the flow; the ClientHello inside is whole
    const e = good(5);
    c = cap.tcp({ client: ['10.15.0.10', 54004], server: ['10.15.0.20', 443] }).open();
    c.send('c', T.record(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, e, 16000));
    c.close();
    flow(c, { application: 'tls', ...helloExpect(e) }, { about: 'record length past the end of the flow, ClientHello whole inside', tsharkDiffers: { sni: 'tshark waits for the whole record; the spec reads a record cut by the buffer as far as it goes', alpn: 'as sni', ja3: 'as sni', ja4: 'as sni', application: 'as sni' } });
    // F: the ClientHello message claims 2000 bytes, 300 come
    const f = good(6); const f2 = Buffer.concat([Buffer.from([1, 0, 0x07, 0xd0]), f.subarray(4, 300)]);
    c = cap.tcp({ client: ['10.15.0.10', 54005], server: ['10.15.0.20', 443] }).open();
    c.send('c', T.record(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, f2));
    c.close();
    flow(c, { application: 'tls' }, { about: 'ClientHello length past its data', tsharkDiffers: { application: 'tshark waits for the rest of the ClientHello and names no handshake message; the spec needs only its first bytes' } });
    // G: the ClientHello's packet captured to 60 bytes of its payload only
    const g = good(7);
    c = cap.tcp({ client: ['10.15.0.10', 54006], server: ['10.15.0.20', 443] }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, g), { caplen: 60 });
    c.close();
    flow(c, { application: 'tls' }, { about: 'ClientHello packet cut by the snapshot length', tsharkDiffers: { application: 'tshark does not name a cut handshake record' } });
  }, { malformed: true });

  b.add('malformed-dns.pcap', 'DNS names with compression loops, a name over 255 bytes, a message cut after its header', (cap, flow) => {
    const header = (id, flags, qd, an) => { const h = Buffer.alloc(12); h.writeUInt16BE(id, 0); h.writeUInt16BE(flags, 2); h.writeUInt16BE(qd, 4); h.writeUInt16BE(an, 6); return h; };
    // A: the question's name is a pointer to itself
    let c = cap.udp({ client: ['10.16.0.10', 55000], server: ['10.16.0.53', 53] });
    c.datagram('c', Buffer.concat([header(1, 0x0100, 1, 0), Buffer.from([0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01])]));
    c.datagram('s', Buffer.concat([header(1, 0x8180, 1, 0), Buffer.from([0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01])]));
    flow(c, {}, { about: 'question name points to itself', tsharkDiffers: { application: 'tshark names the packets DNS (malformed); the spec matches a message only when its question parses' } });
    // B: the answer's name is a loop of two pointers; the question is fine
    const q = dnsMessage({ id: 2, rd: true, questions: [{ name: 'loop.example.com', type: TYPE.A }] });
    const answer = Buffer.concat([Buffer.from([0xc0, q.length + 2, 0xc0, q.length]), Buffer.from([0x00, 0x01, 0x00, 0x01, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1])]);
    const r = Buffer.concat([header(2, 0x8180, 1, 1), q.subarray(12), answer]);
    c = cap.udp({ client: ['10.16.0.10', 55001], server: ['10.16.0.53', 53] });
    c.datagram('c', q); c.datagram('s', r);
    flow(c, { application: 'dns', dnsQuery: 'loop.example.com', dnsQtype: 1, dnsRcode: 0, dnsAnswers: 1 }, { about: 'answer name in a two-pointer loop' });
    // C: a question name of 320 bytes
    const long = Array.from({ length: 5 }, (_, i) => String.fromCharCode(97 + i).repeat(63)).join('.');
    c = cap.udp({ client: ['10.16.0.10', 55002], server: ['10.16.0.53', 53] });
    c.datagram('c', dnsMessage({ id: 3, rd: true, questions: [{ name: long, type: TYPE.A }] }));
    flow(c, {}, { about: 'name over 255 bytes', tsharkDiffers: { application: 'tshark reads the long name; the spec calls a name over 255 bytes malformed' } });
    // D: header says one question, the message ends after the header
    c = cap.udp({ client: ['10.16.0.10', 55003], server: ['10.16.0.53', 53] });
    c.datagram('c', header(4, 0x0100, 1, 0));
    flow(c, {}, { about: 'cut after the header', tsharkDiffers: { application: 'tshark names the packet DNS (malformed)' } });
  }, { malformed: true });

  b.add('malformed-ics.pcap', 'A Modbus length past the data, a DNP3 header with a bad CRC', (cap, flow) => {
    let c = cap.tcp({ client: ['10.17.0.10', 56000], server: ['10.17.0.20', 502] }).open();
    c.send('c', Buffer.concat([I.modbus({ transactionId: 1, functionCode: 3, data: Buffer.from([0, 0, 0, 1]) }).subarray(0, 6), Buffer.from([1, 3])]).fill(200, 5, 6));
    c.close();
    flow(c, {}, { about: 'MBAP length 200, 2 bytes follow', tsharkDiffers: { application: 'tshark names a short Modbus/TCP PDU', appCode: 'as application' } });
    c = cap.tcp({ client: ['10.17.0.10', 56001], server: ['10.17.0.21', 20000] }).open();
    c.send('c', I.dnp3Frame({ control: 0xc4, destination: 10, source: 1, userData: I.dnp3Application({ seq: 1, functionCode: 1, objects: Buffer.from([0x3c, 0x01, 0x06]) }), badCrc: true }));
    c.close();
    flow(c, {}, { about: 'DNP3 header CRC wrong', tsharkDiffers: { application: 'tshark dissects DNP3 with a bad CRC (and marks it); the spec requires the CRC', appCode: 'as application' } });
  }, { malformed: true });
}

/**
 * A capture of ClientHellos given as handshake-message bytes: over TCP 443 (transport 't') or
 * in a QUIC v1 Initial (transport 'q'), one flow each. Returns [{ proto, client, server }] in order.
 */
export function writeHelloCapture(hellos, file) {
  const cap = new Capture();
  const flows = hellos.map(({ hello, transport }, i) => {
    const client = [`10.99.${i >> 8}.${(i & 0xff) + 1}`, 40000 + i], server = ['10.99.255.1', 443];
    if (transport === 'q') {
      const c = cap.udp({ client, server });
      c.datagram('c', initialPacket({ version: QUIC_V1, dcid: T.filler(8, 900 + i), scid: T.filler(8, 1900 + i), frames: cryptoFrames(hello, hello.length > 1100 ? [1100] : []).slice(0, 1), pad: 1200 }));
      if (hello.length > 1100) c.datagram('c', initialPacket({ version: QUIC_V1, dcid: T.filler(8, 900 + i), scid: T.filler(8, 1900 + i), pn: 1, frames: cryptoFrames(hello, [1100]).slice(1), pad: 1200 }));
      return { proto: 'udp', client, server };
    }
    const c = cap.tcp({ client, server }).open();
    c.send('c', T.records(T.CONTENT.HANDSHAKE, TLS_RECORD_VERSION, hello));
    c.close();
    return { proto: 'tcp', client, server };
  });
  cap.write(file);
  return flows;
}

/** Writes every capture and manifest.json into `dir` (or only builds the manifest without `dir`). */
export function generateAppCaptures(dir) {
  if (dir) mkdirSync(dir, { recursive: true });
  const b = new Builder(dir);
  tlsCaptures(b);
  quicCaptures(b);
  dnsCaptures(b);
  textCaptures(b);
  industrialCaptures(b);
  malformedCaptures(b);
  const manifest = { about: 'scripts/gen-app-pcaps.mjs: generated captures for docs/applications.md; expect = what the spec gives each flow', captures: b.captures };
  if (dir) writeFileSync(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  return manifest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir || dir === '-h' || dir === '--help') {
    process.stdout.write('usage: node scripts/gen-app-pcaps.mjs OUTDIR\n  writes the application test captures and manifest.json into OUTDIR\n');
    process.exitCode = dir ? 0 : 2;
  } else {
    const m = generateAppCaptures(dir);
    process.stderr.write(`gen-app-pcaps: ${m.captures.length} captures, ${m.captures.reduce((n, c) => n + c.flows.length, 0)} flows -> ${dir}\n`);
  }
}
