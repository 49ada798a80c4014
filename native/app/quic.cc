// QUIC v1 (RFC 9000/9001) and v2 (RFC 9369) client Initial packets: keys
// from the client's first destination connection id, header protection
// removed, AES-128-GCM opened, CRYPTO frames copied into a crypto buffer by
// offset; the ClientHello is read from it once whole (tls.cc).
#include <cstring>

#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

constexpr uint32_t kV1 = 0x00000001, kV2 = 0x6b3343cf;
const uint8_t kSaltV1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                             0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
const uint8_t kSaltV2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                             0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};

uint64_t varint(Cursor& c) {
  uint8_t first = c.u8();
  uint32_t more = (1u << (first >> 6)) - 1;
  uint64_t v = first & 0x3f;
  for (uint32_t i = 0; i < more; i++) v = v << 8 | c.u8();
  return v;
}

// An Initial's header up to its packet number: first byte, version, type.
struct Header {
  uint32_t version;
  const uint8_t* dcid;
  uint8_t dcid_len;
  uint32_t pn_off;   // packet number offset
  uint64_t length;   // packet number + payload
};

bool initial_header(const uint8_t* b, uint32_t n, Header& h) {
  if (n < 7 || (b[0] & 0xc0) != 0xc0) return false;
  h.version = be32(b + 1);
  uint8_t type = (b[0] >> 4) & 3;
  if (!((h.version == kV1 && type == 0) || (h.version == kV2 && type == 1))) return false;
  Cursor c(b, n);
  c.skip(5);
  h.dcid_len = c.u8();
  h.dcid = c.skip(h.dcid_len);
  return !c.bad && h.dcid_len <= 20;
}

bool rest_of_header(const uint8_t* b, uint32_t n, Header& h) {
  Cursor c(b, n);
  c.skip(6 + h.dcid_len);
  c.skip(c.u8());  // source connection id
  uint64_t token = varint(c);
  if (c.bad || token > c.left()) return false;
  c.skip(uint32_t(token));
  h.length = varint(c);
  h.pn_off = c.at;
  return !c.bad;
}

void derive_keys(Crypto& crypto, QuicState& q) {
  bool v2 = q.version == kV2;
  uint8_t initial[32], client[32];
  crypto.extract(v2 ? kSaltV2 : kSaltV1, 20, q.dcid, q.dcid_len, initial);
  crypto.expand_label(initial, "client in", client, 32);
  crypto.expand_label(client, v2 ? "quicv2 key" : "quic key", q.key, 16);
  crypto.expand_label(client, v2 ? "quicv2 iv" : "quic iv", q.iv, 12);
  crypto.expand_label(client, v2 ? "quicv2 hp" : "quic hp", q.hp, 16);
  q.have_keys = true;
}

// Header protection off, payload opened into scratch.plain; its length, or -1.
int64_t open_packet(AppFlow& f, QuicState& q, const uint8_t* b, uint32_t n, const Header& h) {
  if (h.length < 20 || h.length > n - h.pn_off) return -1;  // the sample is 16 bytes from pn + 4
  uint8_t mask[16];
  if (!f.crypto.aes_block(q.hp, b + h.pn_off + 4, mask)) return -1;
  uint8_t* aad = f.scratch.text;
  uint8_t first = b[0] ^ (mask[0] & 0x0f);
  uint32_t pn_len = (first & 3) + 1;
  std::memcpy(aad, b, h.pn_off + pn_len);
  aad[0] = first;
  uint8_t nonce[12];
  std::memcpy(nonce, q.iv, 12);
  uint64_t pn = 0;
  for (uint32_t i = 0; i < pn_len; i++) {
    aad[h.pn_off + i] ^= mask[1 + i];
    pn = pn << 8 | aad[h.pn_off + i];
  }
  for (int i = 0; i < 8; i++) nonce[11 - i] ^= uint8_t(pn >> (8 * i));
  uint32_t ct = uint32_t(h.length) - pn_len;
  if (!f.crypto.gcm_open(q.key, nonce, aad, h.pn_off + pn_len, b + h.pn_off + pn_len, ct, f.scratch.plain)) return -1;
  return int64_t(ct) - 16;
}

