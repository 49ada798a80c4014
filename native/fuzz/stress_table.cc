// Stress program for the flow tables under threads, built in the TSan variant
// (npm run build:tsan; test/hardening.test.ts runs it) and the ASan one.
//
// It mirrors live capture with threads > 1 (live.cc, capture.cc): every writer
// thread owns one FlowTable (flow ids id_first = i + 1, id_step = N) and is fed
// the packets of its share of the flows (partitioned by a symmetric flow hash,
// as PACKET_FANOUT_HASH does); records go into pooled batches (batch.h) handed
// to a shared delivery queue under a mutex, with back-pressure; another thread
// bumps a std::atomic<uint32_t> snapshot request every few ms, answered by each
// writer with FlowTable::snapshot() between packet groups. The main thread
// consumes the queue like the JS thread does.
//
// The multiset of final records (flow ids zeroed: they depend on the table) must
// equal the one of a single-threaded run over the same packets; (id, segment)
// must be unique across tables; snapshot records must be well formed. Exit 0 when
// all holds, 1 on any difference (printed), 2 on bad usage.
//
// Packets are synthesized (seeded; TCP life cycles with FIN/RST, port reuse,
// UDP, ICMP, IPv6, VLANs, ARP/L2 flows, idle gaps; payloads that application
// dissection reads) or decoded from a capture
// (--pcap FILE [--repeat R], timestamps made non-decreasing, addresses varied per
// repetition). Timestamps never go backwards: expiry then depends only on each
// flow's own packets, so any partition must give the same records.
//
//   stress_table [--threads 4] [--packets 2000000] [--flows 40000] [--seed 1]
//                [--snapshot-us 2000] [--batch 512] [--pcap FILE [--repeat R]] [--drop-one 1]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "batch.h"
#include "decode.h"
#include "flow_record.h"
#include "flow_table.h"
#include "reader.h"

using namespace flowmaster;

namespace {

struct Args {
  int threads = 4;
  uint64_t packets = 2000000;
  uint32_t flows = 40000;
  uint64_t seed = 1;
  int snapshot_us = 2000;
  size_t batch = 512;
  std::string pcap;
  int repeat = 1;
  bool drop_one = false;  // checks the checker: writer 0 skips one packet, the run must fail
};

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return uint32_t(next() % n); }
};

FlowOptions flow_options() {
  FlowOptions fo;
  fo.idle_ns = 20000000ull;     // 20 ms
  fo.active_ns = 300000000ull;  // 300 ms
  fo.close_ns = 5000000ull;     // 5 ms
  fo.statistics = true;
  fo.splt = 12;  // SPLT spans segments: every record of a flow carries its first packets
  fo.dissect = true;  // each table its own dissector: no state shared between threads
  fo.dissect_bytes = 256;
  fo.max_flows = 1u << 18;  // no eviction (its victim depends on the table's history): checked below
  return fo;
}

// ---- workload

struct Template {
  PacketInfo base;  // src = client side
  uint32_t budget, sent;
  uint8_t ending;   // 0 none, 1 FIN both ways, 2 RST
  uint32_t seq[2];  // TCP sequence numbers, client and server
};

// Payloads for application dissection (a flow's are chosen by its client port).
const std::string kPayloads[] = {
    "GET /stress HTTP/1.1\r\nHost: stress.example\r\nUser-Agent: stress_table\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "SSH-2.0-stress_table\r\n",
    std::string("\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a", 12),
    std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03" "www" "\x07" "example" "\x03" "com" "\x00\x00\x01\x00\x01", 33),
    std::string("\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03", 11),
    "no protocol at all",
};

