// TLS over TCP: records to a handshake stream, ClientHello (sni, alpn, JA4,
// JA3), ServerHello (tlsVersion) and the Certificate after it (cert.cc).
#include <algorithm>
#include <cstring>

#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

// The handshake records of a buffer joined; `ended`: a record of another
// type (or not version 3.x) came, so no more handshake bytes will follow.
struct Stream {
  const uint8_t* p;
  uint32_t n;
  bool ended;
};

Stream handshake_stream(const uint8_t* b, uint32_t n, uint8_t* out) {
  Stream s{out, 0, false};
  uint32_t at = 0;
  while (n - at >= 5) {
    if (b[at] != 22 || b[at + 1] != 3) {
      s.ended = true;
      break;
    }
    uint32_t len = be16(b + at + 3);
    uint32_t have = std::min(len, n - at - 5);
    std::memcpy(out + s.n, b + at + 5, have);
    s.n += have;
    if (have < len) break;
    at += 5 + len;
  }
  return s;
}

inline bool grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff); }

// What fields come from: the first occurrence of each extension, validated.
struct Hello {
  uint16_t version = 0;
  Cursor ciphers{nullptr, 0};
  Cursor exts{nullptr, 0};
  bool has_sni = false, has_alpn = false, has_versions = false;
  Cursor sni{nullptr, 0};       // the first name of type 0 (p null: none)
  Cursor alpn{nullptr, 0};      // the protocol name list
  Cursor versions{nullptr, 0};  // supported_versions list
  Cursor sigalgs{nullptr, 0}, groups{nullptr, 0}, formats{nullptr, 0};
};

// One extension's data, checked where a field comes from it: a length past
// its container is malformed (false).
bool read_extension(Hello& h, uint16_t type, Cursor d) {
  switch (type) {
    case 0: {
      Cursor list = d.take(d.u16());
      if (list.bad) return false;
      bool first = !h.has_sni;
      while (list.left()) {
        uint8_t t = list.u8();
        Cursor name = list.take(list.u16());
        if (name.bad) return false;
        if (t == 0 && first && !h.sni.p) h.sni = name;
      }
      h.has_sni = true;
      return true;
    }
    case 16: {
      Cursor list = d.take(d.u16());
      if (list.bad) return false;
      for (Cursor l = list; l.left();)
        if (l.take(l.u8()).bad) return false;
      if (!h.has_alpn) h.alpn = list;
      h.has_alpn = true;
      return true;
    }
    case 43: {
      Cursor list = d.take(d.u8());
      if (list.bad) return false;
      if (!h.has_versions) h.versions = list;
      h.has_versions = true;
      return true;
    }
    case 13:
    case 10: {
      Cursor list = d.take(d.u16());
      if (list.bad) return false;
      Cursor& slot = type == 13 ? h.sigalgs : h.groups;
      if (!slot.p) slot = list;
      return true;
    }
    case 11: {
      Cursor list = d.take(d.u8());
      if (list.bad) return false;
      if (!h.formats.p) h.formats = list;
      return true;
    }
    default:
      return true;
  }
}

bool parse_hello(const uint8_t* body, uint32_t len, Hello& h) {
  Cursor c(body, len);
  h.version = c.u16();
  c.skip(32);
  c.skip(c.u8());
  h.ciphers = c.take(c.u16());
  c.skip(c.u8());
  if (c.bad || h.ciphers.bad) return false;
  if (c.left() == 0) return true;  // no extensions
  h.exts = c.take(c.u16());
  if (h.exts.bad) return false;
  for (Cursor e = h.exts; e.left();) {
    uint16_t type = e.u16();
    Cursor d = e.take(e.u16());
    if (d.bad || !read_extension(h, type, d)) return false;
  }
  return true;
}

void put_hex4(char* o, uint16_t v) {
  static const char kHex[] = "0123456789abcdef";
  o[0] = kHex[v >> 12];
  o[1] = kHex[(v >> 8) & 15];
  o[2] = kHex[(v >> 4) & 15];
  o[3] = kHex[v & 15];
}

uint32_t put_dec(char* o, uint32_t v) {
  char t[10];
  uint32_t k = 0;
  do {
    t[k++] = char('0' + v % 10);
    v /= 10;
  } while (v);
  for (uint32_t i = 0; i < k; i++) o[i] = t[k - 1 - i];
  return k;
}