// CRYPTO data at `offset`: the bytes below the bound, marked filled.
void crypto_data(AppFlow& f, QuicState& q, uint64_t offset, const uint8_t* p, uint32_t len) {
  if (!q.crypto) {
    q.crypto = f.buffers.get(f.bound + (f.bound + 7) / 8, &q.crypto_cap);
    std::memset(q.crypto + f.bound, 0, (f.bound + 7) / 8);
  }
  if (offset >= f.bound) return;
  uint32_t at = uint32_t(offset), k = len < f.bound - at ? len : f.bound - at;
  std::memcpy(q.crypto + at, p, k);
  uint8_t* bits = q.crypto + f.bound;
  for (uint32_t i = at; i < at + k; i++) bits[i >> 3] |= uint8_t(1u << (i & 7));
}

bool filled(const QuicState& q, uint32_t bound, uint32_t from, uint32_t to) {
  const uint8_t* bits = q.crypto + bound;
  for (uint32_t i = from; i < to; i++)
    if (!(bits[i >> 3] & (1u << (i & 7)))) return false;
  return true;
}

// Frames of an opened packet: PADDING, PING, ACK skipped, CRYPTO kept; any
// other frame ends the packet.
void read_frames(AppFlow& f, QuicState& q, const uint8_t* p, uint32_t n) {
  Cursor c(p, n);
  while (c.left()) {
    uint64_t type = varint(c);
    if (type == 0x00 || type == 0x01) continue;
    if (type == 0x02 || type == 0x03) {
      varint(c), varint(c);
      uint64_t ranges = varint(c);
      varint(c);
      for (uint64_t i = 0; i < ranges && !c.bad; i++) varint(c), varint(c);
      if (type == 0x03) varint(c), varint(c), varint(c);
      continue;
    }
    if (type != 0x06) return;
    uint64_t offset = varint(c), len = varint(c);
    if (c.bad || len > c.left()) return;
    crypto_data(f, q, offset, c.skip(uint32_t(len)), uint32_t(len));
  }
}

// The first packet of a client datagram: 1 when it is an Initial that
// opened, kMaybe an Initial that did not, 0 not an Initial. The flow's first
// Initial sets the connection id the keys come from.
int client_packet(AppFlow& f, const uint8_t* b, uint32_t n) {
  Header h;
  if (!initial_header(b, n, h)) return 0;
  if (!f.st.quic) {
    f.st.quic = f.quics.acquire();
    QuicState& q = *f.quic();
    q.dcid_len = h.dcid_len;
    std::memcpy(q.dcid, h.dcid, h.dcid_len);
    q.version = h.version;
  }
  QuicState& q = *f.quic();
  if (h.version != q.version) return kMaybe;  // keys of another version
  if (!rest_of_header(b, n, h)) return 0;
  if (!q.have_keys) derive_keys(f.crypto, q);
  int64_t len = open_packet(f, q, b, n, h);
  if (len < 0) return kMaybe;
  read_frames(f, q, f.scratch.plain, uint32_t(len));
  return 1;
}

// The ClientHello, once bytes 0 .. 4 + length of the crypto stream are here.
Verdict client_hello(AppFlow& f, QuicState& q) {
  if (!q.crypto || !filled(q, f.bound, 0, 4)) return kMore;
  uint32_t len = be24(q.crypto + 1);
  if (q.crypto[0] != 1 || 4 + uint64_t(len) > f.bound) return kDone;
  if (!filled(q, f.bound, 4, 4 + len)) return kMore;
  read_client_hello(f, q.crypto + 4, len, 'q');
  if (f.area.get16(off::kTlsVersion) == 0) f.area.set16(off::kTlsVersion, 0x0304);  // once read, well formed or not
  return kDone;
}

}  // namespace

int match_quic(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  if (!fwd) return 0;
  int r = client_packet(f, b, n);
  if (r != 1) return r;
  f.quic()->just_read = true;
  return kAppQuic;
}

// Only the client's (fwd) Initial packets are read.
Verdict read_quic(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  if (!fwd) return kDone;
  if (!(f.quic() && f.quic()->just_read) && client_packet(f, b, n) != 1) return kMore;
  QuicState& q = *f.quic();
  q.just_read = false;
  return client_hello(f, q);
}

}  // namespace app
}  // namespace flowmaster
