#include "app_state.h"

#include <cstdlib>
#include <new>

namespace flowmaster {
namespace app {

BufferPool::~BufferPool() {
  for (auto& list : free_)
    for (uint8_t* b : list) std::free(b);
}

uint8_t* BufferPool::get(uint32_t need, uint32_t* cap) {
  int c = 0;
  while (c < kClasses - 1 && (64u << c) < need) c++;
  *cap = 64u << c;
  if (!free_[c].empty()) {
    uint8_t* b = free_[c].back();
    free_[c].pop_back();
    return b;
  }
  auto* b = static_cast<uint8_t*>(std::malloc(*cap));
  if (!b) throw std::bad_alloc();
  return b;
}

void BufferPool::put(uint8_t* b, uint32_t cap) {
  int c = 0;
  while (c < kClasses - 1 && (64u << c) < cap) c++;
  if (free_[c].size() < kKeep) free_[c].push_back(b);
  else std::free(b);
}

// An entry is (id, length, bytes). A value over 255 bytes is cut to 255; one
// that does not fit in the bytes left is cut to them when at least 3 are left
// (id, length, one byte), else dropped; either sets kAppFlagCut.
void AreaWriter::string(uint8_t id, const uint8_t* p, uint32_t n) {
  if (has_string(id)) return;
  st_.written = uint16_t(st_.written | 1u << id);
  if (n > 255) {
    n = 255;
    flag(kAppFlagCut);
  }
  uint32_t left = off::kAppSize - st_.end;
  if (2 + n > left) {
    flag(kAppFlagCut);
    if (left < 3) return;
    n = left - 2;
  }
  uint8_t* e = a_ + st_.end;
  e[0] = id;
  e[1] = uint8_t(n);
  if (n) std::memcpy(e + 2, p, n);
  st_.end = uint16_t(st_.end + 2 + n);
}

bool append(Direction& d, BufferPool& pool, const uint8_t* p, uint32_t len, uint32_t seq, uint32_t bound,
            const uint8_t** b, uint32_t* n) {
  if (!d.started) {
    d.started = true;
    d.next_seq = seq;
  }
  if (seq != d.next_seq || d.len >= bound) return false;
  uint32_t k = len < bound - d.len ? len : bound - d.len;
  d.next_seq += k;
  if (d.len == 0) {  // read in place
    d.len = k;
    *b = p;
    *n = k;
    return true;
  }
  if (d.len + k > d.cap) {
    uint32_t cap;
    uint8_t* grown = pool.get(d.len + k, &cap);
    std::memcpy(grown, d.buf, d.len);
    pool.put(d.buf, d.cap);
    d.buf = grown;
    d.cap = cap;
  }
  std::memcpy(d.buf + d.len, p, k);
  d.len += k;
  *b = d.buf;
  *n = d.len;
  return true;
}

void keep(Direction& d, BufferPool& pool, const uint8_t* b, uint32_t n) {
  if (d.buf || n == 0) return;
  d.buf = pool.get(n, &d.cap);
  std::memcpy(d.buf, b, n);
}

void free_buffer(Direction& d, BufferPool& pool) {
  if (d.buf) pool.put(d.buf, d.cap);
  d.buf = nullptr;
  d.cap = 0;
}

}  // namespace app
}  // namespace flowmaster
