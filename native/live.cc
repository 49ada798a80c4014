#include "live.h"

#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flowmaster {

LiveHandle::~LiveHandle() {
  if (pcap) api->close(pcap);
  if (wake_fd >= 0) ::close(wake_fd);
}

void LiveHandle::wake() {
  uint64_t one = 1;
  if (wake_fd >= 0) (void)!::write(wake_fd, &one, sizeof one);
}

namespace {

constexpr const char* kPermissionHint =
    "capturing needs root, or the capabilities CAP_NET_RAW and CAP_NET_ADMIN on the node binary "
    "(sudo setcap cap_net_raw,cap_net_admin=eip \"$(readlink -f \"$(command -v node)\")\")";

// pcap_datalink gives DLT_ values; the decoder takes LINKTYPE_ values. They
// differ only for raw IP among the link types we decode.
uint32_t dlt_to_linktype(int dlt) {
  return dlt == lpcap::kDltRaw ? 101u : uint32_t(dlt);
}

uint64_t wall_ns() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
}

bool interface_up(const std::string& iface, bool& up) {
  int s = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) return false;
  ifreq r{};
  std::strncpy(r.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  bool ok = ::ioctl(s, SIOCGIFFLAGS, &r) == 0;
  ::close(s);
  if (ok) up = (r.ifr_flags & IFF_UP) != 0;
  return ok;
}

bool fail(ReadError& error, const char* code, const std::string& message) {
  error.code = code;
  error.message = message;
  return false;
}

