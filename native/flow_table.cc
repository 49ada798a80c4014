#include "flow_table.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sys/mman.h>

#include "app/dissect.h"

namespace flowmaster {

namespace {
inline void put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }  // little-endian hosts only
inline void put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline void putf64(uint8_t* p, double v) { std::memcpy(p, &v, 8); }
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "FlowBatch writer assumes a little-endian host");

// Zeroed memory faulted in lazily, on transparent huge pages where the kernel
// allows: random slot and flow accesses otherwise miss the TLB as well as the cache.
void* table_alloc(size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (bytes >= (2u << 20)) ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return p;
}

// Slot word: pool index + 1 in the low bits, the hash's upper half above them
// (a tag that spares most key compares); the home slot is the hash's lower half.
inline uint32_t word_idx(uint32_t w, uint32_t tag_mask) { return (w & ~tag_mask) - 1; }
inline uint32_t hash_tag(uint64_t h) { return uint32_t(h >> 32); }
}  // namespace

FlowTable::FlowTable(const FlowOptions& opt, RecordSink& sink)
    : opt_(opt), sink_(sink), close_q_(1024), next_id_(opt.id_first) {
  if (opt_.max_flows == 0) opt_.max_flows = 1;
  if (opt_.max_packets == 0) opt_.max_packets = 1;
  uint64_t cap = 16;
  while (cap < uint64_t(opt_.max_flows) * 2) cap <<= 1;
  mask_ = uint32_t(cap - 1);  // maxFlows <= 2^31
  int idx_bits = 64 - __builtin_clzll(uint64_t(opt_.max_flows));  // holds index + 1
  tag_mask_ = uint32_t(~((uint64_t(1) << idx_bits) - 1));
  // A big maxFlows costs address space; memory is touched only as flows arrive.
  slots_bytes_ = cap * sizeof(std::atomic<uint32_t>);
  slots_ = static_cast<std::atomic<uint32_t>*>(table_alloc(slots_bytes_));  // all-zero words: empty
  pool_ = static_cast<Flow*>(table_alloc(size_t(opt_.max_flows) * sizeof(Flow)));
  conn_ = static_cast<conn::Track*>(table_alloc(size_t(opt_.max_flows) * sizeof(conn::Track)));
  if (opt_.statistics) stats_ = static_cast<FlowStats*>(table_alloc(size_t(opt_.max_flows) * sizeof(FlowStats)));
  if (opt_.splt > off::kSpltMax) opt_.splt = off::kSpltMax;
  if (opt_.splt) {
    splt_stride_ = (sizeof(SpltHead) + opt_.splt * (2 + 4) + 7) & ~size_t(7);
    splt_ = static_cast<uint8_t*>(table_alloc(size_t(opt_.max_flows) * splt_stride_));
  }
  if (opt_.dissect) {
    app_ = static_cast<uint32_t*>(table_alloc(size_t(opt_.max_flows) * sizeof(uint32_t)));
    dissector_.reset(new app::Dissector(opt_.dissect_bytes));
  }
}

FlowTable::~FlowTable() {
  if (dissector_) {  // flows left active (a cancelled run): what their dissection holds
    for (uint32_t i = idle_head_; i != kNone; i = pool_[i].qnext)
      if ((pool_[i].state & kLive) && app_[i]) dissector_->release(app_[i]);
    ::munmap(app_, size_t(opt_.max_flows) * sizeof(uint32_t));
  }
  ::munmap(slots_, slots_bytes_);
  ::munmap(pool_, size_t(opt_.max_flows) * sizeof(Flow));
  ::munmap(conn_, size_t(opt_.max_flows) * sizeof(conn::Track));
  if (stats_) ::munmap(stats_, size_t(opt_.max_flows) * sizeof(FlowStats));
  if (splt_) ::munmap(splt_, size_t(opt_.max_flows) * splt_stride_);
}

uint64_t FlowTable::hash_key(const Key& k) {
  uint64_t w[5];
  std::memcpy(w, &k, sizeof w);
  uint64_t h = 0x243f6a8885a308d3ull;
  for (uint64_t x : w) {
    h ^= x;
    h *= 0x9e3779b97f4a7c15ull;
    h ^= h >> 32;
  }
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return h;
}

