// libFuzzer harness: application dissection (native/app/) through the flow
// table, on the payloads of one TCP or UDP flow.
//
// Input: 2 selector bytes, then chunks.
//   byte 0: bit 0 set = TCP (else UDP); bits 1..4: the server port, kPorts[..];
//           bits 5..7: dissectBytes, kBounds[..]
//   byte 1: bit 0 set = QUIC mode (UDP): a client chunk is the plaintext of an
//           Initial packet (frames) that the harness protects (v1, or v2 when
//           the chunk header's bit 3 is set), so the fuzzer reaches the frames and
//           the ClientHello behind the AEAD; bit 1 set = every third packet is
//           captured short (payload_cap < payload_len)
//   chunk: 1 header byte (bit 0: from the server; bits 1..2: TCP sequence number:
//           0, 3 the next one, 1 the previous segment's again, 2 seven bytes ahead),
//           u16 length (little-endian, cut to what is left), the payload.
// Every payload is an exact-size heap copy (ASan sees a read past it). The flow
// runs twice through a fresh FlowTable (dissect on, packets in groups of
// varying size, a snapshot midway, then flush); both runs must give the same
// records, and every record's application area must be well formed (known
// application, flags, address version, string entries inside the area with
// known ids, each at most once, zeros after them). Any violation aborts.
#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "app/crypto.h"
#include "decode.h"
#include "flow_record.h"
#include "flow_table.h"

using namespace flowmaster;

namespace {

constexpr uint16_t kPorts[] = {53, 5353, 5355, 443, 80, 22, 502, 20000, 102, 44818, 47808, 2404, 4840, 1883, 8080, 9999};
constexpr uint32_t kBounds[] = {64, 100, 256, 1024, 1300, 4096, 16384, 65535};

struct Sink : RecordSink {
  std::vector<uint8_t> bytes;
  uint8_t* reserve() override {
    bytes.resize(bytes.size() + kRecordSize);
    return bytes.data() + bytes.size() - kRecordSize;
  }
};

[[noreturn]] void fail(const char* what, size_t rec) {
  std::fprintf(stderr, "fuzz_app: invariant violated: %s (record %zu)\n", what, rec);
  std::abort();
}

void check_area(const uint8_t* r, size_t i) {
  const uint8_t* a = r + off::kApp;
  if (a[0] >= kAppCount) fail("application id", i);
  bool any = false;
  for (size_t k = 0; k < off::kAppSize; k++) any = any || a[k];
  if (a[0] == kAppNone) {
    if (any) fail("an area without an application", i);
    return;
  }
  uint8_t flags = r[off::kAppFlags];
  if (flags & ~(kAppFlagCut | kAppFlagDnsResponse | kAppFlagCode)) fail("unknown flag", i);
  if (r[263] || r[271]) fail("padding byte", i);
  uint8_t v = r[off::kDnsAnswerVersion];
  if (v != 0 && v != 4 && v != 6) fail("dnsAnswerVersion", i);
  if (!(flags & kAppFlagCode) && (r[off::kAppCode] || r[off::kAppCode + 1])) fail("appCode without its flag", i);
  uint32_t seen = 0;
  constexpr size_t kEnd = off::kApp + off::kAppSize;  // the details area follows
  size_t p = off::kAppStrings;
  while (p < kEnd && r[p]) {
    uint8_t id = r[p];
    if (id >= kStrCount) fail("string id", i);
    if (seen & (1u << id)) fail("string id twice", i);
    seen |= 1u << id;
    if (p + 2 > kEnd || p + 2 + r[p + 1] > kEnd) fail("string entry past the area", i);
    p += 2 + r[p + 1];
  }
  for (; p < kEnd; p++)
    if (r[p]) fail("bytes after the string entries", i);
}

// A QUIC Initial from the client around `frames`, protected as RFC 9001 / RFC 9369.
std::vector<uint8_t> initial(const uint8_t* frames, size_t n, bool v2, uint32_t pn) {
  static const uint8_t kDcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
  static const uint8_t kSalt1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                     0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
  static const uint8_t kSalt2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                     0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
  static app::Crypto crypto;
  uint8_t initial_secret[32], client[32], key[16], iv[12], hp[16];
  crypto.extract(v2 ? kSalt2 : kSalt1, 20, kDcid, 8, initial_secret);
  crypto.expand_label(initial_secret, "client in", client, 32);
  crypto.expand_label(client, v2 ? "quicv2 key" : "quic key", key, 16);
  crypto.expand_label(client, v2 ? "quicv2 iv" : "quic iv", iv, 12);
  crypto.expand_label(client, v2 ? "quicv2 hp" : "quic hp", hp, 16);
  std::vector<uint8_t> plain(frames, frames + n);
  if (plain.size() < 16) plain.resize(16);  // room for the header protection sample
  if (plain.size() > 16000) plain.resize(16000);
  uint32_t length = uint32_t(4 + plain.size() + 16);
  std::vector<uint8_t> pkt = {uint8_t(v2 ? 0xd3 : 0xc3)};
  uint32_t version = v2 ? 0x6b3343cf : 1;
  for (int i = 3; i >= 0; i--) pkt.push_back(uint8_t(version >> (8 * i)));
  pkt.push_back(8);
  pkt.insert(pkt.end(), kDcid, kDcid + 8);
  pkt.push_back(0);  // scid
  pkt.push_back(0);  // token
  pkt.push_back(uint8_t(0x40 | length >> 8));
  pkt.push_back(uint8_t(length));
  size_t pn_off = pkt.size();
  for (int i = 3; i >= 0; i--) pkt.push_back(uint8_t(pn >> (8 * i)));
  uint8_t nonce[12];
  std::memcpy(nonce, iv, 12);
  for (int i = 0; i < 4; i++) nonce[11 - i] ^= uint8_t(pn >> (8 * i));
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int out = 0;
  size_t hdr = pkt.size();
  pkt.resize(hdr + plain.size() + 16);
  EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), nullptr, key, nonce);
  EVP_EncryptUpdate(c, nullptr, &out, pkt.data(), int(hdr));
  EVP_EncryptUpdate(c, pkt.data() + hdr, &out, plain.data(), int(plain.size()));
  EVP_EncryptFinal_ex(c, pkt.data() + hdr + plain.size(), &out);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, pkt.data() + hdr + plain.size());
  EVP_CIPHER_CTX_free(c);
  uint8_t mask[16];
  crypto.aes_block(hp, pkt.data() + pn_off + 4, mask);
  pkt[0] ^= mask[0] & 0x0f;
  for (int i = 0; i < 4; i++) pkt[pn_off + i] ^= mask[1 + i];
  return pkt;
}