bool open_one(const std::string& iface, const LiveOptions& opt, int fanout_id, LiveHandle& h, ReadError& error) {
  std::string missing;
  h.api = lpcap::api(missing);
  if (!h.api) return fail(error, "ERR_LIBPCAP_MISSING", missing);
  char errbuf[lpcap::kErrbufSize] = "";
  h.iface = iface;
  h.pcap = h.api->create(iface.c_str(), errbuf);
  if (!h.pcap) return fail(error, "ERR_CAPTURE", "cannot capture on " + iface + ": " + errbuf);
  h.api->set_snaplen(h.pcap, opt.snaplen);
  h.api->set_promisc(h.pcap, opt.promisc ? 1 : 0);
  h.api->set_timeout(h.pcap, opt.timeout_ms);
  if (opt.buffer_bytes > 0) h.api->set_buffer_size(h.pcap, opt.buffer_bytes);
  if (opt.immediate) h.api->set_immediate_mode(h.pcap, 1);
  h.api->set_tstamp_precision(h.pcap, lpcap::kTstampNano);  // falls back to µs where unsupported
  int rc = h.api->activate(h.pcap);
  if (rc < 0) {
    std::string why = rc == lpcap::kError ? h.api->geterr(h.pcap) : h.api->statustostr(rc);
    switch (rc) {
      case lpcap::kErrorNoSuchDevice:
        return fail(error, "ERR_NO_INTERFACE", "no such interface: " + iface + " (" + why + ")");
      case lpcap::kErrorPermDenied:
      case lpcap::kErrorPromiscPermDenied:
        return fail(error, "ERR_PERMISSION", "no permission to capture on " + iface + " (" + why + "): " + kPermissionHint);
      case lpcap::kErrorIfaceNotUp:
        return fail(error, "ERR_INTERFACE_DOWN", "interface " + iface + " is down (ip link set " + iface + " up)");
      default:
        return fail(error, "ERR_CAPTURE", "cannot capture on " + iface + ": " + why);
    }
  }
  // Linux lets a handle open on a down interface and then reads nothing: say so now.
  bool up = true;
  if (interface_up(iface, up) && !up)
    return fail(error, "ERR_INTERFACE_DOWN", "interface " + iface + " is down (ip link set " + iface + " up)");
  h.linktype = dlt_to_linktype(h.api->datalink(h.pcap));
  if (!linktype_supported(h.linktype))
    return fail(error, "ERR_CAPTURE", "cannot decode link type " + std::to_string(h.linktype) + " of " + iface);
  h.nano = h.api->get_tstamp_precision(h.pcap) == lpcap::kTstampNano;
  if (!opt.filter.empty()) {
    lpcap::program prog;
    if (h.api->compile(h.pcap, &prog, opt.filter.c_str(), 1, lpcap::kNetmaskUnknown) != 0)
      return fail(error, "ERR_BPF", "bad BPF filter \"" + opt.filter + "\": " + h.api->geterr(h.pcap));
    rc = h.api->setfilter(h.pcap, &prog);
    h.api->freecode(&prog);
    if (rc != 0) return fail(error, "ERR_BPF", "cannot set BPF filter on " + iface + ": " + h.api->geterr(h.pcap));
  }
  if (h.api->setnonblock(h.pcap, 1, errbuf) != 0) return fail(error, "ERR_CAPTURE", iface + ": " + errbuf);
  if (fanout_id >= 0) {
    int arg = (fanout_id & 0xffff) | (PACKET_FANOUT_HASH << 16);
    if (::setsockopt(h.api->fileno(h.pcap), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0)
      return fail(error, "ERR_CAPTURE", "PACKET_FANOUT on " + iface + ": " + std::strerror(errno));
  }
  h.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (h.wake_fd < 0) return fail(error, "ERR_CAPTURE", std::string("eventfd: ") + std::strerror(errno));
  return true;
}

struct Reading {
  LiveHandle* h;
  const DecodeOptions* decode;
  FlowTable* table;
  FragmentTable* frags;
  LiveStats* stats;
  uint64_t ts_frac_ns;  // ns per unit of ts.tv_usec: 1 (ns precision) or 1000
  bool dissect;         // application dissection on: payloads are read in the callback
  PacketInfo group[FlowTable::kGroup];
  size_t n = 0;
  uint64_t packets = 0, bytes = 0, skipped = 0, first_ns = UINT64_MAX, last_ns = 0;
};

void on_packet(u_char* user, const lpcap::pkthdr* hdr, const u_char* data) {
  Reading& r = *reinterpret_cast<Reading*>(user);
  uint64_t ts = uint64_t(hdr->ts.tv_sec) * 1000000000ull + uint64_t(hdr->ts.tv_usec) * r.ts_frac_ns;
  r.packets++;
  r.bytes += hdr->len;
  if (ts < r.first_ns) r.first_ns = ts;
  if (ts > r.last_ns) r.last_ns = ts;
  PacketInfo& p = r.group[r.n];
  p.ts_ns = ts;
  p.wire_len = hdr->len;
  PacketKind k = decode_packet(data, hdr->caplen, r.h->linktype, *r.decode, *r.frags, p);
  if (p.error) r.stats->decode_errors[p.error]++;
  if (k == kKindSkip) {
    r.skipped++;
    return;
  }
  // PacketInfo holds copies of what the table needs: the ring slot may go
  // after the callback. Only the payload is read where it lies, so with
  // dissection on a packet that carries one ends its group here.
  if (++r.n == FlowTable::kGroup || (p.payload_cap && r.dissect)) {
    r.table->process(r.group, r.n);
    r.n = 0;
  }
}

void poll_stats(LiveHandle& h) {
  lpcap::stats s{};
  if (h.api->stats(h.pcap, &s) != 0) return;
  h.received.store(s.ps_recv, std::memory_order_relaxed);
  h.dropped.store(s.ps_drop, std::memory_order_relaxed);
  h.if_dropped.store(s.ps_ifdrop, std::memory_order_relaxed);
}

uint64_t mono_ms() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return uint64_t(t.tv_sec) * 1000 + uint64_t(t.tv_nsec) / 1000000;
}

// The thread's counters for other threads to read (CaptureJob::stats()).
void publish(LiveHandle& h, const Reading& r, const FlowTable& table, const LiveStats& stats) {
  constexpr auto relaxed = std::memory_order_relaxed;
  h.packets.store(r.packets, relaxed);
  h.bytes.store(r.bytes, relaxed);
  h.skipped.store(r.skipped, relaxed);
  for (int i = 0; i < kDecodeErrorCount; i++) h.decode_errors[i].store(stats.decode_errors[i], relaxed);
  const FlowCounters& fc = table.counters();
  for (int i = 0; i < 6; i++) h.flows[i].store(fc.flows_by_reason[i], relaxed);
  h.active_flows.store(table.active(), relaxed);
}

// Reads what the handle has ready now (a bounded number of rounds, so a busy
// link still lets the loop tick). False on a read error, with `error` set.
bool read_ready(LiveHandle& h, Reading& r, ReadError& error) {
  for (int round = 0; round < 64; round++) {
    int got = h.api->dispatch(h.pcap, -1, on_packet, reinterpret_cast<u_char*>(&r));
    if (got == 0) break;
    if (got > 0) continue;
    error.code = "ERR_CAPTURE";
    error.message = "reading " + h.iface + ": " + (got == lpcap::kError ? h.api->geterr(h.pcap) : h.api->statustostr(got));
    if (std::strstr(error.message.c_str(), "went down")) error.code = "ERR_INTERFACE_DOWN";
    if (std::strstr(error.message.c_str(), "disappeared")) error.code = "ERR_NO_INTERFACE";
    return false;
  }
  return true;
}

