// Industrial protocols: Modbus/TCP, DNP3, ISO-TSAP (S7comm, S7comm-plus,
// MMS), EtherNet/IP, BACnet/IP, IEC 60870-5-104, OPC UA, MQTT. Each check
// says yes, no, or "maybe" (the buffer ends before the bytes it needs); the
// readers take appCode from the first PDU that has one, then are done.
#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

enum Check : uint8_t { kNo, kPart, kYes };  // kPart: the buffer ends before the answer

// A reader's verdict on a check that gave no field: more bytes are worth
// waiting for only on TCP, and only while the answer is "maybe".
Verdict after(const AppFlow& f, Check c) { return c == kPart && f.tcp() ? kMore : kDone; }

// A classifier's answer: maybe only on TCP (a datagram is read whole).
int match(const AppFlow& f, Check c, uint8_t app) { return c == kYes ? app : c == kPart && f.tcp() ? kMaybe : 0; }

// The MBAP length fits the function: exceptions, reads and writes have known sizes.
bool modbus_length(const uint8_t* b, uint32_t n, uint32_t len) {
  uint8_t fc = b[7];
  if (fc & 0x80) return len >= 3 && b[8] >= 1 && b[8] <= 11;
  if (fc <= 4) return len == 6 || len == 3u + b[8];
  if (fc == 5 || fc == 6) return len == 6;
  if (fc == 15 || fc == 16) return len == 6 || (n >= 13 && len == 7u + b[12]);
  return true;
}

Check modbus(const uint8_t* b, uint32_t n) {
  if (n < 6 || be16(b + 2) != 0) return kNo;
  uint16_t len = be16(b + 4);
  if (len < 2 || len > 254) return kNo;
  if (6u + len > n) return kPart;
  uint8_t fc = b[7] & 0x7f;
  bool known = (fc >= 1 && fc <= 8) || fc == 11 || fc == 12 || (fc >= 15 && fc <= 17) || (fc >= 20 && fc <= 24) || fc == 43;
  return known && modbus_length(b, n, len) ? kYes : kNo;
}

uint16_t dnp3_crc(const uint8_t* p, uint32_t n) {
  uint16_t crc = 0;
  for (uint32_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc & 1) ? uint16_t((crc >> 1) ^ 0xa6bc) : uint16_t(crc >> 1);
  }
  return uint16_t(~crc);
}

Check dnp3(const uint8_t* b, uint32_t n) {
  if (n < 10) return b[0] == 0x05 && (n < 2 || b[1] == 0x64) ? kPart : kNo;
  if (b[0] != 0x05 || b[1] != 0x64 || b[2] < 5 || dnp3_crc(b, 8) != le16(b + 8)) return kNo;
  return kYes;
}

bool tpkt(const uint8_t* b, uint32_t at) { return b[at] == 3 && b[at + 1] == 0 && be16(b + at + 2) >= 7; }

// ISO-TSAP: TPKTs from the start whose PDU is not data (connection
// request/confirm, ...) are stepped over by their length; the first data PDU
// decides. *data: offset of its first user byte.
uint8_t iso(const uint8_t* b, uint32_t n, Check* c, uint32_t* data) {
  uint32_t at = 0;
  while (uint64_t(at) + 7 <= n && tpkt(b, at) && b[at + 5] != 0xf0) at += be16(b + at + 2);
  *c = kPart;
  if (uint64_t(at) + 7 > n) {
    if (!(at > 0 || (b[0] == 3 && (n < 2 || b[1] == 0)))) *c = kNo;
    return kAppNone;
  }
  *c = kNo;
  if (!tpkt(b, at)) return kAppNone;
  uint32_t d = at + 5 + b[at + 4];
  *c = kPart;
  if (d >= n) return kAppNone;
  *c = kYes;
  *data = d;
  switch (b[d]) {
    case 0x32: return kAppS7comm;
    case 0x72: return kAppS7commPlus;
    case 0x0d:
    case 0x0e:
    case 0x01: return kAppMms;
    default: *c = kNo; return kAppNone;
  }
}

Check enip(const uint8_t* b, uint32_t n) {
  if (n < 24) return kNo;
  uint16_t cmd = le16(b);
  bool known = cmd == 0x0001 || cmd == 0x0004 || (cmd >= 0x0063 && cmd <= 0x0066) || cmd == 0x006f || cmd == 0x0070;
  if (!known || le32(b + 20) != 0) return kNo;
  return 24u + le16(b + 2) <= n ? kYes : kPart;
}

Check bacnet(const AppFlow& f, const uint8_t* b, uint32_t n) {
  if (n < 4) return kNo;
  return b[0] == 0x81 && b[1] <= 0x0c && be16(b + 2) == f.datagram_len ? kYes : kNo;
}