namespace {
inline uint64_t load_be64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}
// memcmp order of two 16-byte addresses, without a library call.
inline int compare_addr(const uint8_t* a, const uint8_t* b) {
  uint64_t x = load_be64(a), y = load_be64(b);
  if (x == y) {
    x = load_be64(a + 8);
    y = load_be64(b + 8);
  }
  return x < y ? -1 : x > y ? 1 : 0;
}
inline bool same_key(const void* a, const void* b) {
  uint64_t x[5], y[5];
  std::memcpy(x, a, 40);
  std::memcpy(y, b, 40);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0;
}
}  // namespace

bool FlowTable::make_key(const PacketInfo& p, bool key_vlan, Key& k) {
  int c = compare_addr(p.src, p.dst);
  bool src_is_a = c < 0 || (c == 0 && p.sport <= p.dport);
  if (src_is_a) {
    std::memcpy(k.a, p.src, 16);
    std::memcpy(k.b, p.dst, 16);
    k.pa = p.sport;
    k.pb = p.dport;
  } else {
    std::memcpy(k.a, p.dst, 16);
    std::memcpy(k.b, p.src, 16);
    k.pa = p.dport;
    k.pb = p.sport;
  }
  if (p.ip_version == 0) k.pa = p.ethertype;  // layer 2: no ports
  k.vlan = key_vlan ? p.vlan : 0;
  k.version = p.ip_version;
  k.proto = p.proto;
  return src_is_a;
}

uint32_t* FlowTable::find_slot(const Key& k, uint64_t h, uint32_t* idx_out) {
  uint32_t tag = hash_tag(h) & tag_mask_;
  for (uint32_t i = uint32_t(h) & mask_;; i = (i + 1) & mask_) {
    uint32_t w = slots_[i].load(std::memory_order_acquire);
    if (w == 0) {
      *idx_out = kNone;
      return reinterpret_cast<uint32_t*>(&slots_[i]);
    }
    if ((w & tag_mask_) == tag && same_key(&pool_[word_idx(w, tag_mask_)].key, &k)) {
      *idx_out = word_idx(w, tag_mask_);
      return reinterpret_cast<uint32_t*>(&slots_[i]);
    }
  }
}

// Backward-shift deletion keeps probe chains short without tombstones (a
// moved word's home comes from its flow's key: the slot holds too few hash
// bits). The slot's owner (the one writer for this flow's hash) is the only
// one moving it.
void FlowTable::remove_slot(uint32_t* slot_ptr) {
  uint32_t i = uint32_t(reinterpret_cast<std::atomic<uint32_t>*>(slot_ptr) - slots_);
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    uint32_t w = slots_[j].load(std::memory_order_relaxed);
    if (w == 0) break;
    uint32_t home = uint32_t(hash_key(pool_[word_idx(w, tag_mask_)].key)) & mask_;
    // move w to i when its home is not in the cyclic range (i, j]
    bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      slots_[i].store(w, std::memory_order_release);
      i = j;
    }
  }
  slots_[i].store(0, std::memory_order_release);
}

