// libFuzzer harness: the packet decoder, then the flow table and its expiry.
//
// Input: 2 selector bytes + one packet (the captured bytes).
//   byte 0: link type, kLinkTypes[byte0 % kLinkTypeCount] (the last one is unsupported)
//   byte 1: bit 0 set = decodeTunnels off, bit 1 set = l2Flows off,
//           bits 2..7 = the frame's original length beyond the captured bytes (x 97)
// test/differential.test.ts reads this corpus with the same layout (keep them in step).
//
// Per input, twice (PacketInfo pre-filled with 0x00, then 0xA5; a fresh
// FragmentTable and FlowTable each time):
//   decode the packet twice (the second time a later fragment may find the first),
//   then feed the decoded packet, its reverse, copies with other ports (more flows
//   than maxFlows: eviction) and later copies (idle, active and TCP-close expiry)
//   to a small FlowTable (application dissection on for most inputs); snapshot,
//   advance, flush.
// The two passes must emit the same records byte for byte: a difference means the
// decoder left a field unset that the table reads (the offline reader reuses its
// PacketInfo array, so stale values would leak into records). Every record is
// also checked for the table's invariants. Any violation aborts (a fuzzer crash).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "decode.h"
#include "flow_record.h"
#include "flow_table.h"

using namespace flowmaster;

