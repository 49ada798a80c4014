// One offline run: capture file -> filter -> decode -> flow table -> records.
// Pure C++ (no Node-API), so benchmarks and fuzzers drive it directly.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "decode.h"
#include "flow_table.h"
#include "reader.h"

namespace flowmaster {

struct RunOptions {
  FlowOptions flow;
  DecodeOptions decode;
  std::string filter;  // BPF expression, empty for none
};

struct RunStats {
  uint64_t packets = 0;       // records read from the file
  uint64_t bytes = 0;         // their original (wire) lengths
  uint64_t filtered = 0;      // dropped by the BPF filter
  uint64_t skipped = 0;       // not accounted to any flow (undecodable, or L2 with l2Flows off)
  uint64_t decode_errors[kDecodeErrorCount] = {};
  uint64_t first_ns = 0, last_ns = 0;
  uint64_t bytes_read = 0, file_size = 0;
  FlowCounters flows;
  // Read by other threads while the run goes on (progress bars, live
  // metrics): the counters above as of the last packet group. Relaxed
  // stores, a few per group of 32 packets; the summary is the exact end.
  std::atomic<uint64_t> progress_bytes{0}, progress_packets{0};
  std::atomic<uint64_t> progress_wire_bytes{0}, progress_filtered{0}, progress_skipped{0};
  std::atomic<uint64_t> progress_decode_errors[kDecodeErrorCount] = {};
  std::atomic<uint64_t> progress_flows[6] = {};  // flows_by_reason
};

// Reads the whole file (or until `cancel`), flushing every flow at the end,
// also after a read error (then `error` is set: the records before it stand).
void run_offline(const std::string& path, const RunOptions& opt, RecordSink& sink,
                 const std::atomic<bool>& cancel, RunStats& stats, ReadError& error);

}  // namespace flowmaster