void FlowTable::process(PacketInfo* pkts, size_t n) {
  Key keys[kGroup];
  bool from_a[kGroup];
  for (size_t i = 0; i < n; i++) {
    from_a[i] = make_key(pkts[i], opt_.key_vlan, keys[i]);
    pkts[i].hash = hash_key(keys[i]);
    __builtin_prefetch(&slots_[uint32_t(pkts[i].hash) & mask_]);
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t w = slots_[uint32_t(pkts[i].hash) & mask_].load(std::memory_order_relaxed);
    if (w) {  // the per-packet 128 bytes span up to three cache lines, the 52 of conn::Track up to two
      uint32_t idx = word_idx(w, tag_mask_);
      const char* f = reinterpret_cast<const char*>(&pool_[idx]);
      __builtin_prefetch(f);
      __builtin_prefetch(f + 64);
      __builtin_prefetch(f + 127);
      const char* t = reinterpret_cast<const char*>(&conn_[idx]);
      __builtin_prefetch(t);
      __builtin_prefetch(t + sizeof(conn::Track) - 1);
    }
  }
  for (size_t i = 0; i < n; i++) {
    PacketInfo& p = pkts[i];
    if (p.ts_ns > clock_) {
      clock_ = p.ts_ns;
      if (clock_ >= next_due_) advance(clock_);
    }
    uint32_t idx;
    uint32_t* slot = find_slot(keys[i], p.hash, &idx);
    if (idx != kNone) {
      Flow& f = pool_[idx];
      EndReason why = EndReason(0);
      if ((f.state & kClosing) && clock_ >= sat_add(f.close_ns, opt_.close_ns)) why = kEndTcp;
      else if (clock_ >= sat_add(f.last_ns(), opt_.idle_ns)) why = kEndIdle;
      if (why) {
        expire(idx, why);
        slot = find_slot(keys[i], p.hash, &idx);
      } else if (clock_ >= sat_add(f.first_ns, opt_.active_ns) || f.fwd_packets == opt_.max_packets ||
                 f.rev_packets == opt_.max_packets) {
        emit(f, idx, kEndActive);
        reset_segment(f, idx);
        f.segment++;
        f.first_ns = p.ts_ns;
      }
    }
    if (idx == kNone) {
      if (free_head_ == kNone && fresh_ == opt_.max_flows) {
        evict_one();
        slot = find_slot(keys[i], p.hash, &idx);
      }
      idx = create(p, keys[i], from_a[i], p.hash, slot);
    }
    account(pool_[idx], idx, p, from_a[i]);
  }
}

uint32_t FlowTable::create(const PacketInfo& p, const Key& k, bool src_is_a, uint64_t h, uint32_t* slot_ptr) {
  uint32_t idx;
  if (free_head_ != kNone) {
    idx = free_head_;
    free_head_ = uint32_t(pool_[idx].id);
  } else {
    idx = fresh_++;  // never used: zero, as mmap gave it
  }
  Flow& f = pool_[idx];
  uint8_t queued = f.state & kQueued;
  std::memset(static_cast<void*>(&f), 0, offsetof(Flow, qnext));
  f.key = k;
  f.state = uint8_t(queued | kLive | (src_is_a ? kSrcIsA : 0));
  f.id = next_id_;
  next_id_ += opt_.id_step;
  f.first_ns = p.ts_ns;
  f.min_ttl = 255;
  if (is_icmp(k)) {
    f.icmp[0] = p.icmp_type;
    f.icmp[1] = p.icmp_code;
  }
  if (p.has_mac) {
    std::memcpy(f.src_mac, p.src_mac, 6);
    std::memcpy(f.dst_mac, p.dst_mac, 6);
  }
  if (p.kind == kKindL2 && p.has_arp) {
    std::memcpy(f.arp, p.arp_spa, 4);
    std::memcpy(f.arp + 4, p.arp_tpa, 4);
  }
  f.inner_vlan = p.inner_vlan;
  f.tunnel_type = p.tunnel_type;
  f.tunnel_id = p.tunnel_id;
  std::memset(static_cast<void*>(&conn_[idx]), 0, sizeof(conn::Track));
  if (stats_) std::memset(static_cast<void*>(&stats_[idx]), 0, sizeof(FlowStats));
  if (splt_) std::memset(splt_at(idx), 0, sizeof(SpltHead));
  // Claim the empty slot found by find_slot; on a lost race probe on.
  auto* s = reinterpret_cast<std::atomic<uint32_t>*>(slot_ptr);
  uint32_t expected = 0;
  uint32_t word = (hash_tag(h) & tag_mask_) | (idx + 1);
  while (!s->compare_exchange_strong(expected, word, std::memory_order_acq_rel)) {
    uint32_t i = uint32_t(s - slots_);
    s = &slots_[(i + 1) & mask_];
    expected = 0;
  }
  if (!queued) {
    f.state |= kQueued;
    push_idle(idx, sat_add(p.ts_ns, opt_.idle_ns));
  }
  active_++;
  counters_.flows_created++;
  return idx;
}

