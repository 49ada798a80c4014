/**
 * Industrial protocols by payload (docs/applications.md). Each reader takes
 * the buffer's first PDU: -1 if it is not one, NEED if more bytes could make
 * it one, NO_CODE if it is one without an appCode, LATER if the appCode is in
 * a PDU not buffered yet, else the appCode.
 */
import {
  APP_BACNET, APP_DNP3, APP_ENIP, APP_IEC104, APP_MMS, APP_MODBUS, APP_MQTT, APP_OPCUA, APP_S7COMM, APP_S7COMM_PLUS,
  DONE, MAYBE, MORE, type AppFlowInfo, type Status,
} from './apps';

export const NO_CODE = -2;
export const NEED = -3;
/** a PDU that matches, its appCode in a later one not buffered yet */
export const LATER = -4;
const be16 = (b: Uint8Array, p: number) => (b[p] << 8) | b[p + 1];
const le16 = (b: Uint8Array, p: number) => b[p] | (b[p + 1] << 8);

const MODBUS_FUNCTIONS = new Set([1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 15, 16, 17, 20, 21, 22, 23, 24, 43]);

export function modbus(b: Uint8Array, n: number): number {
  if (n < 6 || be16(b, 2) !== 0) return -1;
  const len = be16(b, 4);
  if (len < 2 || len > 254) return -1;
  if (6 + len > n) return NEED;
  return MODBUS_FUNCTIONS.has(b[7] & 0x7f) && modbusLength(b, n, len) ? b[7] : -1;
}

/** The MBAP length fits the function: exceptions, read/write requests and responses have known sizes. */
function modbusLength(b: Uint8Array, n: number, len: number): boolean {
  const fc = b[7];
  if (fc & 0x80) return len >= 3 && b[8] >= 1 && b[8] <= 11;
  if (fc <= 4) return len === 6 || len === 3 + b[8];
  if (fc === 5 || fc === 6) return len === 6;
  if (fc === 15 || fc === 16) return len === 6 || (n >= 13 && len === 7 + b[12]);
  return true;
}

const DNP3_CRC = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa6bc : c >>> 1;
    t[i] = c;
  }
  return t;
})();

export function dnp3Crc(b: Uint8Array, p: number, end: number): number {
  let crc = 0;
  for (let i = p; i < end; i++) crc = (crc >>> 8) ^ DNP3_CRC[(crc ^ b[i]) & 0xff];
  return ~crc & 0xffff;
}

/** A valid DNP3 link header at p: 1; more bytes needed: 0; else -1. */
function dnp3Header(b: Uint8Array, p: number, n: number): number {
  if (p >= n) return 0;
  if (p + 10 > n) return b[p] === 0x05 && (p + 1 >= n || b[p + 1] === 0x64) ? 0 : -1;
  return b[p] === 0x05 && b[p + 1] === 0x64 && b[p + 2] >= 5 && dnp3Crc(b, p, p + 8) === le16(b, p + 8) ? 1 : -1;
}

/**
 * NEED / -1 while the buffer does not start with a frame; else the appCode of
 * the first frame with application data (link-only frames before it
 * skipped by their size), LATER if the buffer ends before it, NO_CODE if an
 * invalid frame comes first.
 */
export function dnp3(b: Uint8Array, n: number): number {
  for (let p = 0; ; ) {
    const h = dnp3Header(b, p, n);
    if (h !== 1) return p === 0 ? (h === 0 ? NEED : -1) : h === 0 ? LATER : NO_CODE;
    const len = b[p + 2];
    if (len >= 8) return p + 13 <= n ? b[p + 12] : LATER;
    const data = len - 5;
    p += 10 + data + 2 * Math.ceil(data / 16);
  }
}

const isTpkt = (b: Uint8Array, p: number) => b[p] === 3 && b[p + 1] === 0 && be16(b, p + 2) >= 7;

/**
 * ISO-TSAP: [application, code] of the buffer's first COTP data PDU (TPKTs
 * before it skipped), NEED when the buffer ends before that, or null.
 */
export function tsap(b: Uint8Array, n: number): [number, number] | typeof NEED | null {
  let p = 0;
  while (p + 7 <= n && isTpkt(b, p) && b[p + 5] !== 0xf0) p += be16(b, p + 2);
  if (p + 7 > n) return p > 0 || (b[0] === 3 && (n < 2 || b[1] === 0)) ? NEED : null;
  if (!isTpkt(b, p)) return null;
  const q = p + 5 + b[p + 4];
  if (q >= n) return NEED;
  switch (b[q]) {
    case 0x32:
      return [APP_S7COMM, q + 1 < n ? b[q + 1] : NO_CODE];
    case 0x72:
      return [APP_S7COMM_PLUS, NO_CODE];
    case 0x0d:
    case 0x0e:
    case 0x01:
      return [APP_MMS, NO_CODE];
  }
  return null;
}

