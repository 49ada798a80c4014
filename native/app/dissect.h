// Application dissection of a flow table's flows (docs/applications.md,
// "What is read"): per flow, until both directions are done, a dissection
// state, and from its first match its application area; per packet with
// payload the direction's buffer is read by the classifiers in order until
// one matches, then by that application's reader only. One per flow table
// (one thread). The table keeps one word per flow: 0 (nothing), a state
// (kDissecting set) or, once done, the area's slot.
#pragma once
#include <cstdint>
#include <memory>

#include "../decode.h"
#include "app_state.h"
#include "crypto.h"

namespace flowmaster {
namespace app {

struct Scratch;
struct AppFlow;
enum Verdict : uint8_t;

class Dissector {
 public:
  explicit Dissector(uint32_t bound);  // dissectBytes
  ~Dissector();
  Dissector(const Dissector&) = delete;
  Dissector& operator=(const Dissector&) = delete;

  static constexpr uint32_t kDissecting = 1u << 31;

  // One TCP/UDP packet with payload (p.payload_cap > 0) of a flow that is not
  // done; *word is the flow's word (0 before its first). True when the flow
  // is done: then the word is its area's slot, or 0.
  bool packet(uint32_t* word, uint8_t proto, uint16_t port_a, uint16_t port_b, bool fwd, const PacketInfo& p);
  // The flow's application area (kAppSize bytes), null while it has none.
  const uint8_t* area(uint32_t word) const {
    uint32_t slot = word & kDissecting ? states_[word & ~kDissecting].area : word;
    return slot ? slots_[slot].area : nullptr;
  }
  // The flow ended (expiry, eviction, flush): frees what it holds.
  void release(uint32_t word);

 private:
  void read_packet(DissectState& st, AppFlow& f, bool fwd, const PacketInfo& p);
  Verdict read_buffer(AppFlow& f, bool fwd, const uint8_t* b, uint32_t n);
  void free_state(uint32_t state);

  uint32_t bound_;
  Pool<AppSlot> slots_;
  Pool<DissectState> states_;
  Pool<QuicState> quics_;
  BufferPool buffers_;
  Crypto crypto_;
  std::unique_ptr<Scratch> scratch_;
};

}  // namespace app
}  // namespace flowmaster
