// The first application messages of a generated flow (gen-pcap --apps): a
// TLS, QUIC, HTTP, SSH or DNS exchange chosen by the flow's port, with names
// and versions drawn from a hash of the flow's index (no PRNG draws, so the
// rest of the capture stays as it was). No dependencies beyond node:crypto.

import { certificate } from './asn1.mjs';
import { dnsMessage, RCODE, TYPE } from './dns.mjs';
import { ackFrame, cryptoFrame, initialPacket, QUIC_V1, QUIC_V2 } from './quic.mjs';
import * as T from './tls.mjs';

/** The application a generated flow speaks on its server port, or null. */
export function applicationForPort(kind, port) {
  if (kind === 'tcp') {
    if (port === 443 || port === 8443 || port === 993) return 'tls';
    if (port === 80 || port === 8080 || port === 8000) return 'http';
    if (port === 2222) return 'ssh';
    return null;
  }
  if (kind === 'udp') {
    if (port === 443) return 'quic';
    if (port === 4433) return 'quic2';
    if (port === 53) return 'dns';
  }
  return null;
}

const NAMES = [
  'backup.example.com', 'www.example.com', 'api.example.com', 'cdn.example.net', 'mail.example.org', 'files.example.net',
  'login.example.com', 'static.example.org', 'updates.example.com', 'telemetry.example.net', 'git.example.org', 'wiki.example.com',
];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'curl/8.5.0', 'Wget/1.21.3', 'python-requests/2.31.0', 'Go-http-client/1.1',
];
const SSH_CLIENTS = ['SSH-2.0-OpenSSH_9.6', 'SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10', 'SSH-2.0-PuTTY_Release_0.80', 'SSH-2.0-paramiko_3.4.0'];
const SSH_SERVERS = ['SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3', 'SSH-2.0-OpenSSH_8.4', 'SSH-2.0-dropbear_2022.83'];

const CA = { C: 'US', O: 'Example Corp', CN: 'Example Issuing CA' };
const certs = new Map();
/** A leaf certificate for `name` (built once per name). */
function leafFor(name) {
  let c = certs.get(name);
  if (!c) {
    c = certificate({ subject: { C: 'US', O: 'Example Corp', CN: name }, issuer: CA, serial: BigInt(0x3000 + NAMES.indexOf(name)), key: T.filler(32, 0x3000 + NAMES.indexOf(name)), issuerKey: Buffer.alloc(32, 0xca), dnsNames: [name] });
    certs.set(name, c);
  }
  return c;
}

/** TLS: ClientHello (1.3-capable with GREASE, or 1.2 style), then the server's flight (1.3, or 1.2 with a certificate). */
function tls(h) {
  const name = NAMES[h % NAMES.length];
  const v12 = (h >>> 8) % 3 === 0;
  const hello = v12
    ? T.clientHello({
      version: 0x0303, random: T.filler(32, h), ciphers: [0xc02f, 0xc030, 0xc02b, 0xc02c, 0x009e, 0x009c, 0x002f, 0x0035, 0x00ff],
      extensions: [T.ext.sni(name), T.ext.ecPointFormats([0]), T.ext.supportedGroups([0x001d, 0x0017, 0x0018]), T.ext.sessionTicket(),
        T.ext.extendedMasterSecret(), T.ext.signatureAlgorithms([0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]), T.ext.alpn(['http/1.1'])],
    })
    : T.browserClientHello({ sni: name, alpn: ['h2', 'http/1.1'], greaseIndex: h & 15, tag: h });
  let flight;
  if (v12) {
    const hs = Buffer.concat([
      T.serverHello({ version: 0x0303, random: T.filler(32, h + 1), sessionId: T.filler(32, h + 2), cipher: 0xc02f, extensions: [T.ext.renegotiationInfo(), T.ext.ecPointFormats([0])] }),
      T.certificateMessage([leafFor(name)]), T.serverHelloDone(),
    ]);
    flight = T.records(T.CONTENT.HANDSHAKE, 0x0303, hs);
  } else {
    const sh = T.serverHello({ version: 0x0303, random: T.filler(32, h + 1), sessionId: T.filler(32, h + 200), cipher: 0x1301,
      extensions: [T.ext.serverKeyShare(0x001d, T.filler(32, h + 3)), T.ext.selectedVersion(0x0304)] });
    flight = Buffer.concat([T.record(T.CONTENT.HANDSHAKE, 0x0303, sh), T.record(T.CONTENT.CHANGE_CIPHER_SPEC, 0x0303, Buffer.from([1])),
      T.record(T.CONTENT.APPLICATION_DATA, 0x0303, T.filler(200, h + 4))]);
  }
  return [{ dir: 0, payload: T.records(T.CONTENT.HANDSHAKE, 0x0301, hello) }, { dir: 1, payload: flight }];
}

