// DNS, mDNS and LLMNR (by port): the first question (dnsQuery, dnsQtype) and
// the first response's rcode, answer count and first A / AAAA answer. Over
// TCP a message has a u16 length before it and is read once whole.
#include <cstring>

#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

constexpr uint32_t kMaxJumps = 128;
constexpr uint32_t kMaxName = 255;

// The message a buffer starts with; false while a TCP message is not whole.
bool message(AppFlow& f, const uint8_t* b, uint32_t n, const uint8_t** m, uint32_t* len) {
  if (!f.tcp()) {
    *m = b;
    *len = n;
    return true;
  }
  if (n < 2 || n - 2 < be16(b)) return false;
  *m = b + 2;
  *len = be16(b);
  return true;
}

// The name at *at: labels joined by '.' into out (at most kMaxName bytes),
// compression pointers followed; *at moves past the name as it lies in the
// message. False when malformed.
bool read_name(const uint8_t* m, uint32_t len, uint32_t* at, uint8_t* out, uint32_t* out_len) {
  uint32_t p = *at, k = 0, jumps = 0;
  bool jumped = false;
  for (;;) {
    if (p >= len) return false;
    uint8_t l = m[p];
    if (l == 0) {
      if (!jumped) *at = p + 1;
      *out_len = k;
      return true;
    }
    if ((l & 0xc0) == 0xc0) {
      if (p + 1 >= len || ++jumps > kMaxJumps) return false;
      if (!jumped) *at = p + 2;
      jumped = true;
      p = uint32_t(l & 0x3f) << 8 | m[p + 1];
      continue;
    }
    if (l & 0xc0) return false;  // 0x40, 0x80: no such label types
    if (p + 1 + l > len) return false;
    uint32_t add = (k ? 1 : 0) + l;
    if (k + add > kMaxName) return false;
    if (k) out[k++] = '.';
    for (uint32_t i = 0; i < l; i++) out[k++] = m[p + 1 + i];
    p += 1 + l;
  }
}

struct Parsed {
  uint16_t flags, qd, an;
  bool question;         // qd > 0: the first question below
  uint32_t name_len;     // in scratch.text
  uint16_t qtype;
  uint32_t after;        // offset past the first question (or the header)
};

// Header and, if any, the first question.
bool parse(AppFlow& f, const uint8_t* m, uint32_t len, Parsed& p) {
  if (len < 12) return false;
  p.flags = be16(m + 2);
  p.qd = be16(m + 4);
  p.an = be16(m + 6);
  p.question = p.qd > 0;
  p.after = 12;
  if (!p.question) return true;
  if (!read_name(m, len, &p.after, f.scratch.text, &p.name_len) || len - p.after < 4) return false;
  p.qtype = be16(m + p.after);
  p.after += 4;
  return true;
}

// Past the name at *at as it lies in the message (a pointer ends it; its
// target is not read); false when it runs out or has a label type not in use.
bool skip_name(const uint8_t* m, uint32_t len, uint32_t* at) {
  for (uint32_t p = *at; p < len;) {
    uint8_t l = m[p];
    if (l == 0 || (l & 0xc0) == 0xc0) {
      *at = p + (l ? 2 : 1);
      return *at <= len;
    }
    if (l & 0xc0) return false;
    p += 1 + l;
  }
  return false;
}

// The first A (rdlength 4) or AAAA (rdlength 16) answer of a response.
void first_address(AppFlow& f, const uint8_t* m, uint32_t len, const Parsed& p) {
  uint32_t at = p.after;
  for (uint32_t q = 1; q < p.qd; q++) {
    if (!skip_name(m, len, &at) || len - at < 4) return;
    at += 4;
  }
  for (uint32_t a = 0; a < p.an; a++) {
    if (!skip_name(m, len, &at) || len - at < 10) return;
    uint16_t type = be16(m + at), rdlength = be16(m + at + 8);
    at += 10;
    if (len - at < rdlength) return;
    if ((type == 1 && rdlength == 4) || (type == 28 && rdlength == 16)) {
      f.area.set8(off::kDnsAnswerVersion, type == 1 ? 4 : 6);
      std::memcpy(f.area.at(off::kDnsAnswerAddr), m + at, rdlength);
      return;
    }
    at += rdlength;
  }
}

uint8_t application_of(const AppFlow& f) {
  auto on = [&](uint16_t port) { return f.port_a == port || f.port_b == port; };
  return on(53) ? kAppDns : on(5353) ? kAppMdns : on(5355) ? kAppLlmnr : kAppNone;
}

}  // namespace

int match_dns(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  uint8_t app = application_of(f);
  const uint8_t* m;
  uint32_t len;
  Parsed p;
  if (app == kAppNone) return 0;
  if (!message(f, b, n, &m, &len)) return kMaybe;
  return parse(f, m, len, p) ? app : 0;
}

// A direction is done after its first message. A response's header gives
// rcode and answer count; its question must parse for the answers to be read.
Verdict read_dns(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  const uint8_t* m;
  uint32_t len;
  Parsed p;
  if (!message(f, b, n, &m, &len)) return kMore;
  if (len < 12) return kDone;
  bool first_response = (m[2] & 0x80) && !f.area.has_flag(kAppFlagDnsResponse);
  if (first_response) {
    f.area.flag(kAppFlagDnsResponse);
    f.area.set8(off::kDnsRcode, m[3] & 0x0f);
    f.area.set16(off::kDnsAnswers, be16(m + 6));
  }
  if (!parse(f, m, len, p)) return kDone;
  if (p.question && !f.st.dns_question) {
    f.st.dns_question = true;
    f.area.string(kStrDnsQuery, f.scratch.text, p.name_len);
    f.area.set16(off::kDnsQtype, p.qtype);
  }
  if (first_response) first_address(f, m, len, p);
  return kDone;
}

}  // namespace app
}  // namespace flowmaster