void new_flow(Template& t, Rng& r, uint32_t serial) {
  PacketInfo& p = t.base;
  std::memset(&p, 0, sizeof p);
  uint32_t kind = r.below(100);
  p.has_mac = 1;
  for (int i = 0; i < 6; i++) {
    p.src_mac[i] = uint8_t(r.next());
    p.dst_mac[i] = uint8_t(r.next());
  }
  p.vlan = r.below(4) == 0 ? uint16_t(1 + r.below(3)) : 0;
  if (kind < 4) {  // L2 flow (ARP or LLDP)
    p.kind = kKindL2;
    p.ethertype = r.below(2) ? 0x0806 : 0x88cc;
    std::memcpy(p.src, p.src_mac, 6);
    std::memcpy(p.dst, p.dst_mac, 6);
    if (p.ethertype == 0x0806) {
      p.has_arp = 1;
      for (int i = 0; i < 4; i++) {
        p.arp_spa[i] = uint8_t(r.next());
        p.arp_tpa[i] = uint8_t(r.next());
      }
    }
  } else {
    p.kind = kKindIp;
    bool v6 = r.below(5) == 0;
    p.ip_version = v6 ? 6 : 4;
    p.ethertype = v6 ? 0x86dd : 0x0800;
    int n = v6 ? 16 : 4;
    p.src[0] = 10;
    for (int i = 1; i < n; i++) p.src[i] = uint8_t(r.below(v6 ? 256 : 4));  // few hosts: shared addresses
    p.dst[0] = 172;
    for (int i = 1; i < n; i++) p.dst[i] = uint8_t(r.below(v6 ? 256 : 8));
    p.proto = kind < 60 ? 6 : kind < 90 ? 17 : kind < 96 ? (v6 ? 58 : 1) : 132;
    if (p.proto == 6 || p.proto == 17 || p.proto == 132) {
      p.sport = uint16_t(1024 + (serial * 7919u + r.below(64)) % 60000);
      static const uint16_t kPorts[] = {80, 443, 53, 22, 8080, 123};
      p.dport = kPorts[r.below(6)];
    } else {
      p.icmp_type = uint8_t(r.below(3) ? 8 : 3);
      p.icmp_code = uint8_t(r.below(4));
    }
    if (r.below(50) == 0) p.tunnel = 1;
  }
  t.budget = 1 + (r.below(10) == 0 ? r.below(2000) : r.below(40));
  t.sent = 0;
  t.ending = p.proto == 6 ? uint8_t(r.below(4) == 0 ? 2 : r.below(4) ? 1 : 0) : 0;
  t.seq[0] = uint32_t(r.next());
  t.seq[1] = uint32_t(r.next());
}

std::vector<PacketInfo> synthesize(const Args& a) {
  std::vector<PacketInfo> out;
  out.reserve(a.packets);
  Rng r(a.seed);
  uint32_t k = std::min<uint32_t>(a.flows, 4096);
  std::vector<Template> slots(k);
  uint32_t serial = 0, started = 0;
  for (auto& t : slots) new_flow(t, r, serial++), started++;
  uint64_t ts = 1767225600ull * 1000000000ull;
  while (out.size() < a.packets) {
    uint32_t j = r.below(8) == 0 ? r.below(16) : r.below(k);  // a few heavy slots
    Template& t = slots[j];
    ts += r.below(4000);
    if (r.below(400000) == 0) ts += 50000000ull;  // a quiet spell: idle expiry everywhere
    PacketInfo p = t.base;
    bool rev = t.sent > 0 && r.below(3) == 0;
    if (p.proto == 6) {
      if (t.sent == 0) p.tcp_flags = 0x02;
      else if (t.ending == 1 && t.sent + 2 >= t.budget) p.tcp_flags = 0x11, rev = t.sent + 1 == t.budget;
      else if (t.ending == 2 && t.sent + 1 == t.budget) p.tcp_flags = 0x04;
      else p.tcp_flags = t.sent == 1 ? 0x12 : r.below(4) ? 0x10 : 0x18;
      if (t.sent == 1) rev = true;
    }
    if (rev) {
      std::swap_ranges(p.src, p.src + 16, p.dst);
      std::swap(p.sport, p.dport);
      std::swap_ranges(p.src_mac, p.src_mac + 6, p.dst_mac);
      std::swap_ranges(p.arp_spa, p.arp_spa + 4, p.arp_tpa);
    }
    p.ts_ns = ts;
    p.wire_len = 60 + r.below(1440);
    p.ip_len = p.wire_len - 14;
    p.l4_len = p.ip_len > 20 ? p.ip_len - 20 : 0;
    p.payload_len = p.l4_len > 20 ? p.l4_len - 20 : 0;
    if (p.kind == kKindIp && r.below(200) == 0) p.fragment = 1, p.frag_more = 1;
    if (p.kind == kKindIp && r.below(500) == 0) p.truncated = 1;
    if (p.kind == kKindIp && (p.proto == 6 || p.proto == 17) && !p.fragment && !p.truncated && p.payload_len) {
      const std::string& data = kPayloads[t.base.sport % (sizeof kPayloads / sizeof kPayloads[0])];
      p.payload = reinterpret_cast<const uint8_t*>(data.data());
      p.payload_cap = std::min<uint32_t>(p.payload_len, uint32_t(data.size()));
      p.tcp_seq = p.proto == 6 ? t.seq[rev] : 0;
      t.seq[rev] += r.below(50) == 0 ? 1 : p.payload_cap;  // now and then a gap
    }
    out.push_back(p);
    if (++t.sent >= t.budget) {
      if (started < a.flows) {
        PacketInfo old = t.base;
        new_flow(t, r, serial++);
        started++;
        if (r.below(8) == 0 && old.proto == t.base.proto && old.kind == kKindIp && t.base.kind == kKindIp) {
          t.base = old;  // the same 5-tuple again: port reuse (maybe inside the close timeout)
        }
      } else {
        t.sent = 0;  // no new flows left: keep this one going
      }
    }
  }
  return out;
}