void FlowTable::account(Flow& f, uint32_t idx, const PacketInfo& p, bool from_a) {
  uint32_t len;
  switch (opt_.accounting) {
    case kAcctIp: len = p.ip_len; break;
    case kAcctTransport: len = p.l4_len; break;
    case kAcctPayload: len = p.payload_len; break;
    default: len = p.wire_len;
  }
  bool fwd = from_a == bool(f.state & kSrcIsA);
  if (p.fragment) f.flags |= kFlagFragments;
  if (p.tunnel) f.flags |= kFlagTunnel;
  if (p.truncated) f.flags |= kFlagTruncated;
  if (p.kind == kKindL2) f.flags |= kFlagL2;
  if (p.kind == kKindIp) {
    if (p.ttl < f.min_ttl) f.min_ttl = p.ttl;
    if (p.ttl > f.max_ttl) f.max_ttl = p.ttl;
  }
  uint32_t payload = p.truncated ? 0 : p.payload_len;  // no transport header: nothing known to follow it
  uint64_t prev_flow = f.last_ns();  // of this segment, 0 before its first packet
  uint64_t prev_ts;
  if (fwd) {
    prev_ts = f.fwd_last_ns;
    f.fwd_packets++;
    f.fwd_bytes += len;
    f.fwd_ip_bytes += p.ip_len;
    f.fwd_payload_bytes += payload;
    if (p.ts_ns > f.fwd_last_ns) f.fwd_last_ns = p.ts_ns;
    f.fwd_tcp |= p.tcp_flags;
  } else {
    prev_ts = f.rev_last_ns;
    if (f.rev_packets == 0) f.rev_first_ns = p.ts_ns;
    f.rev_packets++;
    f.rev_bytes += len;
    f.rev_ip_bytes += p.ip_len;
    f.rev_payload_bytes += payload;
    if (p.ts_ns > f.rev_last_ns) f.rev_last_ns = p.ts_ns;
    f.rev_tcp |= p.tcp_flags;
  }
  if (stats_) account_stats(f, idx, p, fwd, len, prev_ts, prev_flow);
  if (splt_) account_splt(idx, p, fwd, len);
  if (p.kind == kKindIp) conn::packet(conn_[idx], fwd, p);
  if (app_ && !(f.state & kAppDone) && p.payload_cap) dissect(f, idx, p, fwd);
  if (opt_.tcp_termination && p.proto == 6 && p.ip_version != 0 && !(f.state & kClosing)) {
    if (p.tcp_flags & 0x04) {
      f.state |= kClosing;
    } else if (p.tcp_flags & 0x01) {
      f.state |= fwd ? kFinFwd : kFinRev;
      if ((f.state & (kFinFwd | kFinRev)) == (kFinFwd | kFinRev)) f.state |= kClosing;
    }
    if (f.state & kClosing) {
      f.close_ns = clock_;
      CloseEntry e{idx, f.id, sat_add(clock_, opt_.close_ns)};
      if (close_q_.empty() && e.due_ns < next_due_) next_due_ = e.due_ns;
      close_q_.push_back(e);
    }
  }
}

namespace {
// One step of Welford's running mean and sum of squared deviations for the n-th value x.
inline void welford(double& mean, double& m2, double x, uint64_t n) {
  double d = x - mean;
  mean += d / double(n);
  m2 += d * (x - mean);
}

// The n-th packet (from 1) of a stat block: its size, and for n > 1 the time
// since `prev` (the block's last packet time so far; an older packet counts 0).
// src/engine/ts/flow-table.ts does the same double operations in the same order.
template <typename S>
void add_sample(S& s, uint64_t n, uint32_t len, uint64_t ts, uint64_t prev) {
  if (n == 1 || len < s.size_min) s.size_min = len;
  if (len > s.size_max) s.size_max = len;
  welford(s.size_mean, s.size_m2, double(len), n);
  if (n > 1) {
    uint64_t iat = ts > prev ? ts - prev : 0;
    uint64_t k = n - 1;
    if (k == 1 || iat < s.iat_min) s.iat_min = iat;
    if (iat > s.iat_max) s.iat_max = iat;
    welford(s.iat_mean, s.iat_m2, double(iat), k);
  }
}
}  // namespace

