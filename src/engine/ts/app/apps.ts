/** Application and string ids of the record's application area (src/flow/layout.ts APPLICATIONS, APP_STRINGS). */
export const APP_TLS = 1;
export const APP_QUIC = 2;
export const APP_DNS = 3;
export const APP_MDNS = 4;
export const APP_LLMNR = 5;
export const APP_HTTP = 6;
export const APP_SSH = 7;
export const APP_MODBUS = 8;
export const APP_DNP3 = 9;
export const APP_S7COMM = 10;
export const APP_S7COMM_PLUS = 11;
export const APP_MMS = 12;
export const APP_ENIP = 13;
export const APP_BACNET = 14;
export const APP_IEC104 = 15;
export const APP_OPCUA = 16;
export const APP_MQTT = 17;

export const S_SNI = 1;
export const S_ALPN = 2;
export const S_JA4 = 3;
export const S_JA3 = 4;
export const S_CERT_CN = 5;
export const S_DNS_QUERY = 6;
export const S_HTTP_METHOD = 7;
export const S_HTTP_HOST = 8;
export const S_USER_AGENT = 9;
export const S_SSH_CLIENT = 10;
export const S_SSH_SERVER = 11;

/** A classifier's answer when more bytes of a TCP buffer could still make it match (0: no match). */
export const MAYBE = -1;

/** A dissector's answer for one direction: more bytes may add fields, or it is done. */
export const MORE = 0;
export const DONE = 1;
export type Status = typeof MORE | typeof DONE;

/** What dissectors see of the flow. */
export interface AppFlowInfo {
  readonly area: import('./area').AppArea;
  readonly proto: number;
  readonly portA: number;
  readonly portB: number;
  /** dissectBytes: the most bytes read per direction */
  readonly bound: number;
  /** UDP: the datagram's payload length (from its header; the bytes read may be fewer) */
  datagram: number;
  /** protocol state kept across packets (QUIC's keys and crypto buffer) */
  quic: unknown;
}
