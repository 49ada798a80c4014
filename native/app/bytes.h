// Bounds-checked reads of payload bytes for the protocol readers: a Cursor
// over [p, p + n) whose reads fail (and stay failed) past its end.
#pragma once
#include <cstdint>

namespace flowmaster {
namespace app {

inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t be24(const uint8_t* p) { return uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]; }
inline uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | be24(p + 1); }
inline uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
inline uint32_t le32(const uint8_t* p) { return uint32_t(le16(p)) | uint32_t(le16(p + 2)) << 16; }
inline bool starts_with(const uint8_t* p, uint32_t n, const char* s, uint32_t k) {
  if (n < k) return false;
  for (uint32_t i = 0; i < k; i++)
    if (p[i] != uint8_t(s[i])) return false;
  return true;
}

struct Cursor {
  const uint8_t* p;
  uint32_t n;
  uint32_t at = 0;
  bool bad = false;

  Cursor(const uint8_t* data, uint32_t len) : p(data), n(len) {}
  uint32_t left() const { return bad ? 0 : n - at; }
  bool need(uint32_t k) {
    if (!bad && n - at >= k) return true;
    bad = true;
    return false;
  }
  uint8_t u8() { return need(1) ? p[at++] : 0; }
  uint16_t u16() {
    if (!need(2)) return 0;
    at += 2;
    return be16(p + at - 2);
  }
  uint32_t u24() {
    if (!need(3)) return 0;
    at += 3;
    return be24(p + at - 3);
  }
  const uint8_t* skip(uint32_t k) {
    if (!need(k)) return nullptr;
    at += k;
    return p + at - k;
  }
  // The next k bytes as a cursor of their own (a bad one when they are not all here).
  Cursor take(uint32_t k) {
    const uint8_t* q = skip(k);
    Cursor c(q, q ? k : 0);
    c.bad = !q;
    return c;
  }
};

}  // namespace app
}  // namespace flowmaster
