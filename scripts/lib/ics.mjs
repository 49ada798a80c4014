// Industrial and IoT protocol PDUs as real wire bytes: Modbus/TCP, DNP3 (with
// its CRCs), TPKT/COTP with S7comm and ISO 8327 session / MMS, EtherNet/IP,
// BACnet/IP, IEC 60870-5-104, OPC UA binary, MQTT. No dependencies.

const u8 = (n) => Buffer.from([n & 0xff]);
function u16be(n) { const b = Buffer.alloc(2); b.writeUInt16BE(n & 0xffff); return b; }
function u16le(n) { const b = Buffer.alloc(2); b.writeUInt16LE(n & 0xffff); return b; }
function u32le(n) { const b = Buffer.alloc(4); b.writeUInt32LE(n >>> 0); return b; }
function i32le(n) { const b = Buffer.alloc(4); b.writeInt32LE(n | 0); return b; }

// ---------------------------------------------------------------- Modbus/TCP

/** Modbus/TCP ADU: MBAP (transaction, protocol 0, length, unit) + PDU (function code + data). */
export function modbus({ transactionId = 1, unitId = 1, functionCode, data = Buffer.alloc(0), protocolId = 0, length }) {
  const pdu = Buffer.concat([u8(functionCode), data]);
  return Buffer.concat([u16be(transactionId), u16be(protocolId), u16be(length ?? pdu.length + 1), u8(unitId), pdu]);
}

// ---------------------------------------------------------------- DNP3

let DNP3_TABLE = null;
/** DNP3 CRC-16 (polynomial 0x3D65, reflected 0xA6BC, complemented). */
export function dnp3Crc(buf) {
  if (!DNP3_TABLE) {
    DNP3_TABLE = new Uint16Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa6bc : c >>> 1;
      DNP3_TABLE[i] = c;
    }
  }
  let crc = 0;
  for (const b of buf) crc = (crc >>> 8) ^ DNP3_TABLE[(crc ^ b) & 0xff];
  return ~crc & 0xffff;
}

/**
 * A DNP3 link frame: header (0x05 0x64, length, control, destination, source, CRC) and the
 * user data in blocks of 16 bytes, each followed by its CRC (little-endian).
 */
export function dnp3Frame({ control = 0xc4, destination = 1, source = 3, userData = Buffer.alloc(0), badCrc = false }) {
  const h = Buffer.alloc(8);
  h[0] = 0x05; h[1] = 0x64; h[2] = 5 + userData.length; h[3] = control;
  h.writeUInt16LE(destination, 4); h.writeUInt16LE(source, 6);
  const parts = [h, u16le(dnp3Crc(h) ^ (badCrc ? 0x0101 : 0))];
  for (let o = 0; o < userData.length; o += 16) {
    const block = userData.subarray(o, o + 16);
    parts.push(block, u16le(dnp3Crc(block)));
  }
  return Buffer.concat(parts);
}

/** DNP3 user data: transport header (FIR, FIN, sequence), application control, function code, objects. */
export function dnp3Application({ seq = 0, appControl = 0xc0, functionCode, objects = Buffer.alloc(0) }) {
  return Buffer.concat([u8(0xc0 | (seq & 0x3f)), u8(appControl | (seq & 0x0f)), u8(functionCode), objects]);
}

// ---------------------------------------------------------------- ISO-TSAP: TPKT, COTP, S7comm, MMS

/** TPKT (RFC 1006) header + payload. */
export const tpkt = (payload) => Buffer.concat([Buffer.from([3, 0]), u16be(payload.length + 4), payload]);

/** COTP connection request (0xe0) or confirm (0xd0) with TSAP parameters. */
export function cotpConnect({ confirm = false, dstRef = 0, srcRef = 1, srcTsap = Buffer.from([0x01, 0x00]), dstTsap = Buffer.from([0x01, 0x02]), tpduSize = 0x0a }) {
  const params = Buffer.concat([
    Buffer.from([0xc0, 1, tpduSize]),
    Buffer.from([0xc1, srcTsap.length]), srcTsap,
    Buffer.from([0xc2, dstTsap.length]), dstTsap,
  ]);
  const body = Buffer.concat([u8(confirm ? 0xd0 : 0xe0), u16be(dstRef), u16be(srcRef), u8(0), params]);
  return Buffer.concat([u8(body.length), body]);
}

