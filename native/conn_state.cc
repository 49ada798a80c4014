// Zeek's history and conn_state: see conn_state.h. Function names follow
// Zeek's (TCPSessionAdapter.cc) so the two can be read side by side; what
// only raises Zeek weirds or events is left out. Flowmaster never swaps a
// flow's ends, so Zeek's role flips ('^') are not taken: the letters stay
// in the flow's orientation.
#include "conn_state.h"

#include <cstring>

#include "flow_record.h"

namespace flowmaster::conn {
namespace {

enum State : uint8_t { kInactive, kSynSent, kSynAckSent, kPartial, kEstablished, kClosed, kReset };
enum Letter : uint8_t { kS = 1, kH, kA, kD, kF, kR, kQ, kI, kT, kW };
constexpr char kLetters[] = "?SHADFRQITW";
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;
constexpr uint8_t kFinSeen = 0x40;
constexpr int32_t kTooLargeSeqDelta = 1048576;  // Zeek's TOO_LARGE_SEQ_DELTA
constexpr int kHistMax = 16;

enum ConnState : uint8_t { kS0 = 1, kS1, kSF, kREJ, kS2, kS3, kRSTO, kRSTR, kRSTOS0, kRSTRH, kSH, kSHR, kOTH };

int32_t seq_delta(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }
uint8_t state(const Track& t, int e) { return t.state[e] & 7; }
uint8_t prev_state(const Track& t, int e) { return (t.state[e] >> 3) & 7; }

void set_state(Track& t, int e, uint8_t s) {
  uint8_t cur = state(t, e);
  if (s == cur) return;
  t.state[e] = static_cast<uint8_t>((t.state[e] & kFinSeen) | (cur << 3) | s);
}

uint8_t letter_at(const Track& t, int i) { return (t.hist[i >> 1] >> ((i & 1) * 4)) & 15; }

int hist_len(const Track& t) {
  int n = 0;
  while (n < kHistMax && letter_at(t, n) != 0) ++n;
  return n;
}

void add_history(Track& t, int e, uint8_t code) {
  int n = hist_len(t);
  if (n == kHistMax) return;  // the record holds 16 letters
  t.hist[n >> 1] = static_cast<uint8_t>(t.hist[n >> 1] | (code << ((n & 1) * 4)));
  if (e) t.hist_dir = static_cast<uint16_t>(t.hist_dir | (1u << n));
}

// Zeek's hist_seen bits: one per packet type and endpoint ('S' and 'H'
// share one), kept as a mask so a packet costs no scan of the letters.
int seen_bit(int e, uint8_t code) {
  static constexpr uint8_t kClass[] = {0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0};  // by Letter: S,H 0; A 1; D 2; F 3; R 4; Q 5; I 6
  return kClass[code] + 7 * e;
}

// Zeek's CheckHistory: adds the letter the first time; true if seen before.
bool check_history(Track& t, int e, uint8_t code) {
  uint16_t bit = static_cast<uint16_t>(1u << seen_bit(e, code));
  if (t.seen & bit) return true;
  t.seen = static_cast<uint16_t>(t.seen | bit);
  add_history(t, e, code);
  return false;
}

// Zeek's ScaledHistoryEntry: the letter at the 1st, 10th, 100th ... time.
void scaled_history(Track& t, int e, uint16_t& counter, uint8_t code) {
  if (counter == UINT16_MAX) return;
  uint32_t n = ++counter;
  for (uint32_t th = 1; th <= n; th *= 10)
    if (th == n) add_history(t, e, code);
}

void init_endpoint(Track& t, int e, uint8_t flags, uint32_t first_seg_seq, uint32_t last_seq) {
  bool syn = flags & kSyn;
  switch (state(t, e)) {
    case kInactive:
      if (syn) {
        t.start_seq[e] = first_seg_seq;
      } else {
        // A partial connection: numbered as though a SYN was seen.
        t.start_seq[e] = first_seg_seq - 1;
        last_seq = first_seg_seq;
      }
      t.last_seq[e] = last_seq;
      break;
    case kSynSent:
    case kSynAckSent:
      if (syn && first_seg_seq != t.start_seq[e]) {
        t.start_seq[e] = first_seg_seq;
        t.last_seq[e] = last_seq;
      }
      break;
    case kEstablished:
    case kPartial:
      if (syn) {
        t.start_seq[e] = first_seg_seq;
        t.last_seq[e] = last_seq;
      }
      break;
    case kReset:
      if (syn && prev_state(t, e) == kInactive) {
        t.start_seq[e] = first_seg_seq;
        t.last_seq[e] = last_seq;
      }
      break;
    default:
      break;
  }
}

void update_history(Track& t, int e, uint8_t flags, uint32_t rel_seq, uint32_t len) {
  int bits = ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0) + ((flags & kRst) ? 1 : 0);
  if (bits > 1) {
    if ((flags & kFin) && (flags & kRst))
      check_history(t, e, kI);
    else
      check_history(t, e, kQ);
  } else if (bits == 1) {
    if (flags & kSyn) {
      uint8_t code = (flags & kAck) ? kH : kS;
      if (check_history(t, e, code) && static_cast<uint16_t>(rel_seq) != t.last_syn[e])
        add_history(t, e, code);
      t.last_syn[e] = static_cast<uint16_t>(rel_seq);
    }
    if (flags & kFin) {
      // A FIN's sequence number comes after its data.
      uint16_t end = static_cast<uint16_t>(rel_seq + len);
      if (check_history(t, e, kF) && end != t.last_fin[e]) add_history(t, e, kF);
      t.last_fin[e] = end;
    }
    if (flags & kRst) {
      if (check_history(t, e, kR) && static_cast<uint16_t>(rel_seq) != t.last_rst[e]) add_history(t, e, kR);
      t.last_rst[e] = static_cast<uint16_t>(rel_seq);
    }
  } else if (len) {
    check_history(t, e, kD);
  } else if (flags & kAck) {
    check_history(t, e, kA);
  }
}

// Zeek's update_window, its history part: a zero window is counted unless it
// comes with or after a RST, or after the peer's FIN (scaling keeps 0 at 0).
void update_window(Track& t, int e, uint8_t flags, uint16_t window) {
  if (window == 0 && !(flags & kRst) && state(t, 1 - e) != kClosed && state(t, e) != kReset)
    scaled_history(t, e, t.win0[e], kW);
}

int32_t update_last_seq(Track& t, int e, uint32_t last_seq, uint8_t flags, uint32_t len) {
  int32_t delta_last = seq_delta(last_seq, t.last_seq[e]);
  if ((flags & (kSyn | kRst)) && (delta_last > kTooLargeSeqDelta || delta_last < -kTooLargeSeqDelta)) {
    // not trusted
  } else if ((flags & kFin) && t.last_seq[e] == t.start_seq[e] + 1) {
    t.last_seq[e] = last_seq;  // only the SYN and the FIN seen (> 2 GB connections)
  } else if (state(t, e) == kReset) {
    // sequence numbers after a RST are not trusted
  } else if (delta_last > 0) {
    t.last_seq[e] = last_seq;
  } else if (len > 0) {
    scaled_history(t, e, t.rxmt[e], kT);
  }
  return delta_last;
}

void update_inactive_state(Track& t, int e, bool is_orig, uint8_t flags, uint32_t base_seq, uint32_t len) {
  int q = 1 - e;
  if (flags & kSyn) {
    if (is_orig) {
      set_state(t, e, (flags & kAck) ? kSynAckSent : kSynSent);
    } else {
      // A SYN (no ACK) answering a SYN-ACK with the same ISN: Zeek flips the
      // roles here and establishes the peer; flowmaster keeps its ends.
      if (!(flags & kAck) && state(t, q) == kSynAckSent && base_seq == t.start_seq[e]) set_state(t, q, kEstablished);
      if (state(t, q) == kSynSent) set_state(t, q, kEstablished);
      set_state(t, e, kEstablished);
    }
  }
  if (flags & kFin) set_state(t, e, kClosed);
  if (flags & kRst) set_state(t, e, kReset);
  if (state(t, e) == kInactive) {
    if (!is_orig && len == 0 && state(t, 0) == kSynSent) {
      // an ACK of the SYN before the SYN-ACK: not yet a partial connection
    } else if ((flags & kAck) && state(t, q) == kEstablished) {
      set_state(t, e, kEstablished);  // the initial SYN was missed
    } else {
      set_state(t, e, kPartial);
    }
  }
}

void update_established_state(Track& t, int e, uint8_t flags) {
  int q = 1 - e;
  if ((flags & kSyn) && state(t, e) == kPartial && state(t, q) == kInactive && !(flags & kAck))
    set_state(t, e, kSynSent);
  if ((flags & kFin) && !(flags & kRst)) {
    set_state(t, e, kClosed);
    // A FIN then a RST from the peer was a normal close after all.
    if (state(t, q) == kReset && prev_state(t, q) == kClosed) set_state(t, q, kClosed);
  }
  if (flags & kRst) set_state(t, e, kReset);
}

void update_state_machine(Track& t, int e, bool is_orig, uint8_t flags, uint32_t base_seq, uint32_t len) {
  switch (state(t, e)) {
    case kInactive:
      update_inactive_state(t, e, is_orig, flags, base_seq, len);
      break;
    case kSynSent:
    case kSynAckSent:
      if (flags & kFin) set_state(t, e, kClosed);
      if (flags & kRst) set_state(t, e, kReset);
      break;
    case kEstablished:
    case kPartial:
      update_established_state(t, e, flags);
      break;
    case kClosed:
      // After both FINs a RST does not change the state.
      if ((flags & kRst) && state(t, 1 - e) != kClosed) set_state(t, e, kReset);
      break;
    default:
      break;
  }
}

void tcp_packet(Track& t, int e, const PacketInfo& p) {
  uint8_t flags = p.tcp_flags;
  uint32_t len = p.payload_len;
  uint32_t base_seq = p.tcp_seq;
  uint32_t seg_len = len + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);
  if (flags & kRst) seg_len -= len;  // a RST's data is not in the stream
  uint32_t seq_one_past_segment = base_seq + seg_len;
  init_endpoint(t, e, flags, base_seq, seq_one_past_segment);
  update_history(t, e, flags, base_seq - t.start_seq[e], len);
  update_window(t, e, flags, p.tcp_window);
  if (flags & kFin) t.state[e] |= kFinSeen;
  // Zeek's init_peer numbers an inactive peer from this packet's ACK; the
  // peer's own first packet numbers it again, so only Size() could tell,
  // and conn_state reads Size() only once both ends have sent a RST.
  update_last_seq(t, e, seq_one_past_segment, flags, len);
  update_state_machine(t, e, e == 0, flags, base_seq, len);
}

