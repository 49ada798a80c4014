// libpcap, loaded at run time with dlopen: the addon links no libpcap, so
// reading capture files needs none installed, and prebuilt binaries do not
// depend on libpcap's headers or soname at build time. Only live capture and
// BPF filters load it. The declarations below are libpcap's stable ABI
// (pcap/pcap.h, unchanged since 0.8); native/pcap_abi_check.cc checks them
// against the real header where it is installed.
#pragma once
#include <sys/time.h>

#include <cstdint>
#include <string>

namespace flowmaster::lpcap {

struct handle;  // pcap_t
struct insn {   // struct bpf_insn
  uint16_t code;
  uint8_t jt;
  uint8_t jf;
  uint32_t k;
};
struct program {  // struct bpf_program
  unsigned bf_len;
  insn* bf_insns;
};
struct pkthdr {  // struct pcap_pkthdr
  timeval ts;
  uint32_t caplen;
  uint32_t len;
};
struct stats {  // struct pcap_stat
  unsigned ps_recv;
  unsigned ps_drop;
  unsigned ps_ifdrop;
};
using handler = void (*)(unsigned char* user, const pkthdr* h, const unsigned char* bytes);

constexpr int kErrbufSize = 256;                 // PCAP_ERRBUF_SIZE
constexpr uint32_t kNetmaskUnknown = 0xffffffff;  // PCAP_NETMASK_UNKNOWN
constexpr int kTstampNano = 1;                   // PCAP_TSTAMP_PRECISION_NANO
constexpr int kDltRaw = 12;                      // DLT_RAW on Linux
constexpr int kError = -1;                       // PCAP_ERROR
constexpr int kErrorNoSuchDevice = -5;
constexpr int kErrorPermDenied = -8;
constexpr int kErrorIfaceNotUp = -9;
constexpr int kErrorPromiscPermDenied = -11;

// The libpcap functions the addon calls, resolved once.
struct Api {
  handle* (*create)(const char*, char*);
  handle* (*open_dead)(int, int);
  int (*set_snaplen)(handle*, int);
  int (*set_promisc)(handle*, int);
  int (*set_timeout)(handle*, int);
  int (*set_buffer_size)(handle*, int);
  int (*set_immediate_mode)(handle*, int);
  int (*set_tstamp_precision)(handle*, int);
  int (*get_tstamp_precision)(handle*);
  int (*activate)(handle*);
  void (*close)(handle*);
  int (*datalink)(handle*);
  int (*compile)(handle*, program*, const char*, int, uint32_t);
  void (*freecode)(program*);
  int (*setfilter)(handle*, program*);
  int (*offline_filter)(const program*, const pkthdr*, const unsigned char*);
  int (*setnonblock)(handle*, int, char*);
  int (*dispatch)(handle*, int, handler, unsigned char*);
  int (*stats)(handle*, stats*);
  int (*fileno)(handle*);
  int (*get_selectable_fd)(handle*);
  char* (*geterr)(handle*);
  const char* (*statustostr)(int);
  const char* (*lib_version)();
};

// libpcap, loaded on the first call (thread-safe). nullptr when it cannot be
// loaded; then `error` says why and which package to install.
const Api* api(std::string& error);

}  // namespace flowmaster::lpcap