// `statistics`: the packet's direction block, the both-directions block and
// the TCP flag counters (counters of `f` already include the packet).
void FlowTable::account_stats(const Flow& f, uint32_t idx, const PacketInfo& p, bool fwd, uint32_t len,
                              uint64_t prev_dir, uint64_t prev_flow) {
  FlowStats& s = stats_[idx];
  add_sample(s.dir[fwd ? 0 : 1], fwd ? f.fwd_packets : f.rev_packets, len, p.ts_ns, prev_dir);
  add_sample(s.bi, uint64_t(f.fwd_packets) + f.rev_packets, len, p.ts_ns, prev_flow);
  uint32_t* counts = s.flag_counts[fwd ? 0 : 1];
  for (uint32_t bits = p.tcp_flags; bits; bits &= bits - 1) counts[__builtin_ctz(bits)]++;
}

// `splt`: the flow's first packets, segments or not. The inter-arrival time
// is from the flow's last packet time so far (an older packet counts 0).
void FlowTable::account_splt(uint32_t idx, const PacketInfo& p, bool fwd, uint32_t len) {
  uint8_t* e = splt_at(idx);
  SpltHead& h = *reinterpret_cast<SpltHead*>(e);
  uint32_t i = h.count;
  if (i >= opt_.splt) return;
  uint64_t us = i && p.ts_ns > h.last_ns ? (p.ts_ns - h.last_ns) / 1000 : 0;
  put16(e + sizeof(SpltHead) + 2 * i, uint16_t(len > 0xffff ? 0xffff : len));
  put32(e + sizeof(SpltHead) + 2 * opt_.splt + 4 * i, uint32_t(us > UINT32_MAX ? UINT32_MAX : us));
  if (!fwd) h.directions |= 1u << i;
  h.count = uint8_t(i + 1);
  if (p.ts_ns > h.last_ns) h.last_ns = p.ts_ns;
}

// Application dissection of a TCP/UDP packet with payload (docs/applications.md).
void FlowTable::dissect(Flow& f, uint32_t idx, const PacketInfo& p, bool fwd) {
  const Key& k = f.key;
  if (dissector_->packet(&app_[idx], k.proto, k.pa, k.pb, fwd, p)) f.state |= kAppDone;
}

// A new record of the same flow: what is per record restarts; the
// connection's history, conn_state and SPLT go on.
void FlowTable::reset_segment(Flow& f, uint32_t idx) {
  f.fwd_packets = f.fwd_bytes = f.rev_packets = f.rev_bytes = 0;
  f.fwd_ip_bytes = f.rev_ip_bytes = f.fwd_payload_bytes = f.rev_payload_bytes = 0;
  f.fwd_last_ns = f.rev_first_ns = f.rev_last_ns = 0;
  f.fwd_tcp = f.rev_tcp = 0;
  f.flags = 0;
  f.min_ttl = 255;
  f.max_ttl = 0;
  if (stats_) std::memset(static_cast<void*>(&stats_[idx]), 0, sizeof(FlowStats));
}

void FlowTable::emit(const Flow& f, uint32_t idx, EndReason reason) {
  write_record(sink_.reserve(), f, idx, reason);
  counters_.flows_by_reason[reason]++;
}

// Records of the active flows (end reason 0), the table unchanged. Only the
// thread that owns the table may call it.
// Every pool index in use is in the idle queue (flush() relies on it too).
void FlowTable::snapshot(RecordSink& out) const {
  for (uint32_t i = idle_head_; i != kNone; i = pool_[i].qnext) {
    if (pool_[i].state & kLive) write_record(out.reserve(), pool_[i], i, EndReason(0));
  }
}