struct Packet {
  uint8_t* bytes;
  uint32_t len;
  bool rev;
  uint32_t seq;
};

std::vector<Packet> packets(const uint8_t* data, size_t size) {
  bool tcp = data[0] & 1, quic = !tcp && (data[1] & 1);
  std::vector<Packet> out;
  uint32_t next[2] = {0x1000, 0x9000}, prev[2] = {0x1000, 0x9000};
  size_t at = 2;
  uint32_t pn = 0;
  while (at < size && out.size() < 64) {
    uint8_t h = data[at++];
    uint32_t len = 0;
    if (at + 2 <= size) len = uint32_t(data[at] | data[at + 1] << 8), at += 2;
    if (len > size - at) len = uint32_t(size - at);
    bool rev = h & 1;
    std::vector<uint8_t> body(data + at, data + at + len);
    at += len;
    if (quic && !rev) body = initial(body.data(), body.size(), h & 8, pn++);
    if (body.empty()) continue;
    Packet p{static_cast<uint8_t*>(std::malloc(body.size())), uint32_t(body.size()), rev, 0};
    std::memcpy(p.bytes, body.data(), body.size());
    int d = rev ? 1 : 0;
    switch ((h >> 1) & 3) {
      case 1: p.seq = prev[d]; break;
      case 2: p.seq = next[d] + 7; break;
      default: p.seq = next[d];
    }
    if (p.seq == next[d]) next[d] += p.len;
    prev[d] = p.seq;
    out.push_back(p);
  }
  return out;
}

std::vector<uint8_t> run(const uint8_t* data, const std::vector<Packet>& pkts) {
  bool tcp = data[0] & 1, cut = data[1] & 2;
  FlowOptions fo;
  fo.dissect = true;
  fo.dissect_bytes = kBounds[data[0] >> 5];
  fo.max_flows = 4;
  fo.idle_ns = UINT64_MAX;
  fo.active_ns = 20;  // segments: the area goes into each
  fo.tcp_termination = false;
  Sink sink, snap;
  {
    FlowTable table(fo, sink);
    std::vector<PacketInfo> infos;
    for (size_t i = 0; i < pkts.size(); i++) {
      const Packet& k = pkts[i];
      PacketInfo p;
      std::memset(&p, 0, sizeof p);
      p.ts_ns = 1000 + i;
      p.kind = kKindIp;
      p.ip_version = 4;
      p.proto = tcp ? 6 : 17;
      p.ethertype = 0x0800;
      uint8_t client[4] = {10, 0, 0, 1}, server[4] = {10, 0, 0, 2};
      std::memcpy(p.src, k.rev ? server : client, 4);
      std::memcpy(p.dst, k.rev ? client : server, 4);
      uint16_t port = kPorts[(data[0] >> 1) & 15];
      p.sport = k.rev ? port : 40000;
      p.dport = k.rev ? 40000 : port;
      p.ttl = 64;
      p.payload_len = k.len;
      p.payload_cap = cut && i % 3 == 2 ? k.len / 2 : k.len;
      p.payload = p.payload_cap ? k.bytes : nullptr;
      p.tcp_seq = tcp ? k.seq : 0;
      p.l4_len = k.len + (tcp ? 20 : 8);
      p.ip_len = p.l4_len + 20;
      p.wire_len = p.ip_len + 14;
      infos.push_back(p);
    }
    size_t at = 0, g = 1;
    while (at < infos.size()) {
      size_t n = std::min(g, infos.size() - at);
      table.process(infos.data() + at, n);
      at += n;
      g = g % FlowTable::kGroup + 2;
      if (at >= infos.size() / 2 && snap.bytes.empty()) table.snapshot(snap);
    }
    table.flush(kEndFlush);
  }
  for (size_t i = 0; i * kRecordSize < sink.bytes.size(); i++) check_area(sink.bytes.data() + i * kRecordSize, i);
  for (size_t i = 0; i * kRecordSize < snap.bytes.size(); i++) check_area(snap.bytes.data() + i * kRecordSize, i);
  sink.bytes.insert(sink.bytes.end(), snap.bytes.begin(), snap.bytes.end());
  return sink.bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::vector<Packet> pkts = packets(data, size);
  std::vector<uint8_t> a = run(data, pkts);
  std::vector<uint8_t> b = run(data, pkts);
  for (Packet& p : pkts) std::free(p.bytes);
  if (a != b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) i++;
    std::fprintf(stderr, "fuzz_app: two runs of the same input differ at byte %zu (record %zu, offset %zu)\n", i,
                 i / kRecordSize, i % kRecordSize);
    std::abort();
  }
  return 0;
}
