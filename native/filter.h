// BPF filters for offline reading: compiled by libpcap (loaded at run time,
// pcap_api.h) on a dead handle, one program per link type met (pcapng
// interfaces may differ), run with pcap_offline_filter.
#pragma once
#include "pcap_api.h"

#include <cstdint>
#include <map>
#include <string>

namespace flowmaster {

class PacketFilter {
 public:
  explicit PacketFilter(std::string expr) : expr_(std::move(expr)) {}
  ~PacketFilter();
  PacketFilter(const PacketFilter&) = delete;
  PacketFilter& operator=(const PacketFilter&) = delete;
  bool empty() const { return expr_.empty(); }
  // Compiles `expr` for `linktype` with libpcap (a dead handle, snaplen 262144).
  // False with `error` set when libpcap refuses the filter or is not installed.
  static bool compile(const std::string& expr, uint32_t linktype, lpcap::program& out, std::string& error);
  static void free(lpcap::program& prog);
  // Compiles for `linktype` (once). False with `error` set when libpcap refuses.
  bool prepare(uint32_t linktype, std::string& error);
  // True when the packet passes; prepare() must have succeeded for its link type.
  bool matches(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wire_len);

 private:
  std::string expr_;
  std::map<uint32_t, lpcap::program> programs_;
  uint32_t last_linktype_ = UINT32_MAX;
  lpcap::program* last_ = nullptr;
  const lpcap::Api* pcap_ = nullptr;  // set by a successful prepare()
};

}  // namespace flowmaster
