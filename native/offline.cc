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
  bool more = true;
  while (more && !cancel.load(std::memory_order_relaxed)) {
    size_t n = 0;
    while (n < FlowTable::kGroup) {
      if (!reader.next(raw)) {
        more = false;
        break;
      }
      stats.packets++;
      stats.bytes += raw.wire_len;
      if (stats.first_ns == 0 || raw.ts_ns < stats.first_ns) stats.first_ns = raw.ts_ns;
      if (raw.ts_ns > stats.last_ns) stats.last_ns = raw.ts_ns;
      if (!filter.empty()) {
        std::string msg;
        if (!filter.prepare(raw.linktype, msg)) {
          error.code = "ERR_BPF";
          error.message = msg + " (" + path + ")";
          more = false;
          break;
        }
        if (!filter.matches(raw.linktype, raw.data, raw.caplen, raw.wire_len)) {
          stats.filtered++;
          continue;
        }
      }
      PacketInfo& p = group[n];
      p.ts_ns = raw.ts_ns;
      p.wire_len = raw.wire_len;
      PacketKind k = decode_packet(raw.data, raw.caplen, raw.linktype, opt.decode, *frags, p);
      if (p.error) stats.decode_errors[p.error]++;
      if (k == kKindSkip) {
        stats.skipped++;
        continue;
      }
      n++;
    }
    if (n) table.process(group, n);
  }
  delete frags;
  if (!error && reader.error()) error = reader.error();
  if (!cancel.load()) table.flush(kEndFlush);
  stats.flows = table.counters();
  stats.bytes_read = reader.bytes_read();
  stats.file_size = reader.file_size();
}

}  // namespace flowmaster