bool from_capture(const Args& a, std::vector<PacketInfo>& out) {
  CaptureReader reader;
  if (!reader.open(a.pcap)) {
    std::fprintf(stderr, "stress_table: %s: %s\n", a.pcap.c_str(), reader.error().message.c_str());
    return false;
  }
  std::vector<PacketInfo> once;
  FragmentTable* frags = new FragmentTable();
  DecodeOptions dopt;
  RawPacket raw;
  uint64_t last = 0;
  while (reader.next(raw)) {
    PacketInfo p;
    std::memset(&p, 0, sizeof p);
    p.ts_ns = std::max(raw.ts_ns, last);
    last = p.ts_ns;
    p.wire_len = raw.wire_len;
    if (decode_packet(raw.data, raw.caplen, raw.linktype, dopt, *frags, p) == kKindSkip) continue;
    p.payload = nullptr;  // the reader's buffer moves on: these packets carry no payload
    p.payload_cap = 0;
    once.push_back(p);
  }
  delete frags;
  if (once.empty()) {
    std::fprintf(stderr, "stress_table: no decodable packets in %s\n", a.pcap.c_str());
    return false;
  }
  uint64_t span = once.back().ts_ns - once.front().ts_ns + 1000000000ull;
  for (int rep = 0; rep < a.repeat; rep++) {
    for (PacketInfo p : once) {
      p.ts_ns += uint64_t(rep) * span;
      p.src[3] ^= uint8_t(rep);  // each repetition its own flows
      p.dst[3] ^= uint8_t(rep * 7);
      out.push_back(p);
    }
  }
  return true;
}

// The writer that owns a flow: both directions give the same value.
uint32_t owner(const PacketInfo& p, int n) {
  const uint8_t* a = p.src;
  const uint8_t* b = p.dst;
  uint16_t pa = p.sport, pb = p.dport;
  int c = std::memcmp(a, b, 16);
  if (c > 0 || (c == 0 && pa > pb)) std::swap(a, b), std::swap(pa, pb);
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const uint8_t* d, size_t len) {
    for (size_t i = 0; i < len; i++) h = (h ^ d[i]) * 0x100000001b3ull;
  };
  mix(a, 16);
  mix(b, 16);
  uint8_t rest[8] = {uint8_t(pa), uint8_t(pa >> 8), uint8_t(pb), uint8_t(pb >> 8), p.proto, p.ip_version,
                     uint8_t(p.vlan), uint8_t(p.vlan >> 8)};
  mix(rest, sizeof rest);
  return uint32_t((h ^ (h >> 29)) % uint64_t(n));
}