// pcap_stats: every packet the socket queued (received minus ring drops, 32-bit
// counters) has been read.
bool all_read(LiveHandle& h, uint64_t packets) {
  poll_stats(h);
  return uint32_t(h.received.load() - h.dropped.load()) == uint32_t(packets);
}

// After a stop. TPACKET_V3 hands a ring block to user space only when it is
// full or its timeout (timeoutMs) has passed, up to two timeouts after its
// first packet, so what the socket already holds may not be readable yet.
// Read on until the counters say all was read, for at most two timeouts
// (capped at 1 s each) plus a margin: a busy link cannot hold the stop.
void drain(LiveHandle& h, Reading& r, int timeout_ms, ReadError& error) {
  const uint64_t deadline = mono_ms() + 2 * uint64_t(timeout_ms < 1000 ? timeout_ms : 1000) + 50;
  pollfd fd = {h.api->get_selectable_fd(h.pcap), POLLIN, 0};
  for (;;) {
    if (!read_ready(h, r, error)) return;
    uint64_t now = mono_ms();
    if (now >= deadline || all_read(h, r.packets)) return;
    ::poll(&fd, 1, int(deadline - now));
  }
}

}  // namespace

bool open_live(const LiveOptions& opt, std::vector<std::unique_ptr<LiveHandle>>& out, ReadError& error) {
  out.clear();
  static std::atomic<int> next_group{0};
  for (const std::string& iface : opt.interfaces) {
    int group = -1;
    if (opt.threads > 1) group = (int(::getpid()) * 31 + next_group.fetch_add(1)) & 0xffff;
    for (int t = 0; t < opt.threads; t++) {
      out.push_back(std::make_unique<LiveHandle>());
      if (!open_one(iface, opt, group, *out.back(), error)) {
        out.clear();
        return false;
      }
    }
  }
  return true;
}

void run_live(LiveHandle& h, const LiveOptions& opt, LiveControl& ctl, LiveSink& sink, LiveStats& stats, ReadError& error) {
  FlowTable table(opt.flow, sink);
  std::unique_ptr<FragmentTable> frags(new FragmentTable());
  std::unique_ptr<Reading> r(new Reading());
  r->h = &h;
  r->decode = &opt.decode;
  r->table = &table;
  r->frags = frags.get();
  r->stats = &stats;
  r->ts_frac_ns = h.nano ? 1 : 1000;
  r->dissect = opt.flow.dissect;
  pollfd fds[2] = {{h.api->get_selectable_fd(h.pcap), POLLIN, 0}, {h.wake_fd, POLLIN, 0}};
  const int tick_ms = opt.timeout_ms > 0 && opt.timeout_ms < 1000 ? opt.timeout_ms : 1000;
  uint32_t snapshot_seen = 0;
  uint64_t last_stats = 0;
  for (;;) {
    bool stopping = ctl.stop.load();
    if (!stopping) {
      ::poll(fds, 2, tick_ms);
      uint64_t v;
      while (::read(h.wake_fd, &v, sizeof v) > 0) {
      }
      stopping = ctl.stop.load();
    }
    // What is there now; after a stop, also what the kernel still holds back.
    if (!read_ready(h, *r, error)) stopping = true;
    else if (stopping && ctl.drain.load()) drain(h, *r, opt.timeout_ms, error);
    if (r->n) {
      table.process(r->group, r->n);
      r->n = 0;
    }
    uint64_t now = wall_ns();
    table.advance(now);
    publish(h, *r, table, stats);
    if (now - last_stats >= 1000000000ull) {
      poll_stats(h);
      last_stats = now;
    }
    uint32_t seq = ctl.snapshot_seq.load();
    if (seq != snapshot_seen) {
      sink.snapshot(table, snapshot_seen, seq);
      snapshot_seen = seq;
    }
    if (stopping) break;
    sink.tick(now);
  }
  poll_stats(h);
  stats.packets = r->packets;
  stats.bytes = r->bytes;
  stats.skipped = r->skipped;
  stats.first_ns = r->packets ? r->first_ns : 0;
  stats.last_ns = r->last_ns;
  if (ctl.flush.load()) table.flush(kEndFlush);
  else stats.unflushed = table.active();
  stats.flows = table.counters();
  publish(h, *r, table, stats);
}

}  // namespace flowmaster
