#include "filter.h"

namespace flowmaster {

PacketFilter::~PacketFilter() {
  for (auto& kv : programs_) pcap_freecode(&kv.second);
}

namespace {
// pcap_open_dead takes a DLT_ value; capture files carry LINKTYPE_ values,
// which differ for raw IP (LINKTYPE_RAW 101 is DLT_RAW, 12 or 14 by platform).
int linktype_to_dlt(uint32_t linktype) {
  switch (linktype) {
    case 101:
    case 12:
    case 14: return DLT_RAW;
    default: return int(linktype);
  }
}
}  // namespace

bool PacketFilter::compile(const std::string& expr, uint32_t linktype, bpf_program& out, std::string& error) {
  pcap_t* dead = pcap_open_dead(linktype_to_dlt(linktype), 262144);
  if (!dead) {
    error = "libpcap cannot open a handle for link type " + std::to_string(linktype);
    return false;
  }
  bool ok = pcap_compile(dead, &out, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
  if (!ok) error = std::string("bad BPF filter \"") + expr + "\": " + pcap_geterr(dead);
  pcap_close(dead);
  return ok;
}

bool PacketFilter::prepare(uint32_t linktype, std::string& error) {
  if (programs_.count(linktype)) return true;
  bpf_program prog;
  if (!compile(expr_, linktype, prog, error)) return false;
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