/** COTP data TPDU (0xf0, EOT) + payload. */
export const cotpData = (payload) => Buffer.concat([Buffer.from([2, 0xf0, 0x80]), payload]);

/** S7comm PDU: header 0x32, ROSCTR, PDU reference, parameter and data (ack-data carries error class/code). */
export function s7comm({ rosctr = 1, pduRef = 1, parameter = Buffer.alloc(0), data = Buffer.alloc(0) }) {
  const head = [u8(0x32), u8(rosctr), u16be(0), u16be(pduRef), u16be(parameter.length), u16be(data.length)];
  if (rosctr === 2 || rosctr === 3) head.push(Buffer.from([0, 0]));
  return Buffer.concat([...head, parameter, data]);
}

/** S7comm Setup Communication parameter (function 0xf0). */
export const s7SetupCommunication = (pduLength = 480) => Buffer.concat([Buffer.from([0xf0, 0x00, 0x00, 0x01, 0x00, 0x01]), u16be(pduLength)]);

function berLen(n) {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  return Buffer.from([0x82, n >> 8, n & 0xff]);
}
/** ISO 8327 SPDU / parameter: code, length (one byte, or 0xff and two bytes), value. */
function spdu(code, ...content) {
  const c = Buffer.concat(content);
  const len = c.length < 255 ? Buffer.from([c.length]) : Buffer.from([0xff, c.length >> 8, c.length & 0xff]);
  return Buffer.concat([Buffer.from([code]), len, c]);
}
const ber = (tag, ...content) => { const c = Buffer.concat(content); return Buffer.concat([Buffer.from(typeof tag === 'number' ? [tag] : tag), berLen(c.length), c]); };

/**
 * ISO 8327 session CONNECT (0x0d) or ACCEPT (0x0e) SPDU carrying an ISO 8823 presentation
 * CP / CPA PPDU with an ACSE AARQ / AARE and an MMS initiate-Request / -Response PDU: how an
 * IEC 61850 client opens an association.
 */
export function mmsAssociate({ response = false } = {}) {
  const mmsInitiate = response
    ? ber(0xa9, ber(0x80, Buffer.from([0x7d, 0x00])), ber(0x81, Buffer.from([1])), ber(0x82, Buffer.from([1])), ber(0x83, Buffer.from([4])),
      ber(0xa4, ber(0x80, Buffer.from([1])), ber(0x81, Buffer.from([0x05, 0xf1, 0x00])), ber(0x82, Buffer.from('03ee1c00000408000079ef18', 'hex'))))
    : ber(0xa8, ber(0x80, Buffer.from([0x7d, 0x00])), ber(0x81, Buffer.from([1])), ber(0x82, Buffer.from([1])), ber(0x83, Buffer.from([4])),
      ber(0xa4, ber(0x80, Buffer.from([1])), ber(0x81, Buffer.from([0x05, 0xf1, 0x00])), ber(0x82, Buffer.from('03ee1c00000408000079ef18', 'hex'))));
  const mmsContext = ber(0xa1, ber(0x06, Buffer.from([0x28, 0xca, 0x22, 0x02, 0x03]))); // 1.0.9506.2.3
  const userInfo = ber(0xbe, ber(0x28, ber(0x02, Buffer.from([3])), ber(0xa0, mmsInitiate)));
  const acse = response
    ? ber(0x61, mmsContext, ber(0xa2, ber(0x02, Buffer.from([0]))), ber(0xa3, ber(0xa1, ber(0x02, Buffer.from([0])))), userInfo)
    : ber(0x60, mmsContext, userInfo);
  const userData = ber(0x61, ber(0x30, ber(0x02, Buffer.from([1])), ber(0xa0, acse)));
  const contexts = ber(0xa4,
    ber(0x30, ber(0x02, Buffer.from([1])), ber(0x06, Buffer.from([0x52, 0x01, 0x00, 0x01])), ber(0x30, ber(0x06, Buffer.from([0x51, 0x01])))),
    ber(0x30, ber(0x02, Buffer.from([3])), ber(0x06, Buffer.from([0x28, 0xca, 0x22, 0x02, 0x01])), ber(0x30, ber(0x06, Buffer.from([0x51, 0x01])))));
  const results = ber(0xa5,
    ber(0x30, ber(0x80, Buffer.from([0])), ber(0x81, Buffer.from([0x51, 0x01]))),
    ber(0x30, ber(0x80, Buffer.from([0])), ber(0x81, Buffer.from([0x51, 0x01]))));
  const normal = response
    ? ber(0xa2, ber(0x83, Buffer.from([0, 0, 0, 1])), results, userData)
    : ber(0xa2, ber(0x81, Buffer.from([0, 0, 0, 1])), ber(0x82, Buffer.from([0, 0, 0, 1])), contexts, userData);
  const ppdu = ber(0x31, ber(0xa0, ber(0x80, Buffer.from([1]))), normal);
  const params = Buffer.concat([
    spdu(0x05, spdu(0x13, Buffer.from([0])), spdu(0x16, Buffer.from([2]))), // connect/accept item: protocol options, version 2
    spdu(0x14, Buffer.from([0x00, 0x02])), // session requirements: duplex
    ...(response ? [] : [spdu(0x33, Buffer.from([0x00, 0x01])), spdu(0x34, Buffer.from([0x00, 0x01]))]), // calling / called selectors
    spdu(0xc1, ppdu), // user data
  ]);
  return spdu(response ? 0x0e : 0x0d, params);
}

