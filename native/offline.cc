#include "offline.h"

#include "filter.h"

namespace flowmaster {

void run_offline(const std::string& path, const RunOptions& opt, RecordSink& sink,
                 const std::atomic<bool>& cancel, RunStats& stats, ReadError& error) {
  CaptureReader reader;
  if (!reader.open(path)) {
    error = reader.error();
    return;
  }
  PacketFilter filter(opt.filter);
  FlowTable table(opt.flow, sink);
  FragmentTable* frags = new FragmentTable();
  PacketInfo group[FlowTable::kGroup];
  RawPacket raw;
  // Per-packet counters in locals (registers), written back at the end.
  uint64_t packets = 0, bytes = 0, filtered = 0, skipped = 0;
  uint64_t first_ns = UINT64_MAX, last_ns = 0;
  bool more = true;
  while (more && !cancel.load(std::memory_order_relaxed)) {
    size_t n = 0;
    while (n < FlowTable::kGroup) {
      // Dissection reads payloads where they lie: the group goes to the
      // table before a refill moves the buffer under it (once per chunk).
      if (n && opt.flow.dissect && !reader.next_in_buffer()) break;
      if (!reader.next(raw)) {
        more = false;
        break;
      }
      packets++;
      bytes += raw.wire_len;
      if (raw.ts_ns < first_ns) first_ns = raw.ts_ns;
      if (raw.ts_ns > last_ns) last_ns = raw.ts_ns;
      if (!filter.empty()) {
        std::string msg;
        if (!filter.prepare(raw.linktype, msg)) {
          error.code = "ERR_BPF";
          error.message = msg + " (" + path + ")";
          more = false;
          break;
        }
        if (!filter.matches(raw.linktype, raw.data, raw.caplen, raw.wire_len)) {
          filtered++;
          continue;
        }
      }
      PacketInfo& p = group[n];
      p.ts_ns = raw.ts_ns;
      p.wire_len = raw.wire_len;
      PacketKind k = decode_packet(raw.data, raw.caplen, raw.linktype, opt.decode, *frags, p);
      if (p.error) stats.decode_errors[p.error]++;
      if (k == kKindSkip) {
        skipped++;
        continue;
      }
      n++;
    }
    // before process(): a slow consumer may hold the reader inside it, and
    // what was read up to there should show
    stats.progress_bytes.store(reader.bytes_read(), std::memory_order_relaxed);
    stats.progress_packets.store(packets, std::memory_order_relaxed);
    stats.progress_wire_bytes.store(bytes, std::memory_order_relaxed);
    stats.progress_filtered.store(filtered, std::memory_order_relaxed);
    stats.progress_skipped.store(skipped, std::memory_order_relaxed);
    for (int i = 0; i < kDecodeErrorCount; i++) stats.progress_decode_errors[i].store(stats.decode_errors[i], std::memory_order_relaxed);
    if (n) table.process(group, n);
    const FlowCounters& fc = table.counters();
    for (int i = 0; i < 6; i++) stats.progress_flows[i].store(fc.flows_by_reason[i], std::memory_order_relaxed);
  }
  stats.packets = packets;
  stats.bytes = bytes;
  stats.filtered = filtered;
  stats.skipped = skipped;
  stats.first_ns = packets ? first_ns : 0;
  stats.last_ns = last_ns;
  delete frags;
  if (!error && reader.error()) error = reader.error();
  if (!cancel.load()) table.flush(kEndFlush);
  stats.flows = table.counters();
  stats.bytes_read = reader.bytes_read();
  stats.file_size = reader.file_size();
}

}  // namespace flowmaster
