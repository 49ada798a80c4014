// Bidirectional flow table: open addressing over a power-of-two array of
// 32-bit slots fixed at start from maxFlows, slots claimed by compare-and-swap,
// flow state in a preallocated pool (no allocation per packet). Lookups run in
// groups: hash and prefetch a group's slots, then its flow states, then update.
// Expiry (idle, active, TCP end, eviction, flush) runs in packet time.
// Memory per active flow: 184 B of state + 52 B of Zeek connection state
// (conn::Track, a side array) + 8 B of slots at most half full (bench/memory.mjs
// measured 251 B without dissection, 270 B with it); the idle queue and the
// free list live inside the states.
// With `statistics`, 232 B more (FlowStats); with `splt` N > 0,
// 16 + 6 N B rounded up to 8 (SPLT); with `dissect`, 4 B (its dissection
// slot) and, outside the table, what app::Dissector holds for the flows it
// is reading. Side arrays are indexed like the pool and touched only as
// flows arrive.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "conn_state.h"
#include "decode.h"
#include "flow_record.h"

namespace flowmaster {

namespace app {
class Dissector;
}

enum Accounting : uint8_t { kAcctLink = 0, kAcctIp = 1, kAcctTransport = 2, kAcctPayload = 3 };

struct FlowOptions {
  uint64_t idle_ns = 120ull * 1000000000ull;  // UINT64_MAX: never
  uint64_t active_ns = 1800ull * 1000000000ull;
  uint64_t close_ns = 5ull * 1000000000ull;
  bool tcp_termination = true;
  bool key_vlan = true;
  bool statistics = false;
  uint8_t accounting = kAcctLink;
  // Application dissection (docs/applications.md): off unless asked for here;
  // the addon's options default it on (ParseFlowOptions). dissect_bytes: the
  // per-direction buffer bound, 64..65535.
  bool dissect = false;
  uint32_t dissect_bytes = 4096;
  // SPLT: the first `splt` packets of each flow (0 off, at most off::kSpltMax).
  uint8_t splt = 0;
  uint32_t max_flows = 1000000;
  // A segment ends (reason active) before a direction's packet count passes
  // this: the counters are 32-bit. Lower only in tests.
  uint32_t max_packets = UINT32_MAX;
  // flow ids: id_first, id_first + id_step, ... (tables of one capture share no ids)
  uint64_t id_first = 1, id_step = 1;
};

// Receives expired records: returns kRecordSize zeroed bytes to write one into.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual uint8_t* reserve() = 0;
};

struct FlowCounters {
  uint64_t flows_by_reason[6] = {};  // indexed by EndReason
  uint64_t flows_created = 0;
};

// FIFO on a power-of-two array that doubles when full: no allocation in the
// steady state (std::deque allocates a block every few dozen pushes).
template <typename T>
class Ring {
 public:
  explicit Ring(size_t capacity) {
    size_t c = 16;
    while (c < capacity) c <<= 1;
    buf_.resize(c);
  }
  bool empty() const { return head_ == tail_; }
  size_t size() const { return tail_ - head_; }
  const T& front() const { return buf_[head_ & (buf_.size() - 1)]; }
  void pop_front() { head_++; }
  void clear() { head_ = tail_ = 0; }
  void push_back(const T& v) {
    if (size() == buf_.size()) grow();
    buf_[tail_++ & (buf_.size() - 1)] = v;
  }

 private:
  void grow() {
    std::vector<T> next(buf_.size() * 2);
    for (size_t i = 0, n = size(); i < n; i++) next[i] = buf_[(head_ + i) & (buf_.size() - 1)];
    tail_ = size();
    head_ = 0;
    buf_.swap(next);
  }
  std::vector<T> buf_;
  size_t head_ = 0, tail_ = 0;
};

class FlowTable {
 public:
  static constexpr size_t kGroup = 32;  // packets per prefetch group

  FlowTable(const FlowOptions& opt, RecordSink& sink);
  ~FlowTable();
  // Accounts a group of decoded packets (kind Ip or L2) in order.
  void process(PacketInfo* pkts, size_t n);
  // Expires what is due at packet time `now_ns` (live ticks).
  void advance(uint64_t now_ns);
  // Ends every flow with the given reason (end of input, stop).
  void flush(EndReason reason);
  // Writes a record of every active flow (end reason 0) without ending it.
  void snapshot(RecordSink& out) const;
  size_t active() const { return active_; }
  const FlowCounters& counters() const { return counters_; }