Check iec104(const uint8_t* b, uint32_t n) {
  if (b[0] != 0x68) return kNo;
  if (n < 2) return kPart;
  uint32_t len = b[1];
  if (len < 4 || len > 253) return kNo;
  if (2 + len > n) return kPart;
  if (2 + len < n && b[2 + len] != 0x68) return kNo;  // the next APDU
  uint8_t ctl = b[2];
  bool i_format = (ctl & 1) == 0 && (b[4] & 1) == 0;
  bool s_format = ctl == 0x01 && b[3] == 0 && (b[4] & 1) == 0;
  bool u_format = (ctl == 0x07 || ctl == 0x0b || ctl == 0x13 || ctl == 0x23 || ctl == 0x43 || ctl == 0x83) && len == 4;
  return i_format || s_format || u_format ? kYes : kNo;
}

Check opcua(const uint8_t* b, uint32_t n) {
  if (n < 8) return kNo;
  static const char* const kTypes[] = {"HEL", "ACK", "OPN", "CLO", "MSG", "ERR", "RHE"};
  bool type = false;
  for (const char* t : kTypes) type = type || starts_with(b, n, t, 3);
  uint32_t size = le32(b + 4);
  bool chunk = b[3] == 'F' || b[3] == 'C' || b[3] == 'A';
  return type && chunk && size >= 8 && size <= (1u << 24) ? kYes : kNo;
}

// MQTT CONNECT: the protocol level, at *level.
Check mqtt(const uint8_t* b, uint32_t n, uint32_t* level) {
  if (n < 1) return kPart;
  if (b[0] != 0x10) return kNo;
  uint32_t at = 1;
  for (int i = 0;; i++) {
    if (at >= n) return kPart;
    if (i == 3 && (b[at] & 0x80)) return kNo;  // a varint of at most 4 bytes
    if (!(b[at++] & 0x80)) break;
  }
  static const char kMqtt[] = {0, 4, 'M', 'Q', 'T', 'T'};
  static const char kMqisdp[] = {0, 6, 'M', 'Q', 'I', 's', 'd', 'p'};
  uint32_t left = n - at;
  uint32_t name = starts_with(b + at, left, kMqtt, 6) ? 6 : starts_with(b + at, left, kMqisdp, 8) ? 8 : 0;
  if (!name) {  // still the start of one of them?
    bool prefix = (left < 6 && starts_with(b + at, left, kMqtt, left)) || (left < 8 && starts_with(b + at, left, kMqisdp, left));
    return prefix ? kPart : kNo;
  }
  if (at + name >= n) return kPart;
  *level = at + name;
  return kYes;
}

}  // namespace

int match_modbus(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return match(f, modbus(b, n), kAppModbus); }
Verdict read_modbus(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Check c = modbus(b, n);
  if (c == kYes) f.area.code(b[7]);
  return after(f, c);
}

int match_dnp3(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return match(f, dnp3(b, n), kAppDnp3); }
// appCode of the first frame that has one (length >= 8): link-only frames
// before it are stepped over by their size (10 header bytes, then the user
// data in blocks of 16 bytes, each with its CRC). Bytes that end before that
// frame: more are waited for (the next TCP append, or UDP datagram).
Verdict read_dnp3(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Check c = dnp3(b, n);
  if (c != kYes) return after(f, c);
  for (uint32_t p = 0;;) {
    uint32_t len = b[p + 2];
    if (len >= 8) {
      if (n - p < 13) return kMore;
      f.area.code(b[p + 12]);
      return kDone;
    }
    uint32_t data = len - 5;
    p += 10 + data + 2 * ((data + 15) / 16);
    if (p >= n) return kMore;
    Check next = dnp3(b + p, n - p);
    if (next != kYes) return next == kPart ? kMore : kDone;
  }
}

int match_iso(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Check c;
  uint32_t d;
  uint8_t app = iso(b, n, &c, &d);
  return c == kYes ? app : match(f, c, kAppNone);
}
Verdict read_iso(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Check c;
  uint32_t d;
  uint8_t app = iso(b, n, &c, &d);
  if (c != kYes) return after(f, c);
  if (app == kAppS7comm && d + 1 < n) f.area.code(b[d + 1]);
  return kDone;
}

int match_enip(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return match(f, enip(b, n), kAppEnip); }
Verdict read_enip(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Check c = enip(b, n);
  if (c == kYes) f.area.code(le16(b));
  return after(f, c);
}

int match_bacnet(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return match(f, bacnet(f, b, n), kAppBacnet); }
Verdict read_bacnet(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Check c = bacnet(f, b, n);
  if (c == kYes) f.area.code(b[1]);
  return after(f, c);
}

int match_iec104(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return match(f, iec104(b, n), kAppIec104); }
Verdict read_iec104(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return after(f, iec104(b, n)); }

int match_opcua(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return match(f, opcua(b, n), kAppOpcua); }
Verdict read_opcua(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) { return after(f, opcua(b, n)); }
int match_mqtt(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  uint32_t level;
  return match(f, mqtt(b, n, &level), kAppMqtt);
}
Verdict read_mqtt(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  uint32_t level;
  Check c = mqtt(b, n, &level);
  if (c == kYes) f.area.code(b[level]);
  return after(f, c);
}

}  // namespace app
}  // namespace flowmaster