// ---- the delivery queue (as CaptureJob's, with the JS thread's acks)

struct Event {
  enum Kind { kBatch, kSnapshot, kDone } kind = kDone;
  int writer = -1;
  uint8_t* data = nullptr;
  size_t records = 0;
  std::vector<uint8_t> bytes;  // snapshot
  uint32_t seq = 0;
  Event() = default;
  Event(Kind k, int w, uint8_t* d = nullptr, size_t n = 0) : kind(k), writer(w), data(d), records(n) {}
};

struct Shared {
  std::shared_ptr<BatchPool> pool;
  size_t batch_records;
  std::mutex m;
  std::condition_variable cv;
  std::deque<Event> q;
  int inflight = 0;
  static constexpr int kMaxInflight = 8;
  std::atomic<uint32_t> snapshot_seq{0};
  std::atomic<bool> done{false};
  // per writer: the last snapshot request answered, or UINT32_MAX once finished
  std::unique_ptr<std::atomic<uint32_t>[]> answered;

  void post(Event&& e, bool batch) {
    std::unique_lock<std::mutex> lock(m);
    if (batch) {
      cv.wait(lock, [this] { return inflight < kMaxInflight; });
      inflight++;
    }
    q.push_back(std::move(e));
    cv.notify_all();
  }
};

struct VecSink : RecordSink {
  std::vector<uint8_t> bytes;
  uint8_t* reserve() override {
    bytes.resize(bytes.size() + kRecordSize);
    return bytes.data() + bytes.size() - kRecordSize;
  }
};

struct Writer : RecordSink {
  Shared* sh = nullptr;
  int id = 0;
  const std::vector<PacketInfo>* packets = nullptr;
  std::vector<uint32_t> mine;
  uint8_t* cur = nullptr;
  size_t count = 0;
  uint64_t end_ns = 0;
  int n = 1;
  FlowCounters counters;
  uint64_t snapshots = 0;

  uint8_t* reserve() override {
    if (cur && count == sh->batch_records) deliver();
    if (!cur) {
      cur = sh->pool->acquire();
      count = 0;
    }
    uint8_t* r = cur + count * kRecordSize;
    std::memset(r, 0, kRecordSize);
    count++;
    return r;
  }
  void deliver() {
    Event e(Event::kBatch, id, cur, count);
    cur = nullptr;
    count = 0;
    sh->post(std::move(e), true);
  }
  void run() {
    FlowOptions fo = flow_options();
    fo.id_first = uint64_t(id) + 1;
    fo.id_step = uint64_t(n);
    FlowTable table(fo, *this);
    Rng r(uint64_t(id) + 77);
    // 0 is the value before any request: loading the counter here instead would
    // lose a request made while this thread was starting (see live.cc's run_live).
    uint32_t seen = 0;
    PacketInfo group[FlowTable::kGroup];
    size_t at = 0;
    uint64_t last = 0;
    while (at < mine.size()) {
      size_t g = 1 + r.below(FlowTable::kGroup);
      size_t k = 0;
      for (; k < g && at < mine.size(); k++, at++) group[k] = (*packets)[mine[at]];
      table.process(group, k);
      last = group[k - 1].ts_ns;
      if (r.below(16) == 0) table.advance(last);  // the live tick
      uint32_t seq = sh->snapshot_seq.load();
      if (seq != seen) {
        seen = seq;
        VecSink b;
        table.snapshot(b);
        Event e(Event::kSnapshot, id);
        e.bytes = std::move(b.bytes);
        e.seq = seq;
        sh->post(std::move(e), false);
        sh->answered[id].store(seq);
        snapshots++;
      }
    }
    table.advance(end_ns);  // every table ends at the capture's last packet time
    table.flush(kEndFlush);
    if (cur && count) deliver();
    sh->answered[id].store(UINT32_MAX);
    counters = table.counters();
    sh->post(Event(Event::kDone, id), false);
  }
};

