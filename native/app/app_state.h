// Per-flow state of application dissection (docs/applications.md): the
// flow's application area (the record's bytes kApp..) and its string writer,
// per-direction bounded buffers (TCP: in sequence order), and the pools they
// come from, so that nothing is allocated per packet once the pools are warm.
#pragma once
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../flow_record.h"

namespace flowmaster {
namespace app {

// Index-addressed objects in chunks that never move; freed indexes are
// reused. Index 0 is never handed out (it means "none" in the flow table).
template <typename T>
class Pool {
 public:
  uint32_t acquire() {
    uint32_t i;
    if (!free_.empty()) {
      i = free_.back();
      free_.pop_back();
    } else {
      i = next_++;
      if ((i >> kShift) >= chunks_.size()) chunks_.emplace_back(new T[kChunk]);
    }
    (*this)[i] = T();
    return i;
  }
  void release(uint32_t i) { free_.push_back(i); }
  T& operator[](uint32_t i) { return chunks_[i >> kShift][i & (kChunk - 1)]; }
  const T& operator[](uint32_t i) const { return chunks_[i >> kShift][i & (kChunk - 1)]; }

 private:
  static constexpr uint32_t kShift = 8, kChunk = 1u << kShift;
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::vector<uint32_t> free_;
  uint32_t next_ = 1;
};

// Byte buffers in power-of-two sizes from 64 B to 128 KiB, each size with a
// bounded free list: a direction's buffer grows with what it holds.
class BufferPool {
 public:
  ~BufferPool();
  // A buffer of at least `need` bytes (need <= 128 KiB); its size in *cap.
  uint8_t* get(uint32_t need, uint32_t* cap);
  void put(uint8_t* b, uint32_t cap);

 private:
  static constexpr int kClasses = 12;  // 64 << 0 .. 64 << 11
  static constexpr size_t kKeep = 64;  // free buffers kept per size
  std::vector<uint8_t*> free_[kClasses];
};

// One direction: fwd (from the flow's src) or rev.
struct Direction {
  uint8_t* buf = nullptr;  // TCP: the bytes appended so far (null while none are kept)
  uint32_t cap = 0;        // buf's size
  uint32_t len = 0;        // bytes appended (at most the bound)
  uint32_t next_seq = 0;   // TCP: start sequence number + len
  bool started = false;    // TCP: the start sequence number is set
  bool done = false;
  uint8_t unmatched = 0;   // payload packets read while no application was known
};

// QUIC: the client's Initial keys and the CRYPTO stream they carry (made for
// a flow whose client sent a packet that looks like an Initial).
struct QuicState {
  uint8_t dcid[20];
  uint8_t dcid_len = 0;
  bool have_keys = false;
  bool just_read = false;  // the classifier read this datagram already
  uint32_t version = 0;    // of the keys
  uint8_t key[16], iv[12], hp[16];
  uint8_t* crypto = nullptr;  // `bound` bytes of CRYPTO data, then a bitmap of the filled ones
  uint32_t crypto_cap = 0;
};

// The dissection state of one flow, from its first payload packet until
// both directions are done. Small: most of it is what each direction holds.
struct DissectState {
  Direction dir[2];  // fwd, rev
  uint32_t area = 0;  // AppSlot index, from the first match
  uint32_t quic = 0;  // QuicState index, 0 none
  uint16_t written = 0;  // string ids written (bit per id)
  uint16_t end = off::kAppStrings - off::kApp;  // end of the string entries in the area
  bool dns_question = false;  // dnsQuery/dnsQtype taken
};

// A flow's application area, from its first match until the flow ends.
struct AppSlot {
  uint8_t area[off::kAppSize];
};

// Writes fields into a flow's application area (docs/applications.md, "Record").
class AreaWriter {
 public:
  AreaWriter(uint8_t* area, DissectState& st) : a_(area), st_(st) {}
  uint8_t application() const { return a_ ? a_[0] : uint8_t(kAppNone); }
  // The first match: a zeroed area that says which application it is.
  void begin(uint8_t* area, uint8_t application) {
    a_ = area;
    std::memset(a_, 0, off::kAppSize);
    a_[0] = application;
  }
  void flag(uint8_t f) { a_[off::kAppFlags - off::kApp] |= f; }
  bool has_flag(uint8_t f) const { return a_[off::kAppFlags - off::kApp] & f; }
  uint16_t get16(size_t record_off) const {
    uint16_t v;
    std::memcpy(&v, a_ + record_off - off::kApp, 2);
    return v;
  }
  void set16(size_t record_off, uint16_t v) { std::memcpy(a_ + record_off - off::kApp, &v, 2); }  // little-endian host
  void set8(size_t record_off, uint8_t v) { a_[record_off - off::kApp] = v; }
  uint8_t* at(size_t record_off) { return a_ + record_off - off::kApp; }
  // appCode of the first PDU that has one.
  void code(uint16_t v) {
    if (has_flag(kAppFlagCode)) return;
    set16(off::kAppCode, v);
    flag(kAppFlagCode);
  }
  bool has_string(uint8_t id) const { return st_.written & (1u << id); }
  // Appends string entry `id` once (the first value wins), cut to fit.
  void string(uint8_t id, const uint8_t* p, uint32_t n);
  void string(uint8_t id, const char* s, uint32_t n) { string(id, reinterpret_cast<const uint8_t*>(s), n); }

 private:
  uint8_t* a_;
  DissectState& st_;
};

// TCP: appends a segment when its sequence number is the next expected one
// (the direction's first payload packet sets the start), at most up to
// `bound` bytes in all. False when the segment is skipped. On true, [*b, *b +
// *n) is the direction's bytes to read: the segment itself while it is the
// first and nothing is kept yet (then keep() once the direction goes on).
bool append(Direction& d, BufferPool& pool, const uint8_t* p, uint32_t len, uint32_t seq, uint32_t bound,
            const uint8_t** b, uint32_t* n);
// After a read in place: copies the first segment into a buffer of its own.
void keep(Direction& d, BufferPool& pool, const uint8_t* b, uint32_t n);
void free_buffer(Direction& d, BufferPool& pool);

}  // namespace app
}  // namespace flowmaster
