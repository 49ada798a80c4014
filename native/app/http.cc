// HTTP/1.x: the first request's method, Host and User-Agent; the first
// response's status. Only lines complete in the buffer (ending "\r\n") are read.
#include <cstring>

#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

const char* const kMethods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"};

// Offset of the "\r\n" ending the line that starts at `from`, or n.
uint32_t line_end(const uint8_t* b, uint32_t n, uint32_t from) {
  for (uint32_t i = from; i + 1 < n; i++)
    if (b[i] == '\r' && b[i + 1] == '\n') return i;
  return n;
}

bool digit(uint8_t c) { return c >= '0' && c <= '9'; }

// "HTTP/1." digit ' ' digit digit digit, as far as the buffer goes: 12 when
// whole, -1 when it cannot be, else how much of it is here.
int response_prefix(const uint8_t* b, uint32_t n) {
  static const char kPattern[] = "HTTP/1.# ###";
  uint32_t i = 0;
  for (; i < 12 && i < n; i++) {
    bool ok = kPattern[i] == '#' ? digit(b[i]) : b[i] == uint8_t(kPattern[i]);
    if (!ok) return -1;
  }
  return int(i);
}

// The method a buffer starts with (its length), 0 when none, -1 when the
// buffer is still a prefix of one.
int method(const uint8_t* b, uint32_t n) {
  bool prefix = false;
  for (const char* m : kMethods) {
    uint32_t k = uint32_t(std::strlen(m));
    if (n > k && starts_with(b, n, m, k) && b[k] == ' ') return int(k);
    if (n <= k && starts_with(reinterpret_cast<const uint8_t*>(m), k, reinterpret_cast<const char*>(b), n)) prefix = true;
  }
  return prefix ? -1 : 0;
}

bool ends_with_version(const uint8_t* b, uint32_t e) {
  return e >= 9 && (starts_with(b + e - 9, 9, " HTTP/1.0", 9) || starts_with(b + e - 9, 9, " HTTP/1.1", 9));
}

bool name_is(const uint8_t* p, uint32_t n, const char* name) {
  uint32_t k = uint32_t(std::strlen(name));
  if (n != k) return false;
  for (uint32_t i = 0; i < k; i++) {
    uint8_t c = p[i];
    if (c >= 'A' && c <= 'Z') c = uint8_t(c + 32);
    if (c != uint8_t(name[i])) return false;
  }
  return true;
}

// One header line [s, e): Host and User-Agent, value trimmed of spaces and tabs.
void header_line(AppFlow& f, const uint8_t* b, uint32_t s, uint32_t e) {
  uint32_t colon = s;
  while (colon < e && b[colon] != ':') colon++;
  if (colon == e) return;
  uint8_t id = name_is(b + s, colon - s, "host") ? kStrHttpHost : name_is(b + s, colon - s, "user-agent") ? kStrUserAgent : 0;
  if (!id) return;
  uint32_t v = colon + 1, w = e;
  while (v < w && (b[v] == ' ' || b[v] == '\t')) v++;
  while (w > v && (b[w - 1] == ' ' || b[w - 1] == '\t')) w--;
  f.area.string(id, b + v, w - v);
}

Verdict read_request(AppFlow& f, const uint8_t* b, uint32_t n, uint32_t method_len) {
  uint32_t e = line_end(b, n, 0);
  if (e == n) return kMore;
  if (!ends_with_version(b, e)) return kDone;
  f.area.string(kStrHttpMethod, b, method_len);
  for (uint32_t s = e + 2;;) {
    uint32_t le = line_end(b, n, s);
    if (le == n) return kMore;  // the header goes on past the buffer
    if (le == s) return kDone;  // the empty line
    header_line(f, b, s, le);
    s = le + 2;
  }
}

}  // namespace

// Maybe: the start of a method (or a method whose request line has not ended), or of a status line.
int match_http(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  int r = response_prefix(b, n);
  if (r == 12) return kAppHttp;
  int m = method(b, n);
  if (m < 0) return kMaybe;
  if (m > 0) {
    uint32_t e = line_end(b, n, 0);
    if (e == n) return kMaybe;
    if (ends_with_version(b, e)) return kAppHttp;
  }
  return r >= 0 ? kMaybe : 0;
}

Verdict read_http(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  int r = response_prefix(b, n);
  if (r == 12) {
    if (f.area.get16(off::kHttpStatus) == 0) f.area.set16(off::kHttpStatus, uint16_t((b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0')));
    return kDone;
  }
  int m = method(b, n);
  if (m > 0) return read_request(f, b, n, uint32_t(m));
  return r >= 0 || m < 0 ? kMore : kDone;  // still the start of one
}

}  // namespace app
}  // namespace flowmaster