void FlowTable::write_record(uint8_t* r, const Flow& f, uint32_t idx, EndReason reason) const {
  const Key& k = f.key;
  bool src_is_a = f.state & kSrcIsA;
  const uint8_t* src = src_is_a ? k.a : k.b;
  const uint8_t* dst = src_is_a ? k.b : k.a;
  put64(r + off::kFlowId, f.id);
  put64(r + off::kFirstNs, f.first_ns);
  put64(r + off::kLastNs, f.last_ns());
  std::memcpy(r + off::kSrcAddr, src, 16);
  std::memcpy(r + off::kDstAddr, dst, 16);
  if (k.version == 0) {  // layer 2: ARP protocol addresses after the MACs (zero otherwise)
    std::memcpy(r + off::kSrcAddr + off::kArpIp, f.arp, 4);
    std::memcpy(r + off::kDstAddr + off::kArpIp, f.arp + 4, 4);
  }
  if (k.version != 0) {
    put16(r + off::kSrcPort, src_is_a ? k.pa : k.pb);
    put16(r + off::kDstPort, src_is_a ? k.pb : k.pa);
  }
  put16(r + off::kVlan, k.vlan);
  put16(r + off::kEtherType, k.version == 4 ? 0x0800 : k.version == 6 ? 0x86dd : k.pa);
  r[off::kIpVersion] = k.version;
  r[off::kProtocol] = k.proto;
  r[off::kEndReason] = reason;
  r[off::kFlags] = f.flags;
  put16(r + off::kSegment, f.segment);
  r[off::kFwdTcpFlags] = f.fwd_tcp;
  r[off::kRevTcpFlags] = f.rev_tcp;
  if (is_icmp(k)) {
    r[off::kIcmpType] = f.icmp[0];
    r[off::kIcmpCode] = f.icmp[1];
  }
  if (k.version != 0) {
    r[off::kMinTtl] = f.min_ttl;
    r[off::kMaxTtl] = f.max_ttl;
  }
  std::memcpy(r + off::kSrcMac, f.src_mac, 6);
  std::memcpy(r + off::kDstMac, f.dst_mac, 6);
  put64(r + off::kFwdPackets, f.fwd_packets);
  put64(r + off::kFwdBytes, f.fwd_bytes);
  put64(r + off::kRevPackets, f.rev_packets);
  put64(r + off::kRevBytes, f.rev_bytes);
  put64(r + off::kFwdLastNs, f.fwd_last_ns);
  put64(r + off::kRevFirstNs, f.rev_first_ns);
  put64(r + off::kRevLastNs, f.rev_last_ns);
  put64(r + off::kFwdIpBytes, f.fwd_ip_bytes);
  put64(r + off::kRevIpBytes, f.rev_ip_bytes);
  put64(r + off::kFwdPayloadBytes, f.fwd_payload_bytes);
  put64(r + off::kRevPayloadBytes, f.rev_payload_bytes);
  put16(r + off::kInnerVlan, f.inner_vlan);
  r[off::kTunnelType] = f.tunnel_type;
  put32(r + off::kTunnelId, f.tunnel_id);
  if (k.version != 0) conn::write(conn_[idx], k.proto, k.version, r);  // conn_state and history
  if (stats_) write_stats(r, f, idx);
  if (splt_) write_splt(r, idx);
  if (app_)  // every segment carries the area found so far
    if (const uint8_t* a = dissector_->area(app_[idx])) std::memcpy(r + off::kApp, a, off::kAppSize);
}

namespace {
template <typename S>
void put_stat_block(uint8_t* b, const S& s, uint64_t n) {
  if (n == 0) return;
  put32(b + off::kStatSizeMin, s.size_min);
  put32(b + off::kStatSizeMax, s.size_max);
  putf64(b + off::kStatSizeMean, s.size_mean);
  putf64(b + off::kStatSizeStddev, std::sqrt(s.size_m2 / double(n)));
  if (n < 2) return;
  put64(b + off::kStatIatMin, s.iat_min);
  put64(b + off::kStatIatMax, s.iat_max);
  putf64(b + off::kStatIatMean, s.iat_mean);
  putf64(b + off::kStatIatStddev, std::sqrt(s.iat_m2 / double(n - 1)));
}
}  // namespace

