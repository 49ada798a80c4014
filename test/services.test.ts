/** Service names and server side (src/flow/services.ts). */
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowmasterError } from '../src/errors';
import { defaultServices, ServiceMap, SERVICE_DEFINITIONS, type FlowLike } from '../src/flow/services';
import { corpusFiles, corpusMissing, corpusPresent, CORPUS_DIR } from './helpers/corpus';
import { MAC_A, MAC_B, P, tcp4, udp4, writePcap } from './helpers/capture';
import { readAll } from './helpers/read';
import { skipping } from './helpers/skip';

const TCP = 6;
const UDP = 17;
const SCTP = 132;

function flow(f: Partial<FlowLike>): FlowLike {
  return { protocol: TCP, srcPort: 0, dstPort: 0, l2: false, etherType: 0x0800, fwdTcpFlags: 0, ...f };
}

describe('default table', () => {
  it.each([
    [TCP, 80, 'http'],
    [TCP, 443, 'https'],
    [UDP, 443, 'quic'],
    [TCP, 22, 'ssh'],
    [TCP, 53, 'dns'],
    [UDP, 53, 'dns'],
    [TCP, 25, 'smtp'],
    [UDP, 123, 'ntp'],
    [UDP, 161, 'snmp'],
    [UDP, 162, 'snmp'],
    [TCP, 389, 'ldap'],
    [TCP, 88, 'kerberos'],
    [UDP, 88, 'kerberos'],
    [TCP, 445, 'smb'],
    [UDP, 137, 'netbios'],
    [UDP, 138, 'netbios'],
    [TCP, 139, 'netbios'],
    [TCP, 3389, 'rdp'],
    [TCP, 3306, 'mysql'],
    [TCP, 5432, 'postgresql'],
    [UDP, 67, 'dhcp'],
    [UDP, 68, 'dhcp'],
    [UDP, 69, 'tftp'],
    [UDP, 514, 'syslog'],
    [UDP, 5353, 'mdns'],
    [UDP, 1900, 'ssdp'],
    [TCP, 143, 'imap'],
    [TCP, 110, 'pop3'],
    [TCP, 23, 'telnet'],
    [TCP, 20, 'ftp'],
    [TCP, 21, 'ftp'],
    [UDP, 5060, 'sip'],
    [TCP, 5060, 'sip'],
    [SCTP, 3868, 'diameter'],
    [SCTP, 36412, 's1ap'],
  ])('protocol %i port %i -> %s', (proto, port, name) => {
    expect(defaultServices.lookup(proto, port)).toBe(name);
  });

  it.each([
    [TCP, 502, 'modbus'],
    [TCP, 20000, 'dnp3'],
    [UDP, 20000, 'dnp3'],
    [TCP, 102, 'iso-tsap'],
    [TCP, 44818, 'enip'],
    [UDP, 44818, 'enip'],
    [UDP, 2222, 'enip-io'],
    [UDP, 47808, 'bacnet'],
    [TCP, 34962, 'profinet'],
    [UDP, 34963, 'profinet'],
    [UDP, 34964, 'profinet'],
    [TCP, 4840, 'opcua'],
    [TCP, 2404, 'iec104'],
    [TCP, 1911, 'fox'],
    [TCP, 4911, 'fox-tls'],
    [TCP, 1883, 'mqtt'],
    [TCP, 8883, 'mqtt-tls'],
    [TCP, 4712, 'c37.118'],
    [UDP, 4713, 'c37.118'],
    [TCP, 5094, 'hart-ip'],
    [UDP, 5094, 'hart-ip'],
    [TCP, 2455, 'codesys'],
    [UDP, 9600, 'omron-fins'],
    [TCP, 18245, 'ge-srtp'],
  ])('industrial: protocol %i port %i -> %s', (proto, port, name) => {
    expect(defaultServices.lookup(proto, port)).toBe(name);
  });

  it('iso-tsap is described as S7comm and MMS', () => {
    const d = defaultServices.describe('iso-tsap') ?? '';
    expect(d).toMatch(/S7comm/);
    expect(d).toMatch(/MMS/);
  });

  it.each([
    [0x88b8, 'goose'],
    [0x88ba, 'sv'],
    [0x8892, 'profinet-rt'],
    [0x88a4, 'ethercat'],
    [0x88cc, 'lldp'],
    [0x0806, 'arp'],
    [0x88f7, 'ptp'],
  ])('ethertype %i -> %s', (t, name) => {
    expect(defaultServices.lookupEtherType(t)).toBe(name);
  });

  it('unknown ports, protocols and ethertypes are undefined', () => {
    expect(defaultServices.lookup(TCP, 40000)).toBeUndefined();
    expect(defaultServices.lookup(UDP, 502 + 1)).toBeUndefined();
    expect(defaultServices.lookup(UDP, 102)).toBeUndefined(); // iso-tsap is TCP only
    expect(defaultServices.lookup(47, 80)).toBeUndefined(); // GRE has no ports
    expect(defaultServices.lookupEtherType(0x1234)).toBeUndefined();
  });

  it('every definition has a description and at least one port or ethertype; names are unique', () => {
    const names = new Set<string>();
    for (const d of SERVICE_DEFINITIONS) {
      expect(names.has(d.name), d.name).toBe(false);
      names.add(d.name);
      expect(d.description.length).toBeGreaterThan(0);
      expect((d.tcp?.length ?? 0) + (d.udp?.length ?? 0) + (d.sctp?.length ?? 0) + (d.eth?.length ?? 0)).toBeGreaterThan(0);
    }
  });

  it('no port or ethertype is claimed by two definitions', () => {
    const seen = new Map<string, string>();
    for (const d of SERVICE_DEFINITIONS) {
      const keys = [
        ...(d.tcp ?? []).map((p) => `tcp/${p}`),
        ...(d.udp ?? []).map((p) => `udp/${p}`),
        ...(d.sctp ?? []).map((p) => `sctp/${p}`),
        ...(d.eth ?? []).map((t) => `eth/${t}`),
      ];
      for (const k of keys) {
        expect(seen.get(k), `${k}: ${d.name}`).toBeUndefined();
        seen.set(k, d.name);
      }
    }
  });
});