// Zeek's TCP_Endpoint::Size() == 0, from last_seq (the ack number is not
// kept: it differs only when the capture missed an endpoint's data).
bool size_zero(const Track& t, int e) {
  uint32_t size = t.last_seq[e] - t.start_seq[e];
  if (size != 0) --size;
  if ((t.state[e] & kFinSeen) && size != 0) --size;
  return size == 0;
}

// /\^?S[^HAFGIQ]*R.*/ == history (an anchored match).
bool history_rstos0(const Track& t) {
  int n = hist_len(t);
  if (n == 0 || letter_at(t, 0) != kS || (t.hist_dir & 1)) return false;
  for (int i = 1; i < n; ++i) {
    uint8_t c = letter_at(t, i);
    bool upper = !((t.hist_dir >> i) & 1);
    if (upper && c == kR) return true;
    if (upper && (c == kH || c == kA || c == kF || c == kI || c == kQ)) return false;
  }
  return false;
}

uint8_t tcp_conn_state(const Track& t) {
  uint8_t os = state(t, 0), rs = state(t, 1);
  bool o_inactive = os == kInactive || os == kPartial;
  bool r_inactive = rs == kInactive || rs == kPartial;
  if (rs == kReset) {
    if (os == kSynSent || os == kSynAckSent || (os == kReset && size_zero(t, 0) && size_zero(t, 1))) return kREJ;
    return o_inactive ? kRSTRH : kRSTR;
  }
  if (os == kReset) {
    if (r_inactive) return history_rstos0(t) ? kRSTOS0 : kOTH;
    return kRSTO;
  }
  if (rs == kClosed && os == kClosed) return kSF;
  if (os == kClosed) return r_inactive ? kSH : kS2;
  if (rs == kClosed) return o_inactive ? kSHR : kS3;
  if (os == kSynSent && rs == kInactive) return kS0;
  if (os == kEstablished && rs == kEstablished) return kS1;
  return kOTH;
}

}  // namespace

