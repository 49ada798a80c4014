#include "filter.h"

namespace flowmaster {

PacketFilter::~PacketFilter() {
  for (auto& kv : programs_) free(kv.second);
}

void PacketFilter::free(lpcap::program& prog) {
  std::string unused;
  if (const lpcap::Api* pcap = lpcap::api(unused)) pcap->freecode(&prog);
}

namespace {
// pcap_open_dead takes a DLT_ value; capture files carry LINKTYPE_ values,
// which differ for raw IP (LINKTYPE_RAW 101 is DLT_RAW, 12 or 14 by platform).
int linktype_to_dlt(uint32_t linktype) {
  switch (linktype) {
    case 101:
    case 12:
    case 14: return lpcap::kDltRaw;
    default: return int(linktype);
  }
}
}  // namespace

bool PacketFilter::compile(const std::string& expr, uint32_t linktype, lpcap::program& out, std::string& error) {
  const lpcap::Api* pcap = lpcap::api(error);
  if (!pcap) return false;
  lpcap::handle* dead = pcap->open_dead(linktype_to_dlt(linktype), 262144);
  if (!dead) {
    error = "libpcap cannot open a handle for link type " + std::to_string(linktype);
    return false;
  }
  bool ok = pcap->compile(dead, &out, expr.c_str(), 1, lpcap::kNetmaskUnknown) == 0;
  if (!ok) error = std::string("bad BPF filter \"") + expr + "\": " + pcap->geterr(dead);
  pcap->close(dead);
  return ok;
}

bool PacketFilter::prepare(uint32_t linktype, std::string& error) {
  if (programs_.count(linktype)) return true;
  lpcap::program prog;
  if (!compile(expr_, linktype, prog, error)) return false;
  pcap_ = lpcap::api(error);
  programs_.emplace(linktype, prog);
  last_linktype_ = UINT32_MAX;
  return true;
}

bool PacketFilter::matches(uint32_t linktype, const uint8_t* data, uint32_t caplen, uint32_t wire_len) {
  if (linktype != last_linktype_) {
    last_ = &programs_.at(linktype);
    last_linktype_ = linktype;
  }
  lpcap::pkthdr h{};
  h.caplen = caplen;
  h.len = wire_len;
  return pcap_->offline_filter(last_, &h, data) != 0;
}

}  // namespace flowmaster
