// libFuzzer harness: a whole offline run on the input as a capture file.
//
// Input: the bytes of a pcap or pcapng file. They go to a memfd, read back by
// run_offline("/proc/self/fd/N") like any file: the addon's own pcap/pcapng
// reader, the BPF filter (libpcap), the decoder, the flow table, expiry and the
// final flush. The options come from a hash of the input, so a crash reproduces
// from its file alone: about one input in four runs with the filter
// "tcp or udp", and maxFlows, timeouts, accounting, statistics, keyVlan,
// tcpTermination, decodeTunnels, l2Flows and splt vary.
//
// Checked after every run (abort = a fuzzer crash): every record well formed,
// records per end reason as counted, and — when reading ended without a filter
// error — every accounted packet in exactly one record.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flow_record.h"
#include "offline.h"

using namespace flowmaster;

namespace {

struct Sink : RecordSink {
  std::vector<uint8_t> bytes;
  uint8_t* reserve() override {
    bytes.resize(bytes.size() + kRecordSize);  // zero-filled, as the addon's sinks hand them out
    return bytes.data() + bytes.size() - kRecordSize;
  }
};

uint64_t u64(const uint8_t* r, size_t off) {
  uint64_t v;
  std::memcpy(&v, r + off, 8);
  return v;
}

[[noreturn]] void fail(const char* what, uint64_t a, uint64_t b) {
  std::fprintf(stderr, "fuzz_capture: invariant violated: %s (%llu vs %llu)\n", what, (unsigned long long)a,
               (unsigned long long)b);
  std::abort();
}

int g_fd = -1;
std::string g_path;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_fd < 0) {
    g_fd = ::memfd_create("fuzz_capture", 0);
    if (g_fd < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    g_path = "/proc/self/fd/" + std::to_string(g_fd);
  }
  if (::ftruncate(g_fd, 0) != 0) std::abort();
  for (size_t done = 0; done < size;) {
    ssize_t w = ::pwrite(g_fd, data + done, size - done, off_t(done));
    if (w <= 0) std::abort();
    done += size_t(w);
  }

  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the input
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 0x100000001b3ull;
  h ^= h >> 31;

  RunOptions opt;
  if (h % 4 == 0) opt.filter = "tcp or udp";
  static const uint32_t kMaxFlows[] = {1, 8, 256, 4096};
  static const uint64_t kIdle[] = {0, 1000000ull, 1000000000ull, 120000000000ull, UINT64_MAX};
  static const uint64_t kActive[] = {500000ull, 100000000ull, 1800000000000ull, UINT64_MAX};
  static const uint64_t kClose[] = {0, 1000ull, 5000000000ull};
  opt.flow.max_flows = kMaxFlows[(h >> 2) & 3];
  opt.flow.idle_ns = kIdle[(h >> 4) % 5];
  opt.flow.active_ns = kActive[(h >> 8) & 3];
  opt.flow.close_ns = kClose[(h >> 10) % 3];
  opt.flow.accounting = uint8_t((h >> 12) & 3);
  opt.flow.statistics = (h >> 14) & 1;
  opt.flow.key_vlan = (h >> 15) & 1;
  opt.flow.tcp_termination = ((h >> 16) & 3) != 0;
  opt.decode.decode_tunnels = ((h >> 18) & 3) != 0;
  opt.decode.l2_flows = ((h >> 20) & 3) != 0;
  opt.flow.dissect = ((h >> 22) & 3) != 0;  // payloads read in the reader's buffer (offline.cc's group cut)
  opt.flow.dissect_bytes = 64 + (h >> 24) % 4033;
  opt.flow.splt = uint8_t((h >> 36) % 34);

  Sink sink;
  std::atomic<bool> cancel{false};
  RunStats stats;
  ReadError error;
  run_offline(g_path, opt, sink, cancel, stats, error);

  size_t n = sink.bytes.size() / kRecordSize;
  uint64_t by_reason = 0;
  for (uint64_t x : stats.flows.flows_by_reason) by_reason += x;
  if (by_reason != n) fail("flows_by_reason != records", by_reason, n);
  uint64_t in_records = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t* r = sink.bytes.data() + i * kRecordSize;
    uint8_t reason = r[off::kEndReason];
    if (reason < kEndIdle || reason > kEndEvicted) fail("end reason", reason, i);
    uint64_t pk = u64(r, off::kFwdPackets) + u64(r, off::kRevPackets);
    if (pk == 0) fail("record without packets", 0, i);
    if (u64(r, off::kFirstNs) > u64(r, off::kLastNs)) fail("first_ns > last_ns", u64(r, off::kFirstNs), u64(r, off::kLastNs));
    if (r[off::kIpVersion] != 0 && r[off::kIpVersion] != 4 && r[off::kIpVersion] != 6) fail("ip version", r[off::kIpVersion], i);
    in_records += pk;
  }
  if (error.code != "ERR_BPF") {
    uint64_t accounted = stats.packets - stats.filtered - stats.skipped;
    if (in_records != accounted) fail("packets in records != packets - filtered - skipped", in_records, accounted);
  }
  uint64_t errors = 0;
  for (uint64_t x : stats.decode_errors) errors += x;
  if (stats.decode_errors[kErrNone] != 0) fail("decode error 'none' counted", stats.decode_errors[kErrNone], 0);
  if (errors > stats.packets) fail("more decode errors than packets", errors, stats.packets);
  if (stats.packets && stats.first_ns > stats.last_ns) fail("first_ns > last_ns (run)", stats.first_ns, stats.last_ns);
  return 0;
}
