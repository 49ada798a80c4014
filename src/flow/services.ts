/**
 * Service names for flows: transport protocol + port (TCP, UDP, SCTP) or,
 * for layer-2 flows, the ethertype; and which end of a flow is the server.
 *
 * The default table holds well-known IT services and the industrial (ICS/OT)
 * protocols with documented ports. A `ServiceMap` can add, replace or remove
 * entries with overrides keyed `'tcp/8080'`, `'udp/5000'`, `'sctp/3868'`,
 * `'tcp/34962-34964'` (a range) or `'eth/0x88b8'`; a value of null removes
 * the default.
 *
 *   const services = new ServiceMap({ 'tcp/8080': 'http', 'udp/2222': null });
 *   const { service, serverIsDst, serverPort } = services.classify(flow);
 *
 * Server side (`classify`), in order:
 *  1. layer-2 flows: the service of the ethertype, server = dst, port 0;
 *  2. ICMP (1) / ICMPv6 (58): `icmp` / `icmpv6`, server = dst, port 0;
 *  3. the end whose port is a known service (dst checked first); when both
 *     ends are known, the lower port; a tie goes to dst;
 *  4. neither known, TCP: the receiver of the first SYN: SYN (0x02) in
 *     `fwdTcpFlags` means the flow's src (the sender of its first packet)
 *     opened the connection, so the server is dst; without a SYN from src but
 *     with one in the optional `revTcpFlags`, the server is src;
 *  5. otherwise the lower port (ports below 1024 come before ephemeral ones),
 *     a tie goes to dst. The service is then undefined.
 */
import { FlowmasterError } from '../errors';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;

const TCP_SYN = 0x02;

/** The fields `classify` reads: a `Flow`, a `FlowObject` or a plain object. */
export interface FlowLike {
  protocol: number;
  srcPort: number;
  dstPort: number;
  l2: boolean;
  etherType: number;
  fwdTcpFlags: number;
  /** optional: lets a flow whose SYN came from dst be classified (a Flow has it) */
  revTcpFlags?: number;
}

export interface Classification {
  /** the service name, undefined when neither end (nor the ethertype) is known */
  service: string | undefined;
  /** true when dst is the server (the responder) */
  serverIsDst: boolean;
  /** the server's port (0 for layer-2 and ICMP flows) */
  serverPort: number;
}

export interface ServiceDefinition {
  name: string;
  description: string;
  tcp?: readonly number[];
  udp?: readonly number[];
  sctp?: readonly number[];
  /** ethertypes, for layer-2 flows */
  eth?: readonly number[];
}

function range(a: number, b: number): number[] {
  const r: number[] = [];
  for (let p = a; p <= b; p++) r.push(p);
  return r;
}

