// The protocol readers of application dissection (docs/applications.md, "Per
// protocol"), one file per protocol family. Each has a classifier (matchX:
// does this buffer speak X? the application, 0, or kMaybe when more bytes of
// a TCP buffer could make it match) and a reader (readX:
// the fields of one direction's buffer; kDone when that direction has given
// what it can or fails, kMore to read it again after more bytes).
// Buffers are read from their start each time; readers keep nothing that
// points into them.
#pragma once
#include <cstdint>
#include <memory>

#include "app_state.h"
#include "crypto.h"

namespace flowmaster {
namespace app {

enum Verdict : uint8_t { kMore = 0, kDone = 1 };

// A classifier's answer besides an application (> 0) or no (0).
constexpr int kMaybe = -1;

// Per-thread working memory of the readers, sized from the bound (a buffer
// or datagram read is at most that long): nothing is allocated per packet.
struct Scratch {
  explicit Scratch(uint32_t bound);
  std::unique_ptr<uint8_t[]> mem;
  uint8_t* stream;  // TLS: a buffer's handshake records joined (bound)
  uint8_t* plain;   // QUIC: an opened Initial packet (bound)
  uint8_t* text;    // a string built from parts (alpn, a DNS name), a QUIC header (bound, at least 256)
  uint16_t* list;   // JA4: values to sort (bound / 2)
};

// What a reader sees of the flow it reads.
struct AppFlow {
  AreaWriter area;
  DissectState& st;
  Scratch& scratch;
  Crypto& crypto;
  BufferPool& buffers;
  Pool<QuicState>& quics;
  uint32_t bound;         // dissectBytes
  uint8_t proto;          // 6 or 17
  uint16_t port_a, port_b;  // the flow's ports
  uint32_t datagram_len;  // UDP: the datagram's payload length (from its header)
  bool tcp() const { return proto == 6; }
  QuicState* quic() { return st.quic ? &quics[st.quic] : nullptr; }
};

using Match = int (*)(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
using Reader = Verdict (*)(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);

// tls.cc: TLS over TCP; the ClientHello reader QUIC shares; cert.cc: certCn.
int match_tls(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_tls(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
// A whole ClientHello body: sni, alpn, ja4 (prefix 't' or 'q'), ja3; false
// (nothing written) when malformed.
bool read_client_hello(AppFlow& f, const uint8_t* body, uint32_t len, char ja4_prefix);
enum CertResult : uint8_t { kCertFound, kCertNone, kCertCut };
// A Certificate message body, `avail` of its `len` bytes here.
CertResult read_certificate(AppFlow& f, const uint8_t* body, uint32_t avail, uint32_t len);

// quic.cc
int match_quic(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_quic(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);

// dns.cc: kAppDns, kAppMdns or kAppLlmnr (by port).
int match_dns(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_dns(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);

// http.cc, ssh.cc
int match_http(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_http(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_ssh(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_ssh(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);

// ics.cc: industrial protocols. match_iso: kAppS7comm, kAppS7commPlus or kAppMms.
int match_modbus(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_modbus(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_dnp3(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_dnp3(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_iso(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_iso(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_enip(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_enip(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_bacnet(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_bacnet(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_iec104(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_iec104(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_opcua(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_opcua(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
int match_mqtt(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
Verdict read_mqtt(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);

}  // namespace app
}  // namespace flowmaster
