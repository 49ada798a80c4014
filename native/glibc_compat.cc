// The addon links libstdc++ statically (binding.gyp), so that a binary built on
// Debian 12 also loads where the system libstdc++ is older. One object that
// comes with it, std::random_device (unused here), references arc4random,
// which glibc has only since 2.36: that reference alone would keep the binary
// from loading on glibc 2.34/2.35 (Ubuntu 22.04, RHEL 9). This hidden local
// definition satisfies it at link time; it is never called by our code.
#include <sys/random.h>

#include <cstdint>

extern "C" __attribute__((visibility("hidden"))) uint32_t arc4random(void) noexcept {
  uint32_t v = 0;
  while (getrandom(&v, sizeof v, 0) != ssize_t(sizeof v)) {
  }
  return v;
}