/** The default services. Names are lower case; one name may cover several ports. */
export const SERVICE_DEFINITIONS: readonly ServiceDefinition[] = [
  // ---- IT: IANA well-known and common registered ports
  { name: 'ftp', description: 'File Transfer Protocol (20 data, 21 control)', tcp: [20, 21] },
  { name: 'ssh', description: 'Secure Shell', tcp: [22], sctp: [22] },
  { name: 'telnet', description: 'Telnet', tcp: [23] },
  { name: 'smtp', description: 'Simple Mail Transfer Protocol', tcp: [25] },
  { name: 'dns', description: 'Domain Name System', tcp: [53], udp: [53] },
  { name: 'dhcp', description: 'DHCP / BOOTP (67 server, 68 client)', udp: [67, 68] },
  { name: 'tftp', description: 'Trivial File Transfer Protocol', udp: [69] },
  { name: 'http', description: 'Hypertext Transfer Protocol', tcp: [80], sctp: [80] },
  { name: 'kerberos', description: 'Kerberos', tcp: [88], udp: [88] },
  { name: 'pop3', description: 'Post Office Protocol v3', tcp: [110] },
  { name: 'rpcbind', description: 'ONC RPC portmapper', tcp: [111], udp: [111] },
  { name: 'nntp', description: 'Network News Transfer Protocol', tcp: [119] },
  { name: 'ntp', description: 'Network Time Protocol', udp: [123] },
  { name: 'msrpc', description: 'Microsoft RPC endpoint mapper', tcp: [135] },
  { name: 'netbios', description: 'NetBIOS (137 name service, 138 datagram, 139 session)', tcp: [137, 139], udp: [137, 138] },
  { name: 'imap', description: 'Internet Message Access Protocol', tcp: [143] },
  { name: 'snmp', description: 'Simple Network Management Protocol (161 agent, 162 traps)', tcp: [161, 162], udp: [161, 162] },
  { name: 'bgp', description: 'Border Gateway Protocol', tcp: [179] },
  { name: 'ldap', description: 'Lightweight Directory Access Protocol', tcp: [389], udp: [389] },
  { name: 'https', description: 'HTTP over TLS', tcp: [443], sctp: [443] },
  { name: 'quic', description: 'QUIC (HTTP/3, HTTPS over UDP)', udp: [443] },
  { name: 'smb', description: 'Server Message Block (Microsoft-DS)', tcp: [445] },
  { name: 'smtps', description: 'SMTP over TLS (submissions)', tcp: [465] },
  { name: 'ike', description: 'IPsec Internet Key Exchange', udp: [500] },
  { name: 'syslog', description: 'Syslog', udp: [514] },
  { name: 'rip', description: 'Routing Information Protocol', udp: [520] },
  { name: 'rtsp', description: 'Real Time Streaming Protocol', tcp: [554] },
  { name: 'submission', description: 'Mail submission', tcp: [587] },
  { name: 'ipp', description: 'Internet Printing Protocol', tcp: [631] },
  { name: 'ldaps', description: 'LDAP over TLS', tcp: [636] },
  { name: 'rsync', description: 'rsync', tcp: [873] },
  { name: 'imaps', description: 'IMAP over TLS', tcp: [993] },
  { name: 'pop3s', description: 'POP3 over TLS', tcp: [995] },
  { name: 'openvpn', description: 'OpenVPN', tcp: [1194], udp: [1194] },
  { name: 'mssql', description: 'Microsoft SQL Server', tcp: [1433] },
  { name: 'oracle', description: 'Oracle TNS listener', tcp: [1521] },
  { name: 'l2tp', description: 'Layer 2 Tunneling Protocol', udp: [1701] },
  { name: 'pptp', description: 'Point-to-Point Tunneling Protocol', tcp: [1723] },
  { name: 'radius', description: 'RADIUS (1812 authentication, 1813 accounting)', udp: [1812, 1813] },
  { name: 'ssdp', description: 'Simple Service Discovery Protocol (UPnP)', udp: [1900] },
  { name: 'nfs', description: 'Network File System', tcp: [2049], udp: [2049] },
  { name: 'gtp-c', description: 'GPRS Tunnelling Protocol, control', udp: [2123] },
  { name: 'gtp-u', description: 'GPRS Tunnelling Protocol, user plane', udp: [2152] },
  { name: 'm3ua', description: 'SS7 MTP3 User Adaptation', sctp: [2905] },
  { name: 'mysql', description: 'MySQL', tcp: [3306] },
  { name: 'rdp', description: 'Remote Desktop Protocol', tcp: [3389], udp: [3389] },
  { name: 'stun', description: 'STUN / TURN', tcp: [3478], udp: [3478] },
  { name: 'ws-discovery', description: 'Web Services Dynamic Discovery', udp: [3702] },
  { name: 'diameter', description: 'Diameter', tcp: [3868], sctp: [3868] },
  { name: 'ipsec-nat-t', description: 'IPsec NAT traversal (IKE / ESP in UDP)', udp: [4500] },
  { name: 'vxlan', description: 'Virtual eXtensible LAN', udp: [4789] },
  { name: 'sip', description: 'Session Initiation Protocol', tcp: [5060], udp: [5060], sctp: [5060] },
  { name: 'sips', description: 'SIP over TLS', tcp: [5061], sctp: [5061] },
  { name: 'xmpp', description: 'XMPP client', tcp: [5222] },
  { name: 'mdns', description: 'Multicast DNS', udp: [5353] },
  { name: 'llmnr', description: 'Link-Local Multicast Name Resolution', tcp: [5355], udp: [5355] },
  { name: 'postgresql', description: 'PostgreSQL', tcp: [5432] },
  { name: 'amqp', description: 'Advanced Message Queuing Protocol', tcp: [5672] },
  { name: 'coap', description: 'Constrained Application Protocol', udp: [5683] },
  { name: 'vnc', description: 'Virtual Network Computing (RFB)', tcp: [5900] },
  { name: 'redis', description: 'Redis', tcp: [6379] },
  { name: 'http-alt', description: 'HTTP, alternate port', tcp: [8080] },
  { name: 'memcached', description: 'memcached', tcp: [11211], udp: [11211] },
  { name: 'mongodb', description: 'MongoDB', tcp: [27017] },
  { name: 's1ap', description: 'LTE S1 Application Protocol', sctp: [36412] },
  { name: 'x2ap', description: 'LTE X2 Application Protocol', sctp: [36422] },
  { name: 'ngap', description: '5G NG Application Protocol', sctp: [38412] },

  // ---- industrial (ICS / OT)
  { name: 'iso-tsap', description: 'ISO transport over TCP (RFC 1006, TPKT/COTP): Siemens S7comm / S7comm-plus and IEC 61850 MMS (also ICCP / TASE.2)', tcp: [102] },
  { name: 'modbus', description: 'Modbus/TCP (MBAP)', tcp: [502], udp: [502] },
  { name: 'modbus-tls', description: 'Modbus/TCP Security (TLS)', tcp: [802] },
  { name: 'fox', description: 'Tridium Niagara Fox', tcp: [1911] },
  { name: 'pcworx', description: 'Phoenix Contact PCWorx', tcp: [1962] },
  { name: 'enip-io', description: 'EtherNet/IP implicit (class 0/1 I/O) messaging', udp: [2222] },
  { name: 'iec104', description: 'IEC 60870-5-104', tcp: [2404] },
  { name: 'codesys', description: 'CODESYS runtime (3S)', tcp: [2455] },
  { name: 'knxnet-ip', description: 'KNXnet/IP', udp: [3671] },
  { name: 'c37.118', description: 'IEEE C37.118 synchrophasors (4712 TCP, 4713 UDP)', tcp: [4712, 4713], udp: [4712, 4713] },
  { name: 'opcua', description: 'OPC UA binary (opc.tcp)', tcp: [4840], udp: [4840] },
  { name: 'fox-tls', description: 'Tridium Niagara Fox over TLS', tcp: [4911] },
  { name: 'hart-ip', description: 'HART-IP', tcp: [5094], udp: [5094] },
  { name: 'mqtt', description: 'MQTT', tcp: [1883] },
  { name: 'mqtt-tls', description: 'MQTT over TLS', tcp: [8883] },
  { name: 'omron-fins', description: 'OMRON FINS', tcp: [9600], udp: [9600] },
  { name: 'ge-srtp', description: 'GE Fanuc SRTP', tcp: [18245] },
  { name: 'dnp3', description: 'DNP3 (IEEE 1815)', tcp: [20000], udp: [20000] },
  { name: 'profinet', description: 'PROFINET RT unicast / multicast / context manager (DCE/RPC)', tcp: range(34962, 34964), udp: range(34962, 34964) },
  { name: 'ethercat', description: 'EtherCAT (ethertype 0x88a4; over UDP 34980)', udp: [34980], eth: [0x88a4] },
  { name: 'enip', description: 'EtherNet/IP explicit messaging (CIP)', tcp: [44818], udp: [44818] },
  { name: 'bacnet', description: 'BACnet/IP', udp: [47808] },

  // ---- layer 2 (ethertype)
  { name: 'llc', description: 'IEEE 802.3 frame with a length field (LLC/SNAP: STP, CDP, ...); the record ethertype is 0', eth: [0x0000] },
  { name: 'arp', description: 'Address Resolution Protocol', eth: [0x0806] },
  { name: 'wol', description: 'Wake-on-LAN', eth: [0x0842] },
  { name: 'rarp', description: 'Reverse ARP', eth: [0x8035] },
  { name: 'ipx', description: 'Novell IPX', eth: [0x8137] },
  { name: 'slow-protocols', description: 'IEEE 802.3 slow protocols (LACP, marker, OAM)', eth: [0x8809] },
  { name: 'eapol', description: 'IEEE 802.1X EAP over LAN', eth: [0x888e] },
  { name: 'profinet-rt', description: 'PROFINET real time (RT cyclic data, alarms, DCP)', eth: [0x8892] },
  { name: 'powerlink', description: 'Ethernet POWERLINK', eth: [0x88ab] },
  { name: 'goose', description: 'IEC 61850 GOOSE', eth: [0x88b8] },
  { name: 'gse-mgmt', description: 'IEC 61850 GSE management', eth: [0x88b9] },
  { name: 'sv', description: 'IEC 61850-9-2 sampled values', eth: [0x88ba] },
  { name: 'lldp', description: 'Link Layer Discovery Protocol', eth: [0x88cc] },
  { name: 'sercos-iii', description: 'SERCOS III', eth: [0x88cd] },
  { name: 'mrp', description: 'IEC 62439-2 Media Redundancy Protocol', eth: [0x88e3] },
  { name: 'macsec', description: 'IEEE 802.1AE MAC security', eth: [0x88e5] },
  { name: 'ptp', description: 'IEEE 1588 Precision Time Protocol', eth: [0x88f7] },
  { name: 'prp', description: 'IEC 62439-3 Parallel Redundancy Protocol supervision', eth: [0x88fb] },
  { name: 'cfm', description: 'IEEE 802.1ag connectivity fault management', eth: [0x8902] },
  { name: 'fcoe', description: 'Fibre Channel over Ethernet', eth: [0x8906] },
  { name: 'hsr', description: 'IEC 62439-3 High-availability Seamless Redundancy', eth: [0x892f] },
  { name: 'loopback', description: 'Ethernet configuration testing protocol (loopback)', eth: [0x9000] },
];

