// Bidirectional flow table: open addressing over a power-of-two slot array
// fixed at start from maxFlows, slots claimed by compare-and-swap, flow state
// in a preallocated pool (no allocation per packet). Lookups run in groups:
// hash and prefetch a group's slots, then its flow states, then update.
// Expiry (idle, active, TCP end, eviction, flush) runs in packet time.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "decode.h"
#include "flow_record.h"

namespace flowmaster {

enum Accounting : uint8_t { kAcctLink = 0, kAcctIp = 1, kAcctTransport = 2, kAcctPayload = 3 };

struct FlowOptions {
  uint64_t idle_ns = 120ull * 1000000000ull;  // UINT64_MAX: never
  uint64_t active_ns = 1800ull * 1000000000ull;
  uint64_t close_ns = 5ull * 1000000000ull;
  bool tcp_termination = true;
  bool key_vlan = true;
  bool statistics = false;
  uint8_t accounting = kAcctLink;
  uint32_t max_flows = 1000000;
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
  template <typename F>
  void for_each(F fn) const {
    for (size_t i = head_; i != tail_; i++) fn(buf_[i & (buf_.size() - 1)]);
  }
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
  struct Key {  // canonical: (a, pa) <= (b, pb)
    uint8_t a[16];
    uint8_t b[16];
    uint16_t pa, pb;
    uint16_t vlan;
    uint16_t ethertype;
    uint8_t version, proto;
    uint8_t pad[6];
  };
  static_assert(sizeof(Key) == 48, "key is 6 words");
  struct DirStats {
    uint32_t size_min, size_max;
    double size_mean, size_m2;
    uint64_t iat_min, iat_max, iat_n;
    double iat_mean, iat_m2;
  };
  // Hot fields (every packet) in the first two cache lines, both prefetched.
  struct alignas(64) Flow {
    Key key;
    uint64_t last_ns, first_ns, close_ns;
    uint64_t fwd_packets, fwd_bytes, rev_packets, rev_bytes;
    uint64_t fwd_last_ns, rev_last_ns;
    uint8_t src_is_a, flags, fwd_tcp, rev_tcp, fins, closing, queued, live;
    // cold: set at creation or once
    uint64_t id;
    uint64_t rev_first_ns;
    uint32_t slot_hash;  // lower 32 bits of the hash, as in the slot word
    uint16_t segment;
    uint8_t icmp_type, icmp_code;
    uint8_t src_mac[6], dst_mac[6];
    uint8_t arp[8];  // ARP flows: sender and target IPv4 of the first packet
  };
  static_assert(offsetof(Flow, live) < 128, "hot fields in two cache lines");
  struct QueueEntry {
    uint32_t idx;
    uint64_t id;
    uint64_t due_ns;
  };

  static uint64_t hash_key(const Key& k);
  static bool make_key(const PacketInfo& p, bool key_vlan, Key& k);  // returns: packet src is a
  uint64_t* find_slot(const Key& k, uint64_t h, uint32_t* idx_out);
  void remove_slot(uint64_t* slot);
  void update(PacketInfo& p);
  uint32_t create(const PacketInfo& p, const Key& k, bool src_is_a, uint64_t h, uint64_t* slot);
  void account(Flow& f, uint32_t idx, const PacketInfo& p, bool from_a);
  void expire(uint32_t idx, EndReason reason);
  void emit(const Flow& f, uint32_t idx, EndReason reason);
  void write_record(uint8_t* r, const Flow& f, uint32_t idx, EndReason reason) const;
  void reset_segment(Flow& f, uint32_t idx);
  void evict_one();
  void push_idle(const QueueEntry& e);
  void refresh_due();
  uint64_t sat_add(uint64_t a, uint64_t b) const { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

  FlowOptions opt_;
  RecordSink& sink_;
  // slot word: 0 empty, else (hash >> 32) << 32 | (pool index + 1)
  std::atomic<uint64_t>* slots_;
  size_t slots_bytes_;
  uint64_t mask_;
  Flow* pool_;
  DirStats* stats_ = nullptr;  // 2 per flow, only with statistics
  std::vector<uint32_t> free_;
  Ring<QueueEntry> idle_q_;   // one entry per pool index in use (lazy re-check)
  Ring<QueueEntry> close_q_;  // TCP flows closing, in close-time order
  size_t active_ = 0;
  uint64_t clock_ = 0;  // monotone packet clock
  uint64_t next_due_ = UINT64_MAX;  // earliest due of the queues' heads: advance() is skipped before it
  uint64_t next_id_;
  FlowCounters counters_;
};

}  // namespace flowmaster