// Values of a u16 list, GREASE left out (when asked), into out; returns the count.
uint32_t u16_values(Cursor list, bool drop_grease, uint16_t* out) {
  uint32_t k = 0;
  if (!list.p) return 0;
  for (uint32_t i = 0; i + 1 < list.n; i += 2) {
    uint16_t v = be16(list.p + i);
    if (!(drop_grease && grease(v))) out[k++] = v;
  }
  return k;
}

// "dddd,dddd,..." of values into the running digest.
void digest_hex_list(Crypto& c, const uint16_t* v, uint32_t k) {
  char buf[5];
  for (uint32_t i = 0; i < k; i++) {
    buf[0] = ',';
    put_hex4(buf + 1, v[i]);
    c.update(i ? buf : buf + 1, i ? 5 : 4);
  }
}

const char* ja4_version(uint16_t v) {
  switch (v) {
    case 0x0304: return "13";
    case 0x0303: return "12";
    case 0x0302: return "11";
    case 0x0301: return "10";
    case 0x0300: return "s3";
    case 0x0002: return "s2";
    case 0xfeff: return "d1";
    case 0xfefd: return "d2";
    case 0xfefc: return "d3";
    default: return "00";
  }
}

bool alnum(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// JA4 (FoxIO): a 36-character fingerprint into out.
void ja4(AppFlow& f, const Hello& h, char prefix, char* out) {
  uint16_t* list = f.scratch.list;
  uint16_t version = h.version;
  bool have = false;
  for (uint32_t i = 0; h.versions.p && i + 1 < h.versions.n; i += 2) {
    uint16_t v = be16(h.versions.p + i);
    if (!grease(v) && (!have || v > version)) version = v, have = true;
  }
  uint32_t ciphers = u16_values(h.ciphers, true, list);
  uint32_t exts = 0;
  for (Cursor e = h.exts; e.p && e.left();) {
    uint16_t t = e.u16();
    e.skip(e.u16());
    if (!grease(t)) exts++;
  }
  out[0] = prefix;
  std::memcpy(out + 1, ja4_version(version), 2);
  out[3] = h.has_sni ? 'd' : 'i';
  uint32_t cc = std::min(ciphers, 99u), ec = std::min(exts, 99u);
  out[4] = char('0' + cc / 10), out[5] = char('0' + cc % 10);
  out[6] = char('0' + ec / 10), out[7] = char('0' + ec % 10);
  out[8] = out[9] = '0';
  if (h.alpn.p && h.alpn.n >= 2 && h.alpn.p[0] > 0) {  // the first protocol name
    uint8_t first = h.alpn.p[1], last = h.alpn.p[h.alpn.p[0]];
    static const char kHex[] = "0123456789abcdef";
    if (alnum(first) && alnum(last)) out[8] = char(first), out[9] = char(last);
    else out[8] = kHex[first >> 4], out[9] = kHex[last & 15];
  }
  out[10] = '_';
  std::sort(list, list + ciphers);
  if (ciphers) {
    f.crypto.begin_sha256();
    digest_hex_list(f.crypto, list, ciphers);
    f.crypto.finish_hex(out + 11, 12);
  } else {
    std::memset(out + 11, '0', 12);
  }
  out[23] = '_';
  uint32_t k = 0;
  for (Cursor e = h.exts; e.p && e.left();) {
    uint16_t t = e.u16();
    e.skip(e.u16());
    if (!grease(t) && t != 0 && t != 16) list[k++] = t;
  }
  std::sort(list, list + k);
  if (k) {
    f.crypto.begin_sha256();
    digest_hex_list(f.crypto, list, k);
    uint32_t s = u16_values(h.sigalgs, false, list);
    if (s) {
      f.crypto.update("_", 1);
      digest_hex_list(f.crypto, list, s);
    }
    f.crypto.finish_hex(out + 24, 12);
  } else {
    std::memset(out + 24, '0', 12);
  }
}

// "a-b-c" of a u16 list (GREASE left out) into the running digest.
void digest_dec_list(Crypto& c, Cursor list, uint32_t step) {
  char buf[8];
  bool first = true;
  for (uint32_t i = 0; list.p && i + step <= list.n; i += step) {
    uint16_t v = step == 2 ? be16(list.p + i) : list.p[i];
    if (step == 2 && grease(v)) continue;
    uint32_t k = 0;
    if (!first) buf[k++] = '-';
    k += put_dec(buf + k, v);
    c.update(buf, k);
    first = false;
  }
}

// JA3: MD5 of "version,ciphers,extensions,groups,pointformats" (32 hex digits).
void ja3(AppFlow& f, const Hello& h, char* out) {
  Crypto& c = f.crypto;
  char buf[8];
  c.begin_md5();
  c.update(buf, put_dec(buf, h.version));
  c.update(",", 1);
  digest_dec_list(c, h.ciphers, 2);
  c.update(",", 1);
  bool first = true;
  for (Cursor e = h.exts; e.p && e.left();) {
    uint16_t t = e.u16();
    e.skip(e.u16());
    if (grease(t)) continue;
    uint32_t k = 0;
    if (!first) buf[k++] = '-';
    k += put_dec(buf + k, t);
    c.update(buf, k);
    first = false;
  }
  c.update(",", 1);
  digest_dec_list(c, h.groups, 2);
  c.update(",", 1);
  digest_dec_list(c, h.formats, 1);
  c.finish_hex(out, 32);
}

// alpn: the client's protocol names joined by ','.
void write_alpn(AppFlow& f, Cursor list) {
  uint8_t* t = f.scratch.text;
  uint32_t k = 0;
  for (Cursor l = list; l.left();) {
    Cursor name = l.take(l.u8());
    if (l.at != 1 + name.n) t[k++] = ',';  // after the first name (an empty one too)
    std::memcpy(t + k, name.p, name.n);
    k += name.n;
  }
  f.area.string(kStrAlpn, t, k);
}

// ServerHello body: the version the server chose; false when malformed.
bool server_version(const uint8_t* body, uint32_t len, uint16_t* version) {
  Cursor c(body, len);
  *version = c.u16();
  c.skip(32);
  c.skip(c.u8());
  c.skip(3);  // cipher suite, compression method
  if (c.bad) return false;
  if (c.left() == 0) return true;
  Cursor exts = c.take(c.u16());
  bool chosen = false;
  while (!exts.bad && exts.left()) {
    uint16_t type = exts.u16();
    Cursor d = exts.take(exts.u16());
    if (type == 43 && !chosen) {
      uint16_t v = d.u16();
      if (d.bad) return false;
      *version = v;
      chosen = true;
    }
  }
  return !exts.bad;
}

// The stream of a server: ServerHello, then (below TLS 1.3) its Certificate.
Verdict read_server(AppFlow& f, const Stream& s, uint32_t hello_len) {
  uint16_t version;
  if (!server_version(s.p + 4, hello_len, &version)) return kDone;
  if (f.area.get16(off::kTlsVersion) == 0) f.area.set16(off::kTlsVersion, version);
  if (version >= 0x0304) return kDone;
  uint32_t at = 4 + hello_len;
  if (s.n - at < 4) return s.ended ? kDone : kMore;
  if (s.p[at] != 11) return kDone;
  uint32_t len = be24(s.p + at + 1);
  uint32_t avail = std::min(len, s.n - at - 4);
  CertResult r = read_certificate(f, s.p + at + 4, avail, len);
  return r == kCertCut && !s.ended && avail < len ? kMore : kDone;
}

}  // namespace

