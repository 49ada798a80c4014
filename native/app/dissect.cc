#include "dissect.h"

#include "protocols.h"

namespace flowmaster {
namespace app {
namespace {

constexpr uint8_t kMaxUnmatched = 3;  // payload packets of a direction while no application is known

// The classifiers in their order: the first that matches names the
// application; else kMaybe if one said more bytes could make it match, else 0.
int classify(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  static const Match kTcp[] = {match_tls, match_dns, match_http, match_ssh, match_modbus, match_dnp3, match_iso,
                               match_enip, match_iec104, match_opcua, match_mqtt};
  static const Match kUdp[] = {match_quic, match_dns, match_dnp3, match_enip, match_bacnet};
  bool maybe = false;
  const Match* list = f.tcp() ? kTcp : kUdp;
  size_t count = f.tcp() ? sizeof(kTcp) / sizeof(kTcp[0]) : sizeof(kUdp) / sizeof(kUdp[0]);
  for (size_t i = 0; i < count; i++) {
    int app = list[i](f, fwd, b, n);
    if (app > 0) return app;
    if (app == kMaybe) maybe = true;
  }
  return maybe ? kMaybe : 0;
}

Reader reader_of(uint8_t app) {
  switch (app) {
    case kAppTls: return read_tls;
    case kAppQuic: return read_quic;
    case kAppDns:
    case kAppMdns:
    case kAppLlmnr: return read_dns;
    case kAppHttp: return read_http;
    case kAppSsh: return read_ssh;
    case kAppModbus: return read_modbus;
    case kAppDnp3: return read_dnp3;
    case kAppS7comm:
    case kAppS7commPlus:
    case kAppMms: return read_iso;
    case kAppEnip: return read_enip;
    case kAppBacnet: return read_bacnet;
    case kAppIec104: return read_iec104;
    case kAppOpcua: return read_opcua;
    default: return read_mqtt;
  }
}

}  // namespace

Scratch::Scratch(uint32_t bound) {
  size_t text = ((bound < 256 ? 256 : bound) + 1) & ~size_t(1);  // even: the list after it is u16
  mem.reset(new uint8_t[2 * size_t(bound) + text + sizeof(uint16_t) * (size_t(bound) / 2 + 1)]);
  stream = mem.get();
  plain = stream + bound;
  this->text = plain + bound;
  list = reinterpret_cast<uint16_t*>(this->text + text);
}

Dissector::Dissector(uint32_t bound) : bound_(bound), scratch_(new Scratch(bound)) {}
Dissector::~Dissector() = default;

bool Dissector::packet(uint32_t* word, uint8_t proto, uint16_t port_a, uint16_t port_b, bool fwd, const PacketInfo& p) {
  if (proto != 6 && proto != 17) return true;
  if (*word && !(*word & kDissecting)) return true;  // done already
  if (!*word) *word = kDissecting | states_.acquire();
  uint32_t state = *word & ~kDissecting;
  DissectState& st = states_[state];
  if (!st.dir[fwd ? 0 : 1].done) {
    uint8_t* area = st.area ? slots_[st.area].area : nullptr;
    AppFlow f{AreaWriter(area, st), st, *scratch_, crypto_, buffers_, quics_, bound_, proto, port_a, port_b, p.payload_len};
    read_packet(st, f, fwd, p);
  }
  if (!st.dir[0].done || !st.dir[1].done) return false;
  *word = st.area;
  free_state(state);
  return true;
}

// TCP: the segment appended in order, then the direction's buffer read;
// UDP: the datagram read on its own. A direction is done when its reader
// says so, its buffer is full, no classifier can match it, or it had
// kMaxUnmatched payload packets while no application was known.
void Dissector::read_packet(DissectState& st, AppFlow& f, bool fwd, const PacketInfo& p) {
  Direction& d = st.dir[fwd ? 0 : 1];
  const uint8_t* b;
  uint32_t n;
  bool read = true;
  if (f.tcp()) {
    read = append(d, buffers_, p.payload, p.payload_cap, p.tcp_seq, bound_, &b, &n);
  } else {
    b = p.payload;
    n = p.payload_cap < bound_ ? p.payload_cap : bound_;
  }
  bool done = false;
  if (read) done = read_buffer(f, fwd, b, n) == kDone || (f.tcp() && d.len >= bound_);
  if (!done && f.area.application() == kAppNone && ++d.unmatched >= kMaxUnmatched) done = true;
  if (done) {
    d.done = true;
    free_buffer(d, buffers_);
  } else if (read && f.tcp() && b == p.payload) {
    keep(d, buffers_, b, n);
  }
}

Verdict Dissector::read_buffer(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  uint8_t app = f.area.application();
  if (app == kAppNone) {
    int found = classify(f, fwd, b, n);
    if (found == 0) return kDone;
    if (found == kMaybe) return kMore;
    app = uint8_t(found);
    f.st.area = slots_.acquire();
    f.area.begin(slots_[f.st.area].area, app);
  }
  return reader_of(app)(f, fwd, b, n);
}

// Frees a state (not its area).
void Dissector::free_state(uint32_t state) {
  DissectState& st = states_[state];
  free_buffer(st.dir[0], buffers_);
  free_buffer(st.dir[1], buffers_);
  if (st.quic) {
    QuicState& q = quics_[st.quic];
    if (q.crypto) buffers_.put(q.crypto, q.crypto_cap);
    q.crypto = nullptr;
    quics_.release(st.quic);
    st.quic = 0;
  }
  states_.release(state);
}

void Dissector::release(uint32_t word) {
  uint32_t slot = word;
  if (word & kDissecting) {
    slot = states_[word & ~kDissecting].area;
    free_state(word & ~kDissecting);
  }
  if (slot) slots_.release(slot);
}

}  // namespace app
}  // namespace flowmaster