// ---------------------------------------------------------------- EtherNet/IP

/** EtherNet/IP encapsulation: command, length, session handle, status, sender context, options (LE). */
export function enip({ command, session = 0, status = 0, context = Buffer.alloc(8), options = 0, data = Buffer.alloc(0) }) {
  return Buffer.concat([u16le(command), u16le(data.length), u32le(session), u32le(status), context, u32le(options), data]);
}

// ---------------------------------------------------------------- BACnet/IP

/** BVLC header (0x81, function, length) + NPDU + APDU. */
export function bvlc({ fn = 0x0a, npdu }) {
  return Buffer.concat([Buffer.from([0x81, fn]), u16be(npdu.length + 4), npdu]);
}
/** NPDU (version 1, control) + APDU. */
export const bacnetNpdu = ({ control = 0x04, apdu }) => Buffer.concat([Buffer.from([0x01, control]), apdu]);
/** Who-Is (unconfirmed request, service 8). */
export const bacnetWhoIs = () => Buffer.from([0x10, 0x08]);
/** I-Am (unconfirmed request, service 0) for a device instance. */
export function bacnetIAm(instance = 1234) {
  const oid = ((8 << 22) | instance) >>> 0;
  const b = Buffer.alloc(4); b.writeUInt32BE(oid);
  return Buffer.concat([Buffer.from([0x10, 0x00, 0xc4]), b, Buffer.from([0x22, 0x05, 0xc4, 0x91, 0x00, 0x21, 0x0f])]);
}

// ---------------------------------------------------------------- IEC 60870-5-104

/** APCI U-format frame (STARTDT act 0x07, con 0x0b, TESTFR act 0x43, con 0x83, ...). */
export const iec104U = (control) => Buffer.from([0x68, 0x04, control, 0x00, 0x00, 0x00]);
/** APCI S-format frame (receive sequence number). */
export const iec104S = (recv) => Buffer.from([0x68, 0x04, 0x01, 0x00, (recv << 1) & 0xfe, (recv >> 7) & 0xff]);
/** APCI I-format frame with an ASDU. */
export function iec104I({ send = 0, recv = 0, asdu }) {
  return Buffer.concat([Buffer.from([0x68, asdu.length + 4, (send << 1) & 0xfe, (send >> 7) & 0xff, (recv << 1) & 0xfe, (recv >> 7) & 0xff]), asdu]);
}
/** General interrogation command (C_IC_NA_1, type 100), activation. */
export const iec104Interrogation = (commonAddress = 1) => Buffer.from([100, 0x01, 0x06, 0x00, commonAddress & 0xff, commonAddress >> 8, 0, 0, 0, 0x14]);

