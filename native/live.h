// Live capture with libpcap: one handle per (interface, thread), each read on
// its own native thread into its own flow table. With threads > 1 the
// handles of an interface join one PACKET_FANOUT group in hash mode: the
// kernel's flow hash is symmetric, so both directions of a flow reach the
// same thread and each flow is updated by exactly one thread (no atomics on
// the per-packet path). Pure C++ (no Node-API).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "offline.h"
#include "pcap_api.h"

namespace flowmaster {

struct LiveOptions {
  std::vector<std::string> interfaces;
  std::string filter;
  int snaplen = 262144;
  bool promisc = true;
  int buffer_bytes = 0;  // kernel ring size; 0: libpcap's default
  bool immediate = false;
  int timeout_ms = 100;  // libpcap read timeout, also the expiry tick
  int threads = 1;       // handles per interface (PACKET_FANOUT when > 1)
  FlowOptions flow;
  DecodeOptions decode;
};

// One pcap handle and what other threads may read of it while it runs.
struct LiveHandle {
  std::string iface;
  const lpcap::Api* api = nullptr;  // libpcap, loaded by open_one
  lpcap::handle* pcap = nullptr;
  uint32_t linktype = 0;  // LINKTYPE_ value, as decode_packet takes
  bool nano = false;      // timestamps in ns (else µs)
  int wake_fd = -1;       // eventfd: stop and snapshot requests wake the thread
  // pcap_stats, polled about once a second and at the end
  std::atomic<uint64_t> received{0}, dropped{0}, if_dropped{0};
  std::atomic<uint64_t> packets{0};  // packets read so far
  // this thread's running counters, as of its last read round (live metrics)
  std::atomic<uint64_t> bytes{0}, skipped{0};
  std::atomic<uint64_t> decode_errors[kDecodeErrorCount] = {};
  std::atomic<uint64_t> flows[6] = {};  // flows_by_reason
  std::atomic<uint64_t> active_flows{0};
  LiveHandle() = default;
  LiveHandle(const LiveHandle&) = delete;
  LiveHandle& operator=(const LiveHandle&) = delete;
  ~LiveHandle();
  void wake();
};

// Opens every handle (interfaces x threads), filter applied. On failure:
// false with `error` set (code ERR_NO_INTERFACE, ERR_INTERFACE_DOWN,
// ERR_PERMISSION, ERR_BPF or ERR_CAPTURE) and nothing left open.
bool open_live(const LiveOptions& opt, std::vector<std::unique_ptr<LiveHandle>>& out, ReadError& error);

// Where a capture thread's records go. tick() runs after every read round
// (a chance to hand over a partial batch); snapshot() answers the requests
// numbered (from, to] that snapshot_seq counted since the last answer.
class LiveSink : public RecordSink {
 public:
  virtual void tick(uint64_t now_ns) = 0;
  virtual void snapshot(const FlowTable& table, uint32_t from, uint32_t to) = 0;
};

struct LiveControl {
  std::atomic<bool> stop{false};
  std::atomic<bool> flush{true};  // at stop: expire every flow with reason flush (else drop them, counted)
  std::atomic<bool> drain{true};  // at stop: wait for what the kernel still holds (not at teardown: nobody would get it)
  std::atomic<uint32_t> snapshot_seq{0};  // requests so far (from 0: one made before a thread starts is answered too)
};

struct LiveStats : RunStats {
  uint64_t unflushed = 0;  // flows still active at stop when flush is off
};

// Reads `h` until ctl.stop; then reads what the kernel already holds (waiting
// up to two timeoutMs for the ring to hand it over), polls the final
// statistics and flushes. Expiry runs in packet time, and on every
// tick from the wall clock, so flows end on a quiet link too.
void run_live(LiveHandle& h, const LiveOptions& opt, LiveControl& ctl, LiveSink& sink, LiveStats& stats, ReadError& error);

}  // namespace flowmaster