describe('overrides', () => {
  it('adds, replaces and removes, leaving the default map untouched', () => {
    const m = new ServiceMap({ 'tcp/8081': 'my-web', 'tcp/502': 'plc', 'udp/2222': null, 'eth/0x88b8': null, 'eth/0x88b5': 'local-exp', 'SCTP/9999': 'x' });
    expect(m.lookup(TCP, 8081)).toBe('my-web');
    expect(m.lookup(TCP, 502)).toBe('plc');
    expect(m.lookup(UDP, 2222)).toBeUndefined();
    expect(m.lookupEtherType(0x88b8)).toBeUndefined();
    expect(m.lookupEtherType(0x88b5)).toBe('local-exp');
    expect(m.lookup(SCTP, 9999)).toBe('x');
    expect(m.lookup(TCP, 80)).toBe('http');
    expect(defaultServices.lookup(TCP, 502)).toBe('modbus');
    expect(defaultServices.lookup(UDP, 2222)).toBe('enip-io');
    expect(defaultServices.lookupEtherType(0x88b8)).toBe('goose');
  });

  it('port ranges and decimal ethertypes', () => {
    const m = new ServiceMap({ 'udp/5000-5002': 'rtp', 'tcp/34962-34964': null, 'eth/35000': 'dec' });
    expect([4999, 5000, 5001, 5002, 5003].map((p) => m.lookup(UDP, p))).toEqual([undefined, 'rtp', 'rtp', 'rtp', undefined]);
    expect(m.lookup(TCP, 34963)).toBeUndefined();
    expect(m.lookup(UDP, 34963)).toBe('profinet');
    expect(m.lookupEtherType(35000)).toBe('dec');
  });

  it('a removed default no longer decides the server side', () => {
    const m = new ServiceMap({ 'tcp/502': null });
    // 502 -> 53454 without a SYN: now only the lower port decides, still src
    expect(m.classify(flow({ srcPort: 502, dstPort: 53454, fwdTcpFlags: 0x18 }))).toEqual({ service: undefined, serverIsDst: false, serverPort: 502 });
    // with a SYN from src, src is the client
    expect(m.classify(flow({ srcPort: 502, dstPort: 53454, fwdTcpFlags: 0x02 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 53454 });
  });

  it('entries() lists the table', () => {
    const m = new ServiceMap({ 'tcp/80': null, 'tcp/81': 'web' });
    const e = new Map(m.entries());
    expect(e.get('tcp/81')).toBe('web');
    expect(e.has('tcp/80')).toBe(false);
    expect(e.get('eth/0x88b8')).toBe('goose');
    expect(e.get('udp/47808')).toBe('bacnet');
  });

  it.each([['http/80'], ['tcp/'], ['tcp/65536'], ['tcp/10-5'], ['eth/0x12345'], ['udp/abc'], ['80']])('bad key %s throws ERR_INVALID_OPTION', (key) => {
    expect(() => new ServiceMap({ [key]: 'x' })).toThrow(FlowmasterError);
    try {
      new ServiceMap({ [key]: 'x' });
    } catch (e) {
      expect((e as FlowmasterError).code).toBe('ERR_INVALID_OPTION');
    }
  });

  it('bad values throw', () => {
    expect(() => new ServiceMap({ 'tcp/1': '' })).toThrow(/non-empty string or null/);
    expect(() => new ServiceMap({ 'tcp/1': 5 as unknown as string })).toThrow(FlowmasterError);
  });
});

describe('server side', () => {
  it('dst is a known service', () => {
    expect(defaultServices.classify(flow({ srcPort: 51000, dstPort: 502, fwdTcpFlags: 0x02 }))).toEqual({ service: 'modbus', serverIsDst: true, serverPort: 502 });
  });

  it('reversed flow: the first packet came from the server (capture started mid-connection), client port lower', () => {
    // client port 1000 (< 1024, lower) but the server port 44818 is well known
    expect(defaultServices.classify(flow({ srcPort: 44818, dstPort: 1000, fwdTcpFlags: 0x18 }))).toEqual({ service: 'enip', serverIsDst: false, serverPort: 44818 });
    // the well-known port wins over the SYN direction too
    expect(defaultServices.classify(flow({ srcPort: 443, dstPort: 50000, fwdTcpFlags: 0x12 }))).toEqual({ service: 'https', serverIsDst: false, serverPort: 443 });
  });

  it('both ends known: the lower port, ties to dst', () => {
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 5353, dstPort: 53 }))).toEqual({ service: 'dns', serverIsDst: true, serverPort: 53 });
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 53, dstPort: 5353 }))).toEqual({ service: 'dns', serverIsDst: false, serverPort: 53 });
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 47808, dstPort: 47808 }))).toEqual({ service: 'bacnet', serverIsDst: true, serverPort: 47808 });
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 2222, dstPort: 2222 }))).toEqual({ service: 'enip-io', serverIsDst: true, serverPort: 2222 });
  });

  it('both unknown, TCP: the receiver of the SYN', () => {
    // src sent the SYN: dst is the server even though its port is higher
    expect(defaultServices.classify(flow({ srcPort: 40000, dstPort: 50000, fwdTcpFlags: 0x02 | 0x10 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 50000 });
    // only the reverse direction has a SYN (optional revTcpFlags): src is the server
    expect(defaultServices.classify(flow({ srcPort: 40000, dstPort: 30000, fwdTcpFlags: 0x10, revTcpFlags: 0x02 }))).toEqual({ service: undefined, serverIsDst: false, serverPort: 40000 });
  });

  it('both unknown, no SYN or not TCP: the lower port, ties to dst', () => {
    expect(defaultServices.classify(flow({ srcPort: 40000, dstPort: 30000, fwdTcpFlags: 0x18 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 30000 });
    expect(defaultServices.classify(flow({ srcPort: 999, dstPort: 40000, fwdTcpFlags: 0x18 }))).toEqual({ service: undefined, serverIsDst: false, serverPort: 999 });
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 1000, dstPort: 60000 }))).toEqual({ service: undefined, serverIsDst: false, serverPort: 1000 });
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 7000, dstPort: 7000 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 7000 });
    expect(defaultServices.classify(flow({ protocol: SCTP, srcPort: 60000, dstPort: 2000 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 2000 });
    // a port-less (truncated) flow
    expect(defaultServices.classify(flow({ protocol: UDP, srcPort: 0, dstPort: 0 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 0 });
  });

  it('ICMP and ICMPv6', () => {
    expect(defaultServices.classify(flow({ protocol: 1 }))).toEqual({ service: 'icmp', serverIsDst: true, serverPort: 0 });
    expect(defaultServices.classify(flow({ protocol: 58 }))).toEqual({ service: 'icmpv6', serverIsDst: true, serverPort: 0 });
  });

  it('layer-2 flows by ethertype', () => {
    expect(defaultServices.classify(flow({ l2: true, protocol: 0, etherType: 0x88b8 }))).toEqual({ service: 'goose', serverIsDst: true, serverPort: 0 });
    expect(defaultServices.classify(flow({ l2: true, protocol: 0, etherType: 0x1234 }))).toEqual({ service: undefined, serverIsDst: true, serverPort: 0 });
  });

  it('works on Flow objects from a read', async () => {
    const A = '10.0.0.1';
    const B = '10.0.0.2';
    const file = writePcap([
      { t: 0, data: tcp4(A, 51000, B, 502, 'S') },
      { t: 0.1, data: tcp4(B, 502, A, 51000, 'SA') },
      { t: 0.2, data: tcp4(B, 20000, A, 1025, 'PA', 10) }, // reversed: the server speaks first
      { t: 0.3, data: tcp4(A, 45000, B, 46000, 'S') }, // unknown ports, SYN from src
      { t: 0.4, data: udp4(A, 60000, B, 47808, 20) },
      { t: 0.5, data: P.ethernet({ src: MAC_A, dst: MAC_B, type: 0x88b8, payload: P.goose({}) }) },
    ]);
    const r = await readAll(file);
    expect(r.error).toBeUndefined();
    const got = r.flows
      .map((f) => ({ key: `${f.srcPort}-${f.dstPort}-${f.l2 ? 'l2' : f.protocol}`, ...defaultServices.classify(f) }))
      .sort((a, b) => a.key.localeCompare(b.key));
    expect(got).toEqual([
      { key: '0-0-l2', service: 'goose', serverIsDst: true, serverPort: 0 },
      { key: '20000-1025-6', service: 'dnp3', serverIsDst: false, serverPort: 20000 },
      { key: '45000-46000-6', service: undefined, serverIsDst: true, serverPort: 46000 },
      { key: '51000-502-6', service: 'modbus', serverIsDst: true, serverPort: 502 },
      { key: '60000-47808-17', service: 'bacnet', serverIsDst: true, serverPort: 47808 },
    ]);
  });
});

