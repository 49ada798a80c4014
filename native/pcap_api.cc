#include "pcap_api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

namespace flowmaster::lpcap {
namespace {

// Sonames in the order tried: upstream's, then Debian/Ubuntu's older one.
// FLOWMASTER_LIBPCAP=/path/to/libpcap.so.1 tries that file only.
std::vector<const char*> sonames() {
  if (const char* path = std::getenv("FLOWMASTER_LIBPCAP"); path && *path) return {path};
  return {"libpcap.so.1", "libpcap.so.0.8", "libpcap.so"};
}

template <typename F>
bool bind(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));
  if (!fn) missing += missing.empty() ? name : std::string(", ") + name;
  return fn != nullptr;
}

bool bind_all(void* lib, Api& a, std::string& missing) {
  bind(lib, "pcap_create", a.create, missing);
  bind(lib, "pcap_open_dead", a.open_dead, missing);
  bind(lib, "pcap_set_snaplen", a.set_snaplen, missing);
  bind(lib, "pcap_set_promisc", a.set_promisc, missing);
  bind(lib, "pcap_set_timeout", a.set_timeout, missing);
  bind(lib, "pcap_set_buffer_size", a.set_buffer_size, missing);
  bind(lib, "pcap_set_immediate_mode", a.set_immediate_mode, missing);
  bind(lib, "pcap_set_tstamp_precision", a.set_tstamp_precision, missing);
  bind(lib, "pcap_get_tstamp_precision", a.get_tstamp_precision, missing);
  bind(lib, "pcap_activate", a.activate, missing);
  bind(lib, "pcap_close", a.close, missing);
  bind(lib, "pcap_datalink", a.datalink, missing);
  bind(lib, "pcap_compile", a.compile, missing);
  bind(lib, "pcap_freecode", a.freecode, missing);
  bind(lib, "pcap_setfilter", a.setfilter, missing);
  bind(lib, "pcap_offline_filter", a.offline_filter, missing);
  bind(lib, "pcap_setnonblock", a.setnonblock, missing);
  bind(lib, "pcap_dispatch", a.dispatch, missing);
  bind(lib, "pcap_stats", a.stats, missing);
  bind(lib, "pcap_fileno", a.fileno, missing);
  bind(lib, "pcap_get_selectable_fd", a.get_selectable_fd, missing);
  bind(lib, "pcap_geterr", a.geterr, missing);
  bind(lib, "pcap_statustostr", a.statustostr, missing);
  bind(lib, "pcap_lib_version", a.lib_version, missing);
  return missing.empty();
}

Api g_api;
const Api* g_loaded = nullptr;
std::string g_error;

void load() {
  std::string tried;
  for (const char* soname : sonames()) {
    void* lib = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      tried += std::string(tried.empty() ? "" : "; ") + ::dlerror();
      continue;
    }
    std::string missing;
    if (bind_all(lib, g_api, missing)) {
      g_loaded = &g_api;
      return;
    }
    tried += std::string(tried.empty() ? "" : "; ") + soname + " lacks " + missing + " (libpcap 1.5 or later is needed)";
    ::dlclose(lib);
  }
  g_error =
      "libpcap is not installed (live capture and BPF filters need it; reading files does not). Install it: "
      "Debian/Ubuntu apt-get install libpcap0.8, Fedora/RHEL dnf install libpcap, Alpine apk add libpcap. (" +
      tried + ")";
}

}  // namespace

const Api* api(std::string& error) {
  static std::once_flag once;
  std::call_once(once, load);
  if (!g_loaded) error = g_error;
  return g_loaded;
}

}  // namespace flowmaster::lpcap
