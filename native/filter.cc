#include "filter.h"

namespace flowmaster {

PacketFilter::~PacketFilter() {
  for (auto& kv : programs_) pcap_freecode(&kv.second);
}

bool PacketFilter::prepare(uint32_t linktype, std::string& error) {
  if (programs_.count(linktype)) return true;
  pcap_t* dead = pcap_open_dead(int(linktype), 262144);
  if (!dead) {
    error = "libpcap cannot open a handle for link type " + std::to_string(linktype);
    return false;
  }
  bpf_program prog;
  if (pcap_compile(dead, &prog, expr_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    error = std::string("bad BPF filter \"") + expr_ + "\": " + pcap_geterr(dead);
    pcap_close(dead);
    return false;
  }
  pcap_close(dead);
  programs_.emplace(linktype, prog);
  last_linktype_ = UINT32_MAX;
  return true;
}

bool PacketFilter::matches(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
  if (linktype != last_linktype_) {
    last_ = &programs_.at(linktype);
    last_linktype_ = linktype;
  }
  pcap_pkthdr h{};
  h.caplen = caplen;
  h.len = wire_len;
  return pcap_offline_filter(last_, &h, data) != 0;
}

}  // namespace flowmaster