void FlowTable::write_stats(uint8_t* r, const Flow& f, uint32_t idx) const {
  const FlowStats& s = stats_[idx];
  put_stat_block(r + off::kFwdStats, s.dir[0], f.fwd_packets);
  put_stat_block(r + off::kRevStats, s.dir[1], f.rev_packets);
  put_stat_block(r + off::kBiStats, s.bi, uint64_t(f.fwd_packets) + f.rev_packets);
  for (int i = 0; i < 8; i++) {
    put32(r + off::kFwdFlagCounts + 4 * i, s.flag_counts[0][i]);
    put32(r + off::kRevFlagCounts + 4 * i, s.flag_counts[1][i]);
  }
}

void FlowTable::write_splt(uint8_t* r, uint32_t idx) const {
  const uint8_t* e = splt_at(idx);
  const SpltHead& h = *reinterpret_cast<const SpltHead*>(e);
  r[off::kSpltCount] = h.count;
  put32(r + off::kSpltDirections, h.directions);
  std::memcpy(r + off::kSpltSizes, e + sizeof(SpltHead), 2 * size_t(h.count));
  std::memcpy(r + off::kSpltIats, e + sizeof(SpltHead) + 2 * size_t(opt_.splt), 4 * size_t(h.count));
}

void FlowTable::expire(uint32_t idx, EndReason reason) {
  Flow& f = pool_[idx];
  emit(f, idx, reason);
  if (app_ && app_[idx]) {
    dissector_->release(app_[idx]);
    app_[idx] = 0;
  }
  uint32_t found;
  remove_slot(find_slot(f.key, hash_key(f.key), &found));
  f.state &= kQueued;
  f.id = free_head_;
  free_head_ = idx;
  active_--;
}

void FlowTable::advance(uint64_t now) {
  while (!close_q_.empty() && close_q_.front().due_ns <= now) {
    CloseEntry e = close_q_.front();
    close_q_.pop_front();
    Flow& f = pool_[e.idx];
    if ((f.state & kLive) && f.id == e.id && (f.state & kClosing)) expire(e.idx, kEndTcp);
  }
  while (idle_head_ != kNone && pool_[idle_head_].qdue <= now) {
    uint32_t idx = pop_idle();
    Flow& f = pool_[idx];
    if (!(f.state & kLive)) {
      f.state &= uint8_t(~kQueued);
    } else if (now >= sat_add(f.last_ns(), opt_.idle_ns)) {
      f.state &= uint8_t(~kQueued);
      expire(idx, kEndIdle);
    } else {
      push_idle(idx, sat_add(f.last_ns(), opt_.idle_ns));
    }
  }
  refresh_due();
}

void FlowTable::refresh_due() {
  next_due_ = UINT64_MAX;
  if (!close_q_.empty()) next_due_ = close_q_.front().due_ns;
  if (idle_head_ != kNone && pool_[idle_head_].qdue < next_due_) next_due_ = pool_[idle_head_].qdue;
}

void FlowTable::push_idle(uint32_t idx, uint64_t due_ns) {
  if (idle_head_ == kNone && due_ns < next_due_) next_due_ = due_ns;
  Flow& f = pool_[idx];
  f.qnext = kNone;
  f.qdue = due_ns;
  if (idle_tail_ == kNone) idle_head_ = idx;
  else pool_[idle_tail_].qnext = idx;
  idle_tail_ = idx;
}

uint32_t FlowTable::pop_idle() {
  uint32_t idx = idle_head_;
  idle_head_ = pool_[idx].qnext;
  if (idle_head_ == kNone) idle_tail_ = kNone;
  return idx;
}

// Table full: the flow at the head of the idle queue goes (the least recently
// checked, an approximation of least recently seen that costs nothing per packet).
void FlowTable::evict_one() {
  while (idle_head_ != kNone) {
    uint32_t idx = pop_idle();
    Flow& f = pool_[idx];
    f.state &= uint8_t(~kQueued);
    if (f.state & kLive) {
      expire(idx, kEndEvicted);
      break;
    }
  }
  refresh_due();
}

void FlowTable::flush(EndReason reason) {
  // In idle-queue order, so output order is deterministic.
  while (idle_head_ != kNone) {
    uint32_t idx = pop_idle();
    Flow& f = pool_[idx];
    f.state &= uint8_t(~kQueued);
    if (f.state & kLive) expire(idx, reason);
  }
  close_q_.clear();
  refresh_due();
}

}  // namespace flowmaster