// ---------------------------------------------------------------- OPC UA binary

const uaString = (s) => (s === null ? i32le(-1) : Buffer.concat([i32le(Buffer.byteLength(s)), Buffer.from(s)]));

/** OPC UA message chunk: type ('HEL', 'ACK', 'OPN', 'MSG', 'CLO', 'ERR'), chunk 'F', u32 size, body. */
export function opcua(type, body, chunk = 'F') {
  return Buffer.concat([Buffer.from(type + chunk, 'latin1'), u32le(body.length + 8), body]);
}
/** Hello: version, buffer sizes, limits, endpoint URL. */
export const opcuaHello = (url) => opcua('HEL', Buffer.concat([u32le(0), u32le(65536), u32le(65536), u32le(0), u32le(0), uaString(url)]));
/** Acknowledge. */
export const opcuaAck = () => opcua('ACK', Buffer.concat([u32le(0), u32le(65536), u32le(65536), u32le(0x1000000), u32le(5000)]));

/** A request header (RFC-free: OPC UA Part 4 7.28) with a fixed timestamp. */
function uaRequestHeader(handle) {
  return Buffer.concat([
    Buffer.from([0x00, 0x00]), // authentication token: null NodeId
    Buffer.from('00a0c5bd7f7bdc01', 'hex'), // timestamp (DateTime)
    u32le(handle), u32le(0), uaString(null), u32le(10000),
    Buffer.from([0x00, 0x00, 0x00]), // additional header: null ExtensionObject
  ]);
}
const fourByteNodeId = (id) => Buffer.from([0x01, 0x00, id & 0xff, id >> 8]);

/** OpenSecureChannel request (policy None). */
export function opcuaOpen() {
  const body = Buffer.concat([
    u32le(0), // secure channel id
    uaString('http://opcfoundation.org/UA/SecurityPolicy#None'), i32le(-1), i32le(-1), // cert, thumbprint
    u32le(1), u32le(1), // sequence number, request id
    fourByteNodeId(446), uaRequestHeader(1),
    u32le(0), u32le(0), u32le(1), i32le(-1), u32le(3600000), // protocol version, issue, mode None, nonce, lifetime
  ]);
  return opcua('OPN', body);
}
/** GetEndpoints request in a MSG chunk. */
export function opcuaGetEndpoints(url, channel = 1, token = 1, seq = 2) {
  const body = Buffer.concat([
    u32le(channel), u32le(token), u32le(seq), u32le(seq),
    fourByteNodeId(428), uaRequestHeader(2), uaString(url), i32le(-1), i32le(-1),
  ]);
  return opcua('MSG', body);
}

// ---------------------------------------------------------------- MQTT

const mqttString = (s) => Buffer.concat([u16be(Buffer.byteLength(s)), Buffer.from(s)]);
function remainingLength(n) {
  const out = [];
  do { let d = n % 128; n = Math.floor(n / 128); if (n > 0) d |= 0x80; out.push(d); } while (n > 0);
  return Buffer.from(out);
}

/** MQTT CONNECT (level 4 = 3.1.1, 5 = 5.0; 3 = 3.1 with protocol name MQIsdp). */
export function mqttConnect({ level = 4, clientId = 'sensor-1', keepAlive = 60, cleanSession = true }) {
  const name = level === 3 ? mqttString('MQIsdp') : mqttString('MQTT');
  const vh = Buffer.concat([name, u8(level), u8(cleanSession ? 0x02 : 0), u16be(keepAlive), ...(level === 5 ? [u8(0)] : [])]);
  const body = Buffer.concat([vh, mqttString(clientId)]);
  return Buffer.concat([u8(0x10), remainingLength(body.length), body]);
}
/** MQTT CONNACK (return code 0). */
export const mqttConnack = (level = 4) => (level === 5 ? Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]) : Buffer.from([0x20, 0x02, 0x00, 0x00]));
/** MQTT PUBLISH QoS 0. */
export function mqttPublish(topic, payload, level = 4) {
  const body = Buffer.concat([mqttString(topic), ...(level === 5 ? [u8(0)] : []), Buffer.from(payload)]);
  return Buffer.concat([u8(0x30), remainingLength(body.length), body]);
}
