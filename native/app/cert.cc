// certCn: the subject common name of a TLS server's first certificate, by a
// small bounded DER walker. A certificate cut by the buffer is read as far as
// it goes (kCertCut: what is needed is not here yet); a length past its
// container, or a form X.509 does not use, ends the walk (kCertNone).
#include <algorithm>

#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

struct Tlv {
  uint8_t tag;
  uint32_t start, end;  // content
};

// The DER element at `at`, which must end by `end` (its container's);
// `avail` bytes of the certificate are here.
CertResult element(const uint8_t* p, uint32_t avail, uint32_t at, uint32_t end, Tlv& t) {
  if (at >= end || end - at < 2) return kCertNone;
  if (avail < at + 2) return kCertCut;
  t.tag = p[at];
  if ((t.tag & 0x1f) == 0x1f) return kCertNone;  // high tag numbers
  uint32_t len = p[at + 1], hdr = 2;
  if (len & 0x80) {
    uint32_t k = len & 0x7f;
    if (k == 0 || k > 4 || end - at < 2 + k) return kCertNone;  // indefinite, or too long
    if (avail < at + 2 + k) return kCertCut;
    len = 0;
    for (uint32_t i = 0; i < k; i++) len = len << 8 | p[at + 2 + i];
    hdr = 2 + k;
  }
  if (len > end - at - hdr) return kCertNone;
  t.start = at + hdr;
  t.end = t.start + len;
  return kCertFound;
}

#define STEP(call)                            \
  do {                                        \
    CertResult r_ = (call);                   \
    if (r_ != kCertFound) return r_;          \
  } while (0)

// The first attribute of type 2.5.4.3 in a Name (SEQUENCE OF SET OF
// SEQUENCE { OID, value }).
CertResult common_name(AppFlow& f, const uint8_t* p, uint32_t avail, const Tlv& name) {
  static const uint8_t kCn[3] = {0x55, 0x04, 0x03};
  for (uint32_t a = name.start; a < name.end;) {
    Tlv set;
    STEP(element(p, avail, a, name.end, set));
    for (uint32_t b = set.start; b < set.end;) {
      Tlv atv, oid, value;
      STEP(element(p, avail, b, set.end, atv));
      STEP(element(p, avail, atv.start, atv.end, oid));
      if (oid.tag == 0x06 && oid.end - oid.start == 3) {
        if (avail < oid.end) return kCertCut;
        if (std::equal(kCn, kCn + 3, p + oid.start)) {
          STEP(element(p, avail, oid.end, atv.end, value));
          if (avail < value.end) return kCertCut;
          f.area.string(kStrCertCn, p + value.start, value.end - value.start);
          return kCertFound;
        }
      }
      b = atv.end;
    }
    a = set.end;
  }
  return kCertNone;
}

// Certificate ::= SEQUENCE { TBSCertificate ::= SEQUENCE { [0] version
// OPTIONAL, serial, signature, issuer, validity, subject, ... } ... }
CertResult subject_cn(AppFlow& f, const uint8_t* p, uint32_t avail, uint32_t len) {
  Tlv cert, tbs, el;
  STEP(element(p, avail, 0, len, cert));
  STEP(element(p, avail, cert.start, cert.end, tbs));
  uint32_t at = tbs.start;
  STEP(element(p, avail, at, tbs.end, el));
  if (el.tag == 0xa0) at = el.end;
  for (int skip = 0; skip < 4; skip++) {  // serial, signature, issuer, validity
    STEP(element(p, avail, at, tbs.end, el));
    at = el.end;
  }
  STEP(element(p, avail, at, tbs.end, el));
  return common_name(f, p, avail, el);
}

}  // namespace

CertResult read_certificate(AppFlow& f, const uint8_t* body, uint32_t avail, uint32_t len) {
  if (len < 6) return kCertNone;
  if (avail < 6) return kCertCut;
  uint32_t list = be24(body), cert = be24(body + 3);
  if (list > len - 3 || list < 3 || cert > list - 3) return kCertNone;
  return subject_cn(f, body + 6, std::min(cert, avail - 6), cert);
}

}  // namespace app
}  // namespace flowmaster
