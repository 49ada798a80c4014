// SSH: each side's banner ("SSH-..." up to the first "\r\n" or "\n", at
// most 255 bytes): fwd gives sshClient, rev sshServer.
#include "bytes.h"
#include "protocols.h"

namespace flowmaster {
namespace app {

int match_ssh(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  if (n < 4) return starts_with(b, n, "SSH-", n) ? kMaybe : 0;
  return starts_with(b, n, "SSH-", 4) ? kAppSsh : 0;
}

// The banner is at most 255 bytes: a line end is looked for in the first 256;
// without one there, the first 255 bytes (once they are here).
Verdict read_ssh(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n) {
  if (!starts_with(b, n, "SSH-", n < 4 ? n : 4)) return kDone;
  uint8_t id = fwd ? kStrSshClient : kStrSshServer;
  for (uint32_t i = 0; i < n && i < 256; i++) {
    if (b[i] != '\n') continue;
    f.area.string(id, b, i > 0 && b[i - 1] == '\r' ? i - 1 : i);
    return kDone;
  }
  if (n < 256) return kMore;
  f.area.string(id, b, 255);
  return kDone;
}

}  // namespace app
}  // namespace flowmaster