const ENIP_COMMANDS = new Set([0x0001, 0x0004, 0x0063, 0x0064, 0x0065, 0x0066, 0x006f, 0x0070]);

export function enip(b: Uint8Array, n: number): number {
  if (n < 24) return -1;
  const cmd = le16(b, 0);
  if (!ENIP_COMMANDS.has(cmd) || b[20] | b[21] | b[22] | b[23]) return -1;
  return 24 + le16(b, 2) > n ? NEED : cmd;
}

export function bacnet(b: Uint8Array, n: number, datagram: number): number {
  return n >= 4 && b[0] === 0x81 && b[1] <= 0x0c && be16(b, 2) === datagram ? b[1] : -1;
}

const U_FORMATS = new Set([0x07, 0x0b, 0x13, 0x23, 0x43, 0x83]);

export function iec104(b: Uint8Array, n: number): number {
  if (b[0] !== 0x68 || n < 1) return -1;
  if (n < 2) return NEED;
  const len = b[1];
  if (len < 4 || len > 253) return -1;
  if (2 + len > n) return NEED;
  if (2 + len < n && b[2 + len] !== 0x68) return -1;
  const c = b[2];
  const format = (c & 1) === 0 ? (b[4] & 1) === 0 : c === 0x01 ? b[3] === 0 && (b[4] & 1) === 0 : U_FORMATS.has(c) && len === 4;
  return format ? NO_CODE : -1;
}

const OPCUA_TYPES = ['HEL', 'ACK', 'OPN', 'CLO', 'MSG', 'ERR', 'RHE'];

export function opcua(b: Uint8Array, n: number): number {
  if (n < 8) return -1;
  const type = String.fromCharCode(b[0], b[1], b[2]);
  const chunk = b[3];
  const size = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
  return OPCUA_TYPES.includes(type) && (chunk === 0x46 || chunk === 0x43 || chunk === 0x41) && size >= 8 && size <= 1 << 24
    ? NO_CODE
    : -1;
}

const MQTT = [0, 4, 0x4d, 0x51, 0x54, 0x54];
const MQISDP = [0, 6, 0x4d, 0x51, 0x49, 0x73, 0x64, 0x70];

export function mqtt(b: Uint8Array, n: number): number {
  if (n < 1 || b[0] !== 0x10) return -1;
  let p = 1;
  while (p < n && p <= 4 && b[p] & 0x80) p++;
  if (p > 4) return -1;
  if (p >= n) return NEED;
  p++;
  let need = false;
  for (const name of [MQTT, MQISDP]) {
    let i = 0;
    while (i < name.length && p + i < n && b[p + i] === name[i]) i++;
    if (i === name.length && p + i < n) return b[p + i];
    if (p + i >= n) need = true;
  }
  return need ? NEED : -1;
}

const READERS: Record<number, (b: Uint8Array, n: number, f: AppFlowInfo) => number> = {
  [APP_MODBUS]: modbus,
  [APP_DNP3]: dnp3,
  [APP_ENIP]: enip,
  [APP_BACNET]: (b, n, f) => bacnet(b, n, f.datagram),
  [APP_IEC104]: iec104,
  [APP_OPCUA]: opcua,
  [APP_MQTT]: mqtt,
};

/** Classifiers in the spec's order from Modbus on: the application, MAYBE, or 0. */
export function classifyIcs(f: AppFlowInfo, b: Uint8Array, n: number): number {
  const tcp = f.proto === 6;
  let maybe = false;
  const found = (r: number) => {
    if (r === NEED) maybe = true;
    return r >= 0 || r === NO_CODE || r === LATER;
  };
  if (tcp && found(modbus(b, n))) return APP_MODBUS;
  if (found(dnp3(b, n))) return APP_DNP3;
  const t = tcp ? tsap(b, n) : null;
  if (t === NEED) maybe = true;
  else if (t) return t[0];
  if (found(enip(b, n))) return APP_ENIP;
  if (!tcp && found(bacnet(b, n, f.datagram))) return APP_BACNET;
  if (tcp && found(iec104(b, n))) return APP_IEC104;
  if (tcp && found(opcua(b, n))) return APP_OPCUA;
  if (tcp && found(mqtt(b, n))) return APP_MQTT;
  return maybe && tcp ? MAYBE : 0;
}

/** The first PDU of each direction gives appCode (the flow's first one wins). */
export function dissectIcs(f: AppFlowInfo, _fwd: boolean, b: Uint8Array, n: number): Status {
  const app = f.area.application;
  let code: number;
  if (app === APP_S7COMM || app === APP_S7COMM_PLUS || app === APP_MMS) {
    const t = tsap(b, n);
    code = t === null ? -1 : t === NEED ? NEED : t[1];
  } else {
    code = READERS[app](b, n, f);
  }
  if (code === -1) return DONE;
  if (code === LATER || (code === NEED && f.proto === 6)) return MORE;
  if (code === NEED) return DONE;
  if (code >= 0) f.area.code(code);
  return DONE;
}