const PROTO_NAMES: Record<string, number> = { tcp: PROTO_TCP, udp: PROTO_UDP, sctp: PROTO_SCTP };
const PROTO_BY_NUMBER: Record<number, string> = { [PROTO_TCP]: 'tcp', [PROTO_UDP]: 'udp', [PROTO_SCTP]: 'sctp' };

function portKey(protocol: number, port: number): number {
  return protocol * 65536 + port;
}

function invalid(message: string): FlowmasterError {
  return new FlowmasterError('ERR_INVALID_OPTION', message);
}

function parseNumber(s: string): number {
  return /^0x/i.test(s) ? parseInt(s.slice(2), 16) : parseInt(s, 10);
}

export class ServiceMap {
  readonly #ports = new Map<number, string>();
  readonly #eth = new Map<number, string>();
  readonly #descriptions = new Map<string, string>();

  /**
   * @param overrides `{ 'tcp/8080': 'http', 'udp/5000-5001': 'rtp', 'eth/0x88b5': 'local', 'udp/2222': null }`:
   *   a string adds or replaces, null removes a default. A bad key or value
   *   throws a FlowmasterError `ERR_INVALID_OPTION`.
   */
  constructor(overrides?: Record<string, string | null>) {
    for (const d of SERVICE_DEFINITIONS) {
      this.#descriptions.set(d.name, d.description);
      for (const p of d.tcp ?? []) this.#ports.set(portKey(PROTO_TCP, p), d.name);
      for (const p of d.udp ?? []) this.#ports.set(portKey(PROTO_UDP, p), d.name);
      for (const p of d.sctp ?? []) this.#ports.set(portKey(PROTO_SCTP, p), d.name);
      for (const t of d.eth ?? []) this.#eth.set(t, d.name);
    }
    if (overrides === undefined) return;
    if (overrides === null || typeof overrides !== 'object') throw invalid('ServiceMap overrides must be an object');
    for (const [key, value] of Object.entries(overrides)) this.#override(key, value);
  }