uint64_t u64(const uint8_t* r, size_t off) {
  uint64_t v;
  std::memcpy(&v, r + off, 8);
  return v;
}

std::string describe(const std::string& rec) {
  const uint8_t* r = reinterpret_cast<const uint8_t*>(rec.data());
  char buf[256];
  uint16_t sp, dp;
  std::memcpy(&sp, r + off::kSrcPort, 2);
  std::memcpy(&dp, r + off::kDstPort, 2);
  std::snprintf(buf, sizeof buf, "v%u proto %u %u.%u.%u.%u:%u -> %u.%u.%u.%u:%u reason %u seg %u pkts %llu/%llu first %llu last %llu",
                r[off::kIpVersion], r[off::kProtocol], r[24], r[25], r[26], r[27], sp, r[40], r[41], r[42], r[43], dp,
                r[off::kEndReason], unsigned(r[off::kSegment] | r[off::kSegment + 1] << 8),
                (unsigned long long)u64(r, off::kFwdPackets), (unsigned long long)u64(r, off::kRevPackets),
                (unsigned long long)u64(r, off::kFirstNs), (unsigned long long)u64(r, off::kLastNs));
  return buf;
}

// Final records as strings with the flow id zeroed, sorted. One more allowance:
// the idle queue is re-checked lazily (an entry whose flow saw packets goes back
// to the tail, behind entries due later), so a flow whose idle timeout passed
// before the end may still be in the table at the final flush, depending on the
// other flows that share its table. Such a record (end reason flush, idle since
// before end_ns) is counted as idle; `relabelled` counts them.
std::vector<std::string> normalized(const std::vector<uint8_t>& bytes, uint64_t end_ns, uint64_t idle_ns, uint64_t& relabelled) {
  std::vector<std::string> v;
  v.reserve(bytes.size() / kRecordSize);
  relabelled = 0;
  for (size_t i = 0; i < bytes.size(); i += kRecordSize) {
    std::string s(reinterpret_cast<const char*>(bytes.data() + i), kRecordSize);
    std::memset(&s[off::kFlowId], 0, 8);
    const uint8_t* r = bytes.data() + i;
    if (r[off::kEndReason] == kEndFlush && u64(r, off::kLastNs) + idle_ns <= end_ns) {
      s[off::kEndReason] = char(kEndIdle);
      relabelled++;
    }
    v.push_back(std::move(s));
  }
  std::sort(v.begin(), v.end());
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; i++) {
    std::string k = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (k == "--threads") a.threads = std::atoi(v);
    else if (k == "--packets") a.packets = std::strtoull(v, nullptr, 10);
    else if (k == "--flows") a.flows = uint32_t(std::strtoul(v, nullptr, 10));
    else if (k == "--seed") a.seed = std::strtoull(v, nullptr, 10);
    else if (k == "--snapshot-us") a.snapshot_us = std::atoi(v);
    else if (k == "--batch") a.batch = size_t(std::strtoul(v, nullptr, 10));
    else if (k == "--pcap") a.pcap = v;
    else if (k == "--repeat") a.repeat = std::atoi(v);
    else if (k == "--drop-one") a.drop_one = std::atoi(v) != 0;
    else return false;
  }
  return a.threads >= 1 && a.threads <= 64 && a.packets > 0 && a.flows > 0 && a.batch > 0 && a.repeat >= 1 &&
         a.snapshot_us > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::fprintf(stderr,
                 "usage: stress_table [--threads 4] [--packets 2000000] [--flows 40000] [--seed 1] "
                 "[--snapshot-us 2000] [--batch 512] [--pcap FILE [--repeat R]] [--drop-one 1]\n");
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<PacketInfo> packets;
  if (!a.pcap.empty()) {
    if (!from_capture(a, packets)) return 2;
  } else {
    packets = synthesize(a);
  }
  const uint64_t end_ns = packets.back().ts_ns;
  double t_gen = seconds_since(t0);

  // single-threaded reference, in fixed groups
  auto t1 = std::chrono::steady_clock::now();
  VecSink ref_sink;
  FlowCounters ref_counters;
  {
    FlowTable table(flow_options(), ref_sink);
    PacketInfo group[FlowTable::kGroup];
    for (size_t at = 0; at < packets.size();) {
      size_t k = 0;
      for (; k < FlowTable::kGroup && at < packets.size(); k++, at++) group[k] = packets[at];
      table.process(group, k);
    }
    table.advance(end_ns);
    table.flush(kEndFlush);
    ref_counters = table.counters();
  }
  double t_ref = seconds_since(t1);

  // N writers, the snapshot requester, this thread as the consumer
  auto t2 = std::chrono::steady_clock::now();
  Shared sh;
  sh.batch_records = a.batch;
  sh.pool = std::make_shared<BatchPool>(a.batch);
  sh.answered.reset(new std::atomic<uint32_t>[a.threads]);
  for (int i = 0; i < a.threads; i++) sh.answered[i].store(0);
  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < a.threads; i++) {
    auto w = std::make_unique<Writer>();
    w->sh = &sh;
    w->id = i;
    w->n = a.threads;
    w->packets = &packets;
    w->end_ns = end_ns;
    writers.push_back(std::move(w));
  }
  for (uint32_t i = 0; i < packets.size(); i++) writers[owner(packets[i], a.threads)]->mine.push_back(i);
  if (a.drop_one && writers[0]->mine.size() > 1) writers[0]->mine.erase(writers[0]->mine.begin() + writers[0]->mine.size() / 2);
  std::vector<std::thread> threads;
  for (auto& w : writers) threads.emplace_back([&w] { w->run(); });
  uint64_t requests = 0;
  std::atomic<int> unanswered{0};
  // Like activeFlows() from JS: a request, its answers from every writer, a pause.
  std::thread requester([&] {
    while (!sh.done.load()) {
      std::this_thread::sleep_for(std::chrono::microseconds(a.snapshot_us));
      uint32_t seq = sh.snapshot_seq.fetch_add(1) + 1;
      requests++;
      auto asked = std::chrono::steady_clock::now();
      for (int i = 0; i < a.threads && !sh.done.load(); i++) {
        uint32_t v;
        while ((v = sh.answered[i].load()) != UINT32_MAX && v < seq && !sh.done.load()) {
          if (seconds_since(asked) > 10) {  // a lost request: the writer never noticed it
            if (unanswered.fetch_add(1) < 5) std::fprintf(stderr, "snapshot request %u not answered by writer %d within 10 s\n", seq, i);
            break;
          }
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
      }
    }
  });

  std::vector<uint8_t> got;
  uint64_t snapshot_parts = 0, snapshot_records = 0, batches = 0;
  int failures = 0;
  int done = 0;
  while (done < a.threads) {
    Event e;
    {
      std::unique_lock<std::mutex> lock(sh.m);
      sh.cv.wait(lock, [&] { return !sh.q.empty(); });
      e = std::move(sh.q.front());
      sh.q.pop_front();
    }
    switch (e.kind) {
      case Event::kBatch:
        got.insert(got.end(), e.data, e.data + e.records * kRecordSize);
        sh.pool->release(e.data);
        batches++;
        {
          std::lock_guard<std::mutex> lock(sh.m);
          sh.inflight--;  // the ack
        }
        sh.cv.notify_all();
        break;
      case Event::kSnapshot:
        snapshot_parts++;
        for (size_t i = 0; i < e.bytes.size(); i += kRecordSize) {
          const uint8_t* r = e.bytes.data() + i;
          snapshot_records++;
          if (r[off::kEndReason] != 0 || u64(r, off::kFwdPackets) + u64(r, off::kRevPackets) == 0 ||
              u64(r, off::kFlowId) % uint64_t(a.threads) != uint64_t(e.writer + 1) % uint64_t(a.threads)) {
            if (failures++ < 5) std::fprintf(stderr, "bad snapshot record from writer %d: %s\n", e.writer, describe(std::string(reinterpret_cast<const char*>(r), kRecordSize)).c_str());
          }
        }
        break;
      case Event::kDone:
        done++;
        break;
    }
  }
  for (auto& t : threads) t.join();
  sh.done = true;
  requester.join();
  double t_mt = seconds_since(t2);

  // compare
  const uint64_t idle_ns = flow_options().idle_ns;
  uint64_t relabel_ref = 0, relabel_mt = 0;
  std::vector<std::string> want = normalized(ref_sink.bytes, end_ns, idle_ns, relabel_ref);
  std::vector<std::string> have = normalized(got, end_ns, idle_ns, relabel_mt);
  if (want != have) {
    std::vector<std::string> only_ref, only_mt;
    std::set_difference(want.begin(), want.end(), have.begin(), have.end(), std::back_inserter(only_ref));
    std::set_difference(have.begin(), have.end(), want.begin(), want.end(), std::back_inserter(only_mt));
    std::fprintf(stderr, "DIFFERENCE: single-threaded %zu records, %d threads %zu; only single-threaded %zu, only threaded %zu\n",
                 want.size(), a.threads, have.size(), only_ref.size(), only_mt.size());
    for (size_t i = 0; i < only_ref.size() && i < 5; i++) std::fprintf(stderr, "  only single: %s\n", describe(only_ref[i]).c_str());
    for (size_t i = 0; i < only_mt.size() && i < 5; i++) std::fprintf(stderr, "  only threaded: %s\n", describe(only_mt[i]).c_str());
    failures++;
  }
  std::set<std::pair<uint64_t, uint16_t>> ids;
  for (size_t i = 0; i < got.size(); i += kRecordSize) {
    uint16_t seg;
    std::memcpy(&seg, &got[i + off::kSegment], 2);
    if (!ids.insert({u64(&got[i], off::kFlowId), seg}).second) {
      if (failures++ < 5) std::fprintf(stderr, "duplicate (flow id, segment) (%llu, %u)\n", (unsigned long long)u64(&got[i], off::kFlowId), seg);
    }
  }
  FlowCounters sum;
  for (auto& w : writers) {
    sum.flows_created += w->counters.flows_created;
    for (int i = 0; i < 6; i++) sum.flows_by_reason[i] += w->counters.flows_by_reason[i];
  }
  if (sum.flows_created != ref_counters.flows_created) {
    std::fprintf(stderr, "flows created: single-threaded %llu, threaded %llu\n", (unsigned long long)ref_counters.flows_created,
                 (unsigned long long)sum.flows_created);
    failures++;
  }
  if (ref_counters.flows_by_reason[kEndEvicted] || sum.flows_by_reason[kEndEvicted]) {
    std::fprintf(stderr, "evictions happened (maxFlows too small for the workload): the comparison is not meaningful\n");
    failures++;
  }
  if (unanswered.load()) failures++;
  uint64_t writer_snapshots = 0;
  for (auto& w : writers) writer_snapshots += w->snapshots;
  if (writer_snapshots != snapshot_parts) failures++;

  std::printf("stress_table: %s threads=%d packets=%zu records=%zu (idle %llu, active %llu, tcp %llu, flush %llu) "
              "batches=%llu snapshot_requests=%llu snapshot_parts=%llu snapshot_records=%llu "
              "idle_at_end_relabelled=%llu/%llu time: generate %.2fs single %.2fs threaded %.2fs\n",
              failures ? "FAIL" : "OK", a.threads, packets.size(), have.size(),
              (unsigned long long)ref_counters.flows_by_reason[kEndIdle], (unsigned long long)ref_counters.flows_by_reason[kEndActive],
              (unsigned long long)ref_counters.flows_by_reason[kEndTcp], (unsigned long long)ref_counters.flows_by_reason[kEndFlush],
              (unsigned long long)batches, (unsigned long long)requests, (unsigned long long)snapshot_parts,
              (unsigned long long)snapshot_records, (unsigned long long)relabel_ref, (unsigned long long)relabel_mt, t_gen, t_ref, t_mt);
  return failures ? 1 : 0;
}