bool read_client_hello(AppFlow& f, const uint8_t* body, uint32_t len, char ja4_prefix) {
  Hello h;
  if (!parse_hello(body, len, h)) return false;
  if (h.sni.p) f.area.string(kStrSni, h.sni.p, h.sni.n);
  if (h.has_alpn && h.alpn.n) write_alpn(f, h.alpn);  // a list without names gives no value
  char fp[36];
  ja4(f, h, ja4_prefix, fp);
  f.area.string(kStrJa4, fp, 36);
  ja3(f, h, fp);
  f.area.string(kStrJa3, fp, 32);
  return true;
}

int match_tls(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  if (n < 6) return b[0] == 22 && (n < 2 || b[1] == 3) ? kMaybe : 0;
  return b[0] == 22 && b[1] == 3 && (b[5] == 1 || b[5] == 2) ? kAppTls : 0;
}

// A direction's stream is a client's (first message ClientHello) or a
// server's (ServerHello); anything else gives nothing.
Verdict read_tls(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  Stream s = handshake_stream(b, n, f.scratch.stream);
  if (s.n < 4) return s.ended ? kDone : kMore;
  uint8_t type = s.p[0];
  if (type != 1 && type != 2) return kDone;
  uint32_t len = be24(s.p + 1);
  if (s.n - 4 < len) return s.ended ? kDone : kMore;
  if (type == 2) return read_server(f, s, len);
  read_client_hello(f, s.p + 4, len, 't');
  return kDone;
}

}  // namespace app
}  // namespace flowmaster