/** QUIC: the client's Initial with a ClientHello, the server's Initial with a ServerHello. */
function quic(h, version) {
  const name = NAMES[h % NAMES.length];
  const dcid = T.filler(8, h), scid = T.filler(8, h + 1), serverCid = T.filler(8, h + 2);
  const hello = T.browserClientHello({ sni: name, alpn: ['h3'], greaseIndex: h & 15, tag: h, legacyVersions: false,
    quicParams: [[0x04, Buffer.from([0x80, 0x10, 0x00, 0x00])], [0x01, Buffer.from([0x80, 0x00, 0x75, 0x30])], [0x0f, scid]] });
  const sh = T.serverHello({ version: 0x0303, random: T.filler(32, h + 3), cipher: 0x1301, extensions: [T.ext.serverKeyShare(0x001d, T.filler(32, h + 4)), T.ext.selectedVersion(0x0304)] });
  return [
    { dir: 0, payload: initialPacket({ version, dcid, scid, pn: 0, frames: [cryptoFrame(0, hello)], pad: 1200 }) },
    { dir: 1, payload: initialPacket({ version, dcid: scid, scid: serverCid, keyDcid: dcid, side: 'server', pn: 0, frames: [ackFrame(0), cryptoFrame(0, sh)] }) },
  ];
}

/** HTTP/1.1: a GET with Host and User-Agent, its response. */
function http(h) {
  const name = NAMES[h % NAMES.length];
  const agent = AGENTS[(h >>> 4) % AGENTS.length];
  const [code, reason] = [[200, 'OK'], [200, 'OK'], [304, 'Not Modified'], [404, 'Not Found'], [301, 'Moved Permanently']][(h >>> 8) % 5];
  const body = code === 200 ? '<html><body>example</body></html>\n' : '';
  return [
    { dir: 0, payload: Buffer.from(`GET /${['', 'index.html', 'api/v1/status', 'static/app.js'][(h >>> 12) % 4]} HTTP/1.1\r\nHost: ${name}\r\nUser-Agent: ${agent}\r\nAccept: */*\r\n\r\n`) },
    { dir: 1, payload: Buffer.from(`HTTP/1.1 ${code} ${reason}\r\nServer: nginx\r\nContent-Length: ${body.length}\r\n\r\n${body}`) },
  ];
}

/** SSH: the server's banner, then the client's. */
function ssh(h) {
  return [
    { dir: 1, payload: Buffer.from(`${SSH_SERVERS[h % SSH_SERVERS.length]}\r\n`) },
    { dir: 0, payload: Buffer.from(`${SSH_CLIENTS[(h >>> 4) % SSH_CLIENTS.length]}\r\n`) },
  ];
}

/** DNS: a query (A or AAAA) and its answer (one flow in ten NXDOMAIN). */
function dns(h) {
  const name = NAMES[h % NAMES.length];
  const v6 = (h >>> 4) % 4 === 0;
  const nx = (h >>> 8) % 10 === 0;
  const q = { id: h & 0xffff, rd: true, questions: [{ name: nx ? `nosuch${h % 100}.example.com` : name, type: v6 ? TYPE.AAAA : TYPE.A }] };
  const answers = nx ? [] : v6
    ? [{ name, type: TYPE.AAAA, data: `2001:db8:${(h >>> 12) & 0xff}::${(h & 0xff) + 1}` }]
    : [{ name, type: TYPE.A, data: `93.184.${(h >>> 12) & 0xff}.${(h % 254) + 1}` }, { name, type: TYPE.A, data: `93.184.${(h >>> 12) & 0xff}.${((h + 1) % 254) + 1}` }];
  return [{ dir: 0, payload: dnsMessage(q) }, { dir: 1, payload: dnsMessage({ ...q, qr: true, ra: true, rcode: nx ? RCODE.NXDOMAIN : 0, answers }) }];
}

/** The messages [{ dir: 0 client | 1 server, payload }] of application `app` for a flow hash `h`. */
export function flowMessages(app, h) {
  switch (app) {
    case 'tls': return tls(h);
    case 'quic': return quic(h, QUIC_V1);
    case 'quic2': return quic(h, QUIC_V2);
    case 'http': return http(h);
    case 'ssh': return ssh(h);
    case 'dns': return dns(h);
    default: return [];
  }
}