 private:
  // canonical: (a, pa) <= (b, pb). Layer-2 flows: a/b are MACs, pa the
  // ethertype (their ports are 0); IP flows' ethertype follows from version.
  struct Key {
    uint8_t a[16];
    uint8_t b[16];
    uint16_t pa, pb;
    uint16_t vlan;
    uint8_t version, proto;
  };
  static_assert(sizeof(Key) == 40, "key is 5 words");
  // Running min/max/mean/M2 (Welford) of sizes and of the n - 1 inter-arrival times of n packets.
  struct DirStats {
    uint32_t size_min, size_max;
    double size_mean, size_m2;
    uint64_t iat_min, iat_max;
    double iat_mean, iat_m2;
  };
  // With `statistics`, per flow, restarted with each segment: fwd, rev and
  // both directions' stat blocks, and packets carrying each TCP flag.
  struct FlowStats {
    DirStats dir[2];
    DirStats bi;
    uint32_t flag_counts[2][8];
  };
  static_assert(sizeof(FlowStats) == 232, "statistics per flow (memory per flow)");
  // With `splt` N > 0, per flow, from its first packet on (segments keep it):
  // header, then N u16 sizes and N u32 inter-arrival times (splt_stride_ bytes).
  struct SpltHead {
    uint64_t last_ns;    // the flow's last packet time so far
    uint32_t directions;
    uint8_t count;
  };
  static_assert(sizeof(SpltHead) == 16, "SPLT header");
  // kAppDone: dissection has nothing more to read in this flow (one test per packet).
  enum State : uint8_t { kSrcIsA = 1, kFinFwd = 2, kFinRev = 4, kClosing = 8, kLive = 16, kQueued = 32, kAppDone = 64 };
  // Per-packet fields first (128 bytes, prefetched); the last packet time is
  // max(fwd_last_ns, rev_last_ns).
  struct Flow {
    Key key;
    uint64_t first_ns;
    uint64_t fwd_bytes, rev_bytes;
    uint32_t fwd_packets, rev_packets;
    uint64_t fwd_last_ns, rev_last_ns;
    uint8_t flags, fwd_tcp, rev_tcp, state;
    uint16_t segment;
    uint8_t min_ttl, max_ttl;  // of this segment's IP packets (255 / 0 before the first)
    uint64_t fwd_ip_bytes, rev_ip_bytes;  // keyed IP datagram lengths (L2: the frame after its header)
    uint64_t fwd_payload_bytes, rev_payload_bytes;  // after the transport header
    // set at creation or once
    uint64_t rev_first_ns;
    uint64_t id;  // free pool entries: the next free index
    union {
      uint64_t close_ns;  // TCP flows
      uint8_t arp[8];     // ARP flows: sender and target IPv4 of the first packet
      uint8_t icmp[2];    // ICMP/ICMPv6 flows: type and code of the first packet
    };
    uint8_t src_mac[6], dst_mac[6];
    uint32_t tunnel_id;  // of the first packet, as the MACs, inner VLAN and tunnel type
    uint16_t inner_vlan;
    uint8_t tunnel_type;
    // Idle queue link and due time. An index stays queued while free and
    // the next flow there inherits the place (creation keeps these).
    uint32_t qnext;
    uint64_t qdue;
    uint64_t last_ns() const { return fwd_last_ns > rev_last_ns ? fwd_last_ns : rev_last_ns; }
  };
  static_assert(sizeof(Flow) == 184, "flow state size (memory per flow)");
  static_assert(offsetof(Flow, rev_first_ns) == 128, "per-packet fields in 128 bytes");
  struct CloseEntry {
    uint32_t idx;
    uint64_t id;
    uint64_t due_ns;
  };
  static constexpr uint32_t kNone = UINT32_MAX;

  static uint64_t hash_key(const Key& k);
  static bool make_key(const PacketInfo& p, bool key_vlan, Key& k);  // returns: packet src is a
  static bool is_icmp(const Key& k) { return k.version != 0 && (k.proto == 1 || k.proto == 58); }
  uint32_t* find_slot(const Key& k, uint64_t h, uint32_t* idx_out);
  void remove_slot(uint32_t* slot);
  void update(PacketInfo& p);
  uint32_t create(const PacketInfo& p, const Key& k, bool src_is_a, uint64_t h, uint32_t* slot);
  void account(Flow& f, uint32_t idx, const PacketInfo& p, bool from_a);
  void account_stats(const Flow& f, uint32_t idx, const PacketInfo& p, bool fwd, uint32_t len, uint64_t prev_dir,
                     uint64_t prev_flow);
  void account_splt(uint32_t idx, const PacketInfo& p, bool fwd, uint32_t len);
  void write_stats(uint8_t* r, const Flow& f, uint32_t idx) const;
  void write_splt(uint8_t* r, uint32_t idx) const;
  uint8_t* splt_at(uint32_t idx) const { return splt_ + size_t(idx) * splt_stride_; }
  void dissect(Flow& f, uint32_t idx, const PacketInfo& p, bool fwd);
  void expire(uint32_t idx, EndReason reason);
  void emit(const Flow& f, uint32_t idx, EndReason reason);
  void write_record(uint8_t* r, const Flow& f, uint32_t idx, EndReason reason) const;
  void reset_segment(Flow& f, uint32_t idx);
  void evict_one();
  void push_idle(uint32_t idx, uint64_t due_ns);
  uint32_t pop_idle();
  void refresh_due();
  uint64_t sat_add(uint64_t a, uint64_t b) const { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

  FlowOptions opt_;
  RecordSink& sink_;
  // slot word: 0 empty, else (hash bits above the index) | (pool index + 1)
  std::atomic<uint32_t>* slots_;
  size_t slots_bytes_;
  uint32_t mask_;
  uint32_t tag_mask_;  // slot word bits not needed for the index
  Flow* pool_;
  FlowStats* stats_ = nullptr;  // per flow, only with statistics
  uint8_t* splt_ = nullptr;     // per flow splt_stride_ bytes, only with splt > 0
  size_t splt_stride_ = 0;
  conn::Track* conn_;           // per flow: Zeek's history and conn_state (IP flows)
  uint32_t* app_ = nullptr;     // per flow: its app::Dissector word (0, a state, or its area), only with dissect
  std::unique_ptr<app::Dissector> dissector_;
  uint32_t free_head_ = kNone;  // freed indexes, last freed first
  uint32_t fresh_ = 0;          // indexes from here on never used
  uint32_t idle_head_ = kNone, idle_tail_ = kNone;  // every index in use is queued once
  Ring<CloseEntry> close_q_;  // TCP flows closing, in close-time order
  size_t active_ = 0;
  uint64_t clock_ = 0;  // monotone packet clock
  uint64_t next_due_ = UINT64_MAX;  // earliest due of the queues' heads: advance() is skipped before it
  uint64_t next_id_;
  FlowCounters counters_;
};

}  // namespace flowmaster
