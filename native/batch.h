// Pooled FlowBatch buffers. A full batch becomes a JS ArrayBuffer over the
// same memory (no copy); the ArrayBuffer's finalizer returns it to the pool.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "flow_record.h"

namespace flowmaster {

class BatchPool {
 public:
  explicit BatchPool(size_t records) : bytes_(records * kRecordSize) {}
  ~BatchPool() {
    for (uint8_t* b : free_) std::free(b);
  }
  size_t bytes() const { return bytes_; }
  uint8_t* acquire() {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (!free_.empty()) {
        uint8_t* b = free_.back();
        free_.pop_back();
        return b;
      }
    }
    uint8_t* b = static_cast<uint8_t*>(std::malloc(bytes_));
    if (!b) throw std::bad_alloc();
    return b;
  }
  void release(uint8_t* b) {
    std::lock_guard<std::mutex> lock(m_);
    if (free_.size() < kKeep) free_.push_back(b);
    else std::free(b);
  }

 private:
  static constexpr size_t kKeep = 16;
  size_t bytes_;
  std::mutex m_;
  std::vector<uint8_t*> free_;
};

}  // namespace flowmaster
