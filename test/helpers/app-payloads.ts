/**
 * Payloads of the protocols the engines dissect (docs/applications.md), and
 * a capture of whole conversations built from them with scripts/lib's packet
 * builders: what an end-to-end test reads.
 */
import { P, type Pkt, writePcap } from './capture';

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const u24 = (n: number) => Buffer.from([n >> 16, (n >> 8) & 255, n & 255]);
const withU16Length = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), withU16Length(data)]);

/** A TLS 1.3 ClientHello record: SNI, ALPN, supported versions, groups, point formats, signature algorithms. */
export function tlsClientHello(o: { sni: string; alpn?: string[] }): Buffer {
  const sni = Buffer.from(o.sni);
  const alpn = Buffer.concat((o.alpn ?? ['h2', 'http/1.1']).map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])));
  const extensions = Buffer.concat([
    ext(0, withU16Length(Buffer.concat([Buffer.from([0]), withU16Length(sni)]))),
    ext(10, withU16Length(Buffer.concat([u16(0x001d), u16(0x0017)]))),
    ext(11, Buffer.from([1, 0])),
    ext(13, withU16Length(Buffer.concat([u16(0x0403), u16(0x0804)]))),
    ext(16, withU16Length(alpn)),
    ext(43, Buffer.from([4, 0x03, 0x04, 0x03, 0x03])),
  ]);
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    withU16Length(Buffer.concat([u16(0x1301), u16(0x1302), u16(0xc02f)])),
    Buffer.from([1, 0]),
    withU16Length(extensions),
  ]);
  const handshake = Buffer.concat([Buffer.from([1]), u24(body.length), body]);
  return Buffer.concat([Buffer.from([22, 3, 1]), withU16Length(handshake)]);
}

/** A ServerHello choosing TLS 1.3 (supported_versions). */
export function tlsServerHello(): Buffer {
  const body = Buffer.concat([u16(0x0303), Buffer.alloc(32, 9), Buffer.from([0]), u16(0x1301), Buffer.from([0]), withU16Length(ext(43, u16(0x0304)))]);
  const handshake = Buffer.concat([Buffer.from([2]), u24(body.length), body]);
  return Buffer.concat([Buffer.from([22, 3, 3]), withU16Length(handshake)]);
}

function dnsName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
}

/** A DNS query (A) for `name`, or with `answer` the response with one A record. */
export function dns(o: { id: number; name: string; answer?: string }): Buffer {
  const question = Buffer.concat([dnsName(o.name), u16(1), u16(1)]);
  if (!o.answer) return Buffer.concat([u16(o.id), u16(0x0100), u16(1), u16(0), u16(0), u16(0), question]);
  const rr = Buffer.concat([u16(0xc00c), u16(1), u16(1), Buffer.from([0, 0, 1, 0]), u16(4), Buffer.from(o.answer.split('.').map(Number))]);
  return Buffer.concat([u16(o.id), u16(0x8180), u16(1), u16(1), u16(0), u16(0), question, rr]);
}

export const httpRequest = (host: string, agent = 'curl/8.5.0') => Buffer.from(`GET /index.html HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${agent}\r\nAccept: */*\r\n\r\n`);
export const httpResponse = (status = 200) => Buffer.from(`HTTP/1.1 ${status} OK\r\nContent-Length: 0\r\n\r\n`);

const MAC_C = '02:00:00:00:00:0c';
const MAC_S = '02:00:00:00:00:05';

function frame(src: string, dst: string, proto: 6 | 17, l4: Buffer, toServer: boolean): Buffer {
  return P.ethernet({ src: toServer ? MAC_C : MAC_S, dst: toServer ? MAC_S : MAC_C, type: 0x0800, payload: P.ipv4({ src, dst, proto, payload: l4 }) });
}

/** A TCP conversation: handshake, the client's payload, the server's, FIN both ways. */
function tcpConversation(t: number, client: string, cport: number, server: string, sport: number, ask: Buffer, answer: Buffer): Pkt[] {
  let cs = 1000;
  let ss = 5000;
  const c = (dt: number, flags: string, payload = Buffer.alloc(0)) => {
    const p = { t: t + dt, data: frame(client, server, 6, P.tcp({ sport: cport, dport: sport, seq: cs, ack: ss, flags, payload }), true) };
    cs += payload.length + (flags.includes('S') || flags.includes('F') ? 1 : 0);
    return p;
  };
  const s = (dt: number, flags: string, payload = Buffer.alloc(0)) => {
    const p = { t: t + dt, data: frame(server, client, 6, P.tcp({ sport, dport: cport, seq: ss, ack: cs, flags, payload }), false) };
    ss += payload.length + (flags.includes('S') || flags.includes('F') ? 1 : 0);
    return p;
  };
  return [c(0, 'S'), s(0.001, 'SA'), c(0.002, 'A'), c(0.003, 'PA', ask), s(0.004, 'PA', answer), c(0.005, 'FA'), s(0.006, 'FA'), c(0.007, 'A')];
}

/** The addresses and names of appCapture(). */
export const APP_CAPTURE = {
  client: '10.1.0.10',
  resolver: '10.1.0.53',
  tlsServer: '93.184.216.34',
  sni: 'www.example.com',
  httpServer: '198.51.100.80',
  httpHost: 'www.example.org',
  sshServer: '198.51.100.22',
};

/**
 * A client that asks DNS for www.example.com (answer 93.184.216.34), opens
 * TLS to it with that SNI, fetches http://www.example.org/ and opens SSH.
 */
export function appCapture(): string {
  const a = APP_CAPTURE;
  const pkts: Pkt[] = [
    { t: 0, data: frame(a.client, a.resolver, 17, P.udp({ sport: 53000, dport: 53, payload: dns({ id: 0x1234, name: a.sni }) }), true) },
    { t: 0.01, data: frame(a.resolver, a.client, 17, P.udp({ sport: 53, dport: 53000, payload: dns({ id: 0x1234, name: a.sni, answer: a.tlsServer }) }), false) },
    ...tcpConversation(0.1, a.client, 40001, a.tlsServer, 443, tlsClientHello({ sni: a.sni }), tlsServerHello()),
    ...tcpConversation(0.2, a.client, 40002, a.httpServer, 80, httpRequest(a.httpHost), httpResponse(200)),
    ...tcpConversation(0.3, a.client, 40003, a.sshServer, 22, Buffer.from('SSH-2.0-OpenSSH_9.6\r\n'), Buffer.from('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n')),
  ];
  return writePcap(pkts);
}
