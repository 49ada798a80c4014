// Capture file reader: pcap and pcapng read in large read() chunks, packets
// handed out where they lie in the chunk buffer (no per-packet copy).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace flowmaster {

struct RawPacket {
  const uint8_t* data;
  uint32_t caplen;
  uint32_t wire_len;
  uint32_t linktype;
  uint32_t iface;
  uint64_t ts_ns;
  uint64_t offset;  // file offset of the record
};

// An error that ends reading: a stable code for JS and the byte offset.
struct ReadError {
  std::string code;  // empty: no error
  std::string message;
  int64_t offset = -1;
  explicit operator bool() const { return !code.empty(); }
};

class CaptureReader {
 public:
  CaptureReader() = default;
  ~CaptureReader();
  CaptureReader(const CaptureReader&) = delete;
  CaptureReader& operator=(const CaptureReader&) = delete;

  // Opens the file and reads its header. False with error() set on failure.
  bool open(const std::string& path);
  // Next packet; its data stays valid until the next call. False at the end
  // of the input or on an error (then error() is set).
  bool next(RawPacket& pkt) { return pcapng_ ? next_pcapng(pkt) : next_pcap(pkt); }
  // True when next() would return a packet already in the buffer: the data of
  // packets returned before stays valid across that call (a refill moves it).
  bool next_in_buffer() const;
  const ReadError& error() const { return error_; }
  uint64_t bytes_read() const { return base_ + pos_; }
  uint64_t file_size() const { return file_size_; }
  bool pcapng() const { return pcapng_; }
  // Link type of the first interface (pcap: the file's), for BPF checks.
  uint32_t first_linktype() const { return ifaces_.empty() ? 1 : ifaces_[0].linktype; }

 private:
  struct Interface {
    uint32_t linktype;
    uint32_t snaplen;
    uint64_t mul;   // ts_ns = ts * mul / div + offset
    uint64_t div;
    uint64_t offset_ns;  // two's complement of the signed offset
  };
  // Ensures `need` bytes at pos_, false at EOF/error; the common case inline.
  bool fill(size_t need) { return end_ - pos_ >= need || refill(need); }
  bool refill(size_t need);
  bool fail(const char* code, int64_t offset, const std::string& msg);
  bool read_pcap_header();
  bool next_pcap(RawPacket& pkt);
  bool next_pcap_slow(RawPacket& pkt);
  bool read_shb(uint64_t block_off);
  bool next_pcapng(RawPacket& pkt);
  bool parse_idb(const uint8_t* body, uint32_t len, uint64_t block_off);
  template <typename Visit>
  bool walk_options(const uint8_t* b, uint32_t from, uint32_t len, uint64_t block_off, Visit visit);
  uint32_t u32(const uint8_t* p) const;
  uint16_t u16(const uint8_t* p) const;
  uint64_t ts_to_ns(const Interface& i, uint64_t ts) const;

  int fd_ = -1;
  std::string path_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0, end_ = 0;
  uint64_t base_ = 0;  // file offset of buf_[0]
  uint64_t file_size_ = 0;
  bool eof_ = false;
  bool pcapng_ = false;
  bool swap_ = false;
  bool nanos_ = false;
  uint32_t snaplen_ = 0;
  uint32_t caplen_limit_ = 0;  // larger records are corrupt
  std::vector<Interface> ifaces_;
  uint64_t last_ts_ = 0;
  ReadError error_;
};

}  // namespace flowmaster