/**
 * The ICS captures of the shared corpus, classified with the default map:
 * service -> flow count under the default FlowMeter options. The counts are
 * what the captures hold (checked against tshark's protocol dissection).
 */
const CORPUS_EXPECTATIONS: { file: string; service: string; services: Record<string, number>; servers?: Record<string, number> }[] = [
  // one of the five Modbus connections starts mid-stream with a response from 502: server = src
  { file: 'iti__modbus_test.pcap', service: 'modbus', services: { modbus: 5 }, servers: { 'dst:502': 4, 'src:502': 1 } },
  { file: 'iti__dnp3_test_data_part1.pcap', service: 'dnp3', services: { dnp3: 9 }, servers: { 'dst:20000': 9 } },
  // S7comm over TPKT/COTP on 102, plus two ARP flows
  { file: 'iti__s7comm_reading_plc_status.pcap', service: 'iso-tsap', services: { 'iso-tsap': 3, arp: 2 }, servers: { 'dst:102': 3, 'dst:0': 2 } },
  // explicit CIP on 44818, implicit I/O on UDP 2222 -> 2222, and STP (802.3/LLC), ARP and LLDP layer-2 flows
  { file: 'suricata-verify__enip_cip_example.pcap', service: 'enip', services: { enip: 3, 'enip-io': 1, llc: 1, arp: 4, lldp: 2 } },
  { file: 'ndpi__bacnet.pcap', service: 'bacnet', services: { bacnet: 10 } },
  { file: 'ndpi__opc-ua.pcap', service: 'opcua', services: { opcua: 1 }, servers: { 'dst:4840': 1 } },
  // the file name says 60780; the traffic is IEC 60870-5-104 on 2404
  { file: 'nfstream__iec60780-5-104.pcap', service: 'iec104', services: { iec104: 6 }, servers: { 'dst:2404': 6 } },
  { file: 'iti__GOOSE.pcap', service: 'goose', services: { goose: 1 } },
  // PROFINET DCP is carried in PROFINET RT frames (ethertype 0x8892)
  { file: 'iti__PROFINET-RT-DCP.pcap', service: 'profinet-rt', services: { 'profinet-rt': 11 } },
];

const corpus = new Map(corpusFiles().map((c) => [c.name, c.path]));

describe.skipIf(skipping(corpusMissing, 'services in the ICS captures of the corpus'))('services in the ICS captures of the corpus', () => {
  for (const e of CORPUS_EXPECTATIONS) {
    const file = corpus.get(e.file);
    const missing = file === undefined || !fs.existsSync(file);
    it.skipIf(missing && (!corpusPresent || skipping('not in the corpus', e.file)))(`${e.file} -> ${e.service}`, async () => {
      const r = await readAll(file!);
      expect(r.error).toBeUndefined();
      const services: Record<string, number> = {};
      const servers: Record<string, number> = {};
      for (const f of r.flows) {
        const c = defaultServices.classify(f);
        const s = c.service ?? '(unknown)';
        services[s] = (services[s] ?? 0) + 1;
        const k = `${c.serverIsDst ? 'dst' : 'src'}:${c.serverPort}`;
        servers[k] = (servers[k] ?? 0) + 1;
      }
      expect(services[e.service]).toBeGreaterThan(0);
      expect(services).toEqual(e.services);
      if (e.servers) expect(servers).toEqual(e.servers);
    });
  }
});

