// Compile-time check (CMake builds, where libpcap's header is installed) that
// pcap_api.h declares what pcap/pcap.h does. Nothing here runs.
#include <pcap/pcap.h>

#include <cstddef>

#include "pcap_api.h"

namespace lp = flowmaster::lpcap;

static_assert(sizeof(lp::insn) == sizeof(bpf_insn) && offsetof(lp::insn, k) == offsetof(bpf_insn, k));
static_assert(sizeof(lp::program) == sizeof(bpf_program) && offsetof(lp::program, bf_insns) == offsetof(bpf_program, bf_insns));
static_assert(sizeof(lp::pkthdr) == sizeof(pcap_pkthdr) && offsetof(lp::pkthdr, caplen) == offsetof(pcap_pkthdr, caplen) &&
              offsetof(lp::pkthdr, len) == offsetof(pcap_pkthdr, len));
static_assert(sizeof(lp::stats) == sizeof(pcap_stat) && offsetof(lp::stats, ps_ifdrop) == offsetof(pcap_stat, ps_ifdrop));
static_assert(lp::kErrbufSize == PCAP_ERRBUF_SIZE && lp::kNetmaskUnknown == PCAP_NETMASK_UNKNOWN);
static_assert(lp::kTstampNano == PCAP_TSTAMP_PRECISION_NANO && lp::kDltRaw == DLT_RAW && lp::kError == PCAP_ERROR);
static_assert(lp::kErrorNoSuchDevice == PCAP_ERROR_NO_SUCH_DEVICE && lp::kErrorPermDenied == PCAP_ERROR_PERM_DENIED);
static_assert(lp::kErrorIfaceNotUp == PCAP_ERROR_IFACE_NOT_UP && lp::kErrorPromiscPermDenied == PCAP_ERROR_PROMISC_PERM_DENIED);