void packet(Track& t, bool orig, const PacketInfo& p) {
  // Zeek analyzes reassembled datagrams and drops packets whose transport
  // header is cut short: later fragments and truncated packets add nothing.
  if (p.truncated || p.fragment == 2) return;
  int e = orig ? 0 : 1;
  if (p.proto == 6) {
    tcp_packet(t, e, p);
  } else if (p.proto == 17) {
    t.state[e] = 1;
    check_history(t, e, kD);
  }
}

void write(const Track& t, uint8_t proto, uint8_t ip_version, uint8_t* record) {
  (void)ip_version;
  uint8_t cs = kOTH;
  if (proto == 6) {
    cs = tcp_conn_state(t);
  } else if (proto == 17) {
    if (t.state[0])
      cs = t.state[1] ? kSF : kS0;
    else
      cs = t.state[1] ? kSHR : kOTH;
  }
  record[off::kConnState] = cs;
  char* h = reinterpret_cast<char*>(record + off::kHistory);
  std::memset(h, 0, off::kHistorySize);
  int n = hist_len(t);
  for (int i = 0; i < n; ++i) {
    char c = kLetters[letter_at(t, i)];
    h[i] = ((t.hist_dir >> i) & 1) ? static_cast<char>(c + ('a' - 'A')) : c;
  }
}

}  // namespace flowmaster::conn