  #override(key: string, value: string | null): void {
    if (value !== null && (typeof value !== 'string' || value === '')) throw invalid(`service override '${key}': the value must be a non-empty string or null`);
    const eth = /^eth\/(0x[0-9a-f]{1,4}|\d{1,5})$/i.exec(key);
    if (eth) {
      const t = parseNumber(eth[1]);
      if (t > 0xffff) throw invalid(`service override '${key}': ethertype out of range`);
      if (value === null) this.#eth.delete(t);
      else this.#eth.set(t, value);
      return;
    }
    const m = /^(tcp|udp|sctp)\/(\d{1,5})(?:-(\d{1,5}))?$/i.exec(key);
    if (!m) throw invalid(`service override '${key}': expected 'tcp/PORT', 'udp/PORT', 'sctp/PORT' (or PORT-PORT) or 'eth/0xTYPE'`);
    const proto = PROTO_NAMES[m[1].toLowerCase()];
    const lo = parseInt(m[2], 10);
    const hi = m[3] === undefined ? lo : parseInt(m[3], 10);
    if (lo > 65535 || hi > 65535 || hi < lo) throw invalid(`service override '${key}': port out of range`);
    for (let p = lo; p <= hi; p++) {
      if (value === null) this.#ports.delete(portKey(proto, p));
      else this.#ports.set(portKey(proto, p), value);
    }
  }

  /** The service on `port` of IP protocol `protocol` (6 TCP, 17 UDP, 132 SCTP), or undefined. */
  lookup(protocol: number, port: number): string | undefined {
    return this.#ports.get(portKey(protocol, port));
  }

  /** The service of a layer-2 flow's ethertype (0 for 802.3/LLC frames), or undefined. */
  lookupEtherType(etherType: number): string | undefined {
    return this.#eth.get(etherType);
  }

  /** A one-line description of a default service name (undefined for names only given by overrides). */
  describe(service: string): string | undefined {
    return this.#descriptions.get(service);
  }

  /** Every entry as `['tcp/80', 'http']` / `['eth/0x88b8', 'goose']`, sorted. */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    const ports = [...this.#ports.entries()].sort((a, b) => a[0] - b[0]);
    for (const [k, name] of ports) out.push([`${PROTO_BY_NUMBER[Math.floor(k / 65536)]}/${k % 65536}`, name]);
    const eth = [...this.#eth.entries()].sort((a, b) => a[0] - b[0]);
    for (const [t, name] of eth) out.push([`eth/0x${t.toString(16).padStart(4, '0')}`, name]);
    return out;
  }

  /** The service of a flow and which end is the server (rules in the file header). */
  classify(flow: FlowLike): Classification {
    if (flow.l2) return { service: this.#eth.get(flow.etherType), serverIsDst: true, serverPort: 0 };
    const proto = flow.protocol;
    if (proto === PROTO_ICMP) return { service: 'icmp', serverIsDst: true, serverPort: 0 };
    if (proto === PROTO_ICMPV6) return { service: 'icmpv6', serverIsDst: true, serverPort: 0 };
    const sp = flow.srcPort;
    const dp = flow.dstPort;
    const dstService = this.#ports.get(portKey(proto, dp));
    const srcService = this.#ports.get(portKey(proto, sp));
    if (dstService !== undefined && (srcService === undefined || dp <= sp)) return { service: dstService, serverIsDst: true, serverPort: dp };
    if (srcService !== undefined) return { service: srcService, serverIsDst: false, serverPort: sp };
    if (proto === PROTO_TCP) {
      if (flow.fwdTcpFlags & TCP_SYN) return { service: undefined, serverIsDst: true, serverPort: dp };
      if ((flow.revTcpFlags ?? 0) & TCP_SYN) return { service: undefined, serverIsDst: false, serverPort: sp };
    }
    const serverIsDst = dp <= sp;
    return { service: undefined, serverIsDst, serverPort: serverIsDst ? dp : sp };
  }
}

/** The default table, without overrides. */
export const defaultServices: ServiceMap = new ServiceMap();