namespace {

constexpr uint32_t kLinkTypes[] = {1, 0, 108, 101, 12, 14, 113, 276, 228, 229, 147};
constexpr size_t kLinkTypeCount = sizeof kLinkTypes / sizeof kLinkTypes[0];

struct Sink : RecordSink {
  std::vector<uint8_t> bytes;
  uint8_t* reserve() override {
    bytes.resize(bytes.size() + kRecordSize);  // zero-filled
    return bytes.data() + bytes.size() - kRecordSize;
  }
};

uint64_t u64(const uint8_t* r, size_t off) {
  uint64_t v;
  std::memcpy(&v, r + off, 8);
  return v;
}

[[noreturn]] void fail(const char* what, size_t rec) {
  std::fprintf(stderr, "fuzz_decode: invariant violated: %s (record %zu)\n", what, rec);
  std::abort();
}

uint32_t u32(const uint8_t* r, size_t off) {
  uint32_t v;
  std::memcpy(&v, r + off, 4);
  return v;
}

bool zero(const uint8_t* r, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    if (r[i]) return false;
  return true;
}

// The details area (docs/fields.md): what is off stays zero, counts stay in range.
void check_details(const uint8_t* r, const FlowOptions& fo, size_t i) {
  uint64_t fwd = u64(r, off::kFwdPackets), rev = u64(r, off::kRevPackets);
  if (!zero(r, off::kDetailsEnd, kRecordSize)) fail("reserved bytes set", i);
  if (r[off::kTunnelType] > kTunnelErspan) fail("tunnel type", i);
  if (r[off::kTunnelType] == kTunnelNone && u32(r, off::kTunnelId)) fail("tunnel id without a tunnel", i);
  if (r[off::kConnState] > kConnOTH) fail("conn_state", i);
  bool l2 = r[off::kIpVersion] == 0;
  if (l2 && !zero(r, off::kConnState, off::kConnState + 1)) fail("conn_state of a layer-2 flow", i);
  if (l2 && !zero(r, off::kHistory, off::kHistory + off::kHistorySize)) fail("history of a layer-2 flow", i);
  if (!fo.statistics && !zero(r, off::kFwdFlagCounts, off::kBiStats + off::kStatBlockSize)) fail("statistics off, set", i);
  for (int f = 0; f < 8; f++)
    if (u32(r, off::kFwdFlagCounts + 4 * f) > fwd || u32(r, off::kRevFlagCounts + 4 * f) > rev) fail("flag count > packets", i);
  if (fo.statistics && u32(r, off::kBiStats + off::kStatSizeMin) > u32(r, off::kBiStats + off::kStatSizeMax)) fail("bi size range", i);
  uint32_t n = r[off::kSpltCount];
  if (n > (fo.splt < off::kSpltMax ? fo.splt : off::kSpltMax)) fail("SPLT count > splt", i);
  if (n < 32 && (u32(r, off::kSpltDirections) >> n)) fail("SPLT direction past the count", i);
  if (!zero(r, off::kSpltSizes + 2 * n, off::kSpltIats) || !zero(r, off::kSpltIats + 4 * n, off::kDetailsEnd)) fail("SPLT past the count", i);
}

void check_records(const std::vector<uint8_t>& b, bool snapshot, const FlowOptions& fo) {
  for (size_t i = 0; i * kRecordSize < b.size(); i++) {
    const uint8_t* r = b.data() + i * kRecordSize;
    check_details(r, fo, i);
    uint8_t reason = r[off::kEndReason];
    if (snapshot ? reason != 0 : (reason < kEndIdle || reason > kEndEvicted)) fail("end reason", i);
    if (u64(r, off::kFwdPackets) + u64(r, off::kRevPackets) == 0) fail("record without packets", i);
    if (u64(r, off::kFirstNs) > u64(r, off::kLastNs)) fail("first_ns > last_ns", i);
    if (u64(r, off::kFlowId) == 0) fail("flow id 0", i);
    bool l2 = r[off::kIpVersion] == 0;
    if (l2 ? r[off::kMinTtl] || r[off::kMaxTtl] : r[off::kMinTtl] > r[off::kMaxTtl]) fail("TTL range", i);
  }
}

void reverse(PacketInfo& p) {
  uint8_t t[16];
  std::memcpy(t, p.src, 16);
  std::memcpy(p.src, p.dst, 16);
  std::memcpy(p.dst, t, 16);
  std::swap(p.sport, p.dport);
  uint8_t m[6];
  std::memcpy(m, p.src_mac, 6);
  std::memcpy(p.src_mac, p.dst_mac, 6);
  std::memcpy(p.dst_mac, m, 6);
}

// One pass; returns the records (flush and expiry) followed by the snapshot's.
std::vector<uint8_t> run(const uint8_t* pkt, uint32_t caplen, uint32_t wire_len, uint32_t linktype,
                         const DecodeOptions& dopt, uint8_t fill) {
  // One allocation for the whole run, reset in place per pass (a fresh 196 KB
  // allocation per pass costs more page faults than the rest of the input).
  static FragmentTable* storage = static_cast<FragmentTable*>(::operator new(sizeof(FragmentTable)));
  FragmentTable* frags = new (storage) FragmentTable();
  PacketInfo d[2];
  PacketKind kinds[2];
  for (int i = 0; i < 2; i++) {
    std::memset(&d[i], fill, sizeof d[i]);
    d[i].ts_ns = 1000;
    d[i].wire_len = wire_len;
    kinds[i] = decode_packet(pkt, caplen, linktype, dopt, *frags, d[i]);
    if (d[i].kind != kinds[i]) fail("kind field != returned kind", 0);
    if (d[i].error >= kDecodeErrorCount) fail("decode error out of range", 0);
    if (kinds[i] != kKindSkip && d[i].ip_version != 0 && d[i].ip_version != 4 && d[i].ip_version != 6) fail("ip version", 0);
  }

  Sink sink, snap;
  FlowOptions fo;
  fo.max_flows = 4;
  fo.idle_ns = 1000;
  fo.active_ns = 4000;
  fo.close_ns = 50;
  fo.statistics = (caplen & 1) != 0;
  fo.accounting = uint8_t((caplen >> 1) & 3);
  fo.key_vlan = (caplen & 8) == 0;
  fo.tcp_termination = (caplen & 16) == 0;
  fo.dissect = (caplen & 32) == 0;  // application dissection of the payloads (native/app/, fuzz_app.cc goes deeper)
  fo.dissect_bytes = 64 + (caplen * 97) % 2048;
  fo.splt = uint8_t((caplen >> 6) % 40);  // past 32: clamped by the table
  fo.id_first = 7;
  fo.id_step = 3;
  {
    FlowTable table(fo, sink);
    std::vector<PacketInfo> seq;
    auto add = [&](PacketInfo p, uint64_t ts) {
      p.ts_ns = ts;
      seq.push_back(p);
    };
    for (int i = 0; i < 2; i++) {
      if (kinds[i] == kKindSkip) continue;
      PacketInfo p = d[i];
      PacketInfo r = d[i];
      reverse(r);
      add(p, 1000 + i);
      add(r, 1010 + i);
      add(p, 1500);
      for (uint16_t k = 1; k <= 6; k++) {  // more flows than maxFlows
        PacketInfo q = p;
        q.sport = uint16_t(q.sport + k);
        q.vlan = uint16_t(q.vlan ^ (k & 1));
        add(q, 1600 + k);
      }
      add(r, 2000);
      add(p, 4800);  // active timeout of a surviving flow, or idle
      add(p, 4800);
      add(r, 9000);  // idle
      add(p, 8999);  // time going backwards
    }
    size_t at = 0, g = 1;
    while (at < seq.size()) {
      size_t n = std::min(g, seq.size() - at);
      table.process(seq.data() + at, n);
      at += n;
      g = g % FlowTable::kGroup + 3;
      if (at == 9) table.snapshot(snap);
    }
    table.snapshot(snap);
    table.advance(9500);
    table.advance(UINT64_MAX - 1);
    if (!seq.empty()) {
      PacketInfo p = seq[0];
      p.ts_ns = UINT64_MAX;
      table.process(&p, 1);
    }
    table.flush(kEndFlush);
    if (table.active() != 0) fail("flows left after flush", 0);
    const FlowCounters& c = table.counters();
    uint64_t emitted = 0;
    for (uint64_t x : c.flows_by_reason) emitted += x;
    if (emitted * kRecordSize != sink.bytes.size()) fail("flows_by_reason != records emitted", 0);
    uint64_t packets = 0;
    for (size_t i = 0; i * kRecordSize < sink.bytes.size(); i++)
      packets += u64(sink.bytes.data() + i * kRecordSize, off::kFwdPackets) + u64(sink.bytes.data() + i * kRecordSize, off::kRevPackets);
    if (packets != seq.size() + (seq.empty() ? 0 : 1)) fail("packets in records != packets accounted", 0);
  }
  check_records(sink.bytes, false, fo);
  check_records(snap.bytes, true, fo);
  // the decoded fields themselves, where the table does not look: kind, error, flags
  std::vector<uint8_t> out = std::move(sink.bytes);
  out.insert(out.end(), snap.bytes.begin(), snap.bytes.end());
  for (int i = 0; i < 2; i++) {
    out.push_back(d[i].kind);
    out.push_back(d[i].error);
    if (kinds[i] == kKindSkip) continue;
    out.push_back(d[i].fragment);
    out.push_back(d[i].tunnel);
    out.push_back(d[i].truncated);
    out.push_back(d[i].has_mac);
    out.push_back(d[i].has_arp);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint32_t linktype = kLinkTypes[data[0] % kLinkTypeCount];
  DecodeOptions dopt;
  dopt.decode_tunnels = (data[1] & 1) == 0;
  dopt.l2_flows = (data[1] & 2) == 0;
  const uint8_t* pkt_in = data + 2;
  uint32_t caplen = uint32_t(size - 2);
  uint32_t wire_len = caplen + uint32_t(data[1] >> 2) * 97;
  // An exact-size heap copy, so ASan sees any read past the captured bytes.
  uint8_t* pkt = static_cast<uint8_t*>(std::malloc(caplen ? caplen : 1));
  if (caplen) std::memcpy(pkt, pkt_in, caplen);
  std::vector<uint8_t> a = run(pkt, caplen, wire_len, linktype, dopt, 0x00);
  std::vector<uint8_t> b = run(pkt, caplen, wire_len, linktype, dopt, 0xA5);
  std::free(pkt);
  if (a != b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) i++;
    std::fprintf(stderr,
                 "fuzz_decode: output depends on PacketInfo's prior contents (a field the decoder left unset): "
                 "first difference at byte %zu (record %zu, offset %zu) of %zu/%zu\n",
                 i, i / kRecordSize, i % kRecordSize, a.size(), b.size());
    std::abort();
  }
  return 0;
}
