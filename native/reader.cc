#include "reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace flowmaster {

namespace {
constexpr size_t kChunk = 2u << 20;            // read() size; the buffer stays L2/L3-friendly
constexpr uint32_t kMaxRecord = 256u << 20;    // largest record/block we accept (corrupt beyond)
constexpr uint32_t kMaxPcapCaplen = 262144;    // libpcap's MAXIMUM_SNAPLEN
constexpr uint32_t kShbType = 0x0A0D0D0A;

inline uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }
inline uint32_t pad4(uint32_t v) { return (v + 3u) & ~3u; }
}  // namespace

CaptureReader::~CaptureReader() {
  if (fd_ > 0) ::close(fd_);
}

uint32_t CaptureReader::u32(const uint8_t* p) const {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swap_ ? bswap32(v) : v;
}

uint16_t CaptureReader::u16(const uint8_t* p) const {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return swap_ ? __builtin_bswap16(v) : v;
}

bool CaptureReader::fail(const char* code, int64_t offset, const std::string& msg) {
  error_.code = code;
  error_.offset = offset;
  error_.message = msg;
  if (offset >= 0) error_.message += " (" + path_ + ", byte offset " + std::to_string(offset) + ")";
  else error_.message += " (" + path_ + ")";
  return false;
}

bool CaptureReader::open(const std::string& path) {
  path_ = path;
  if (path == "-") {
    fd_ = 0;
  } else {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return fail("ERR_FILE_NOT_FOUND", -1, "no such file");
      return fail("ERR_PCAP_OPEN", -1, std::string("cannot open: ") + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) return fail("ERR_IS_DIRECTORY", -1, "is a directory, not a capture file");
    if (S_ISREG(st.st_mode)) file_size_ = uint64_t(st.st_size);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return fail("ERR_PCAP_OPEN", -1, std::string("cannot open: ") + std::strerror(errno));
#ifdef POSIX_FADV_SEQUENTIAL
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
  }
  buf_.resize(kChunk);
  if (!fill(4)) {
    if (error_) return false;
    if (end_ == 0) return fail("ERR_EMPTY_FILE", 0, "empty file: no capture header");
    return fail("ERR_TRUNCATED", 0, "file ends inside the capture header");
  }
  const uint8_t* m = buf_.data();
  uint32_t magic = uint32_t(m[0]) << 24 | uint32_t(m[1]) << 16 | uint32_t(m[2]) << 8 | m[3];
  switch (magic) {
    case 0xd4c3b2a1: swap_ = false; nanos_ = false; break;
    case 0xa1b2c3d4: swap_ = true; nanos_ = false; break;
    case 0x4d3cb2a1: swap_ = false; nanos_ = true; break;
    case 0xa1b23c4d: swap_ = true; nanos_ = true; break;
    case kShbType:
      pcapng_ = true;
      return read_shb(0);
    default:
      return fail("ERR_NOT_A_CAPTURE", 0, "not a pcap or pcapng file (unknown magic number)");
  }
  if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) swap_ = !swap_;
  return read_pcap_header();
}

bool CaptureReader::refill(size_t need) {
  if (error_) return false;
  if (pos_ + need > buf_.size()) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    base_ += pos_;
    end_ -= pos_;
    pos_ = 0;
  }
  while (end_ - pos_ < need && !eof_) {
    // Grow only once full of data, doubling up to `need`: a length field is
    // a claim, so memory follows the bytes that actually arrive.
    if (end_ == buf_.size()) buf_.resize(std::min(buf_.size() * 2, pos_ + need));
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("ERR_READ", int64_t(base_ + end_), std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) eof_ = true;
    end_ += size_t(n);
  }
  return end_ - pos_ >= need;
}

bool CaptureReader::read_pcap_header() {
  if (!fill(24)) return error_ ? false : fail("ERR_TRUNCATED", int64_t(end_), "file ends inside the 24-byte pcap header");
  const uint8_t* h = buf_.data() + pos_;
  uint16_t major = u16(h + 4), minor = u16(h + 6);
  if (major != 2)
    return fail("ERR_BAD_HEADER", 4, "unsupported pcap version " + std::to_string(major) + "." + std::to_string(minor));
  snaplen_ = u32(h + 16);
  caplen_limit_ = snaplen_ > kMaxPcapCaplen ? snaplen_ : kMaxPcapCaplen;
  if (caplen_limit_ > kMaxRecord) caplen_limit_ = kMaxRecord;
  uint32_t lt = u32(h + 20) & 0x03ffffff;  // upper bits: FCS length
  ifaces_.push_back(Interface{lt & 0xffff, snaplen_, nanos_ ? 1u : 1000u, 1, 0});
  pos_ += 24;
  return true;
}

// The common case inline-friendly: a whole record in the buffer.
bool CaptureReader::next_pcap(RawPacket& pkt) {
  size_t avail = end_ - pos_;
  if (avail >= 16) {
    const uint8_t* h = buf_.data() + pos_;
    uint32_t w[4];
    std::memcpy(w, h, 16);
    if (swap_)
      for (uint32_t& x : w) x = bswap32(x);
    uint32_t caplen = w[2];
    if (caplen <= caplen_limit_ && avail >= 16 + size_t(caplen)) {
      pkt.data = h + 16;
      pkt.caplen = caplen;
      pkt.wire_len = w[3];
      pkt.linktype = ifaces_[0].linktype;
      pkt.iface = 0;
      pkt.ts_ns = uint64_t(w[0]) * 1000000000ull + uint64_t(w[1]) * ifaces_[0].mul;
      pkt.offset = base_ + pos_;
      pos_ += 16 + caplen;
      return true;
    }
  }
  return next_pcap_slow(pkt);
}

// Refills, end of input and damaged records.
bool CaptureReader::next_pcap_slow(RawPacket& pkt) {
  uint64_t off = base_ + pos_;
  if (!fill(16)) {
    if (error_ || end_ == pos_) return false;
    return fail("ERR_TRUNCATED", int64_t(off),
                "file ends inside a record header (" + std::to_string(end_ - pos_) + " of 16 bytes)");
  }
  uint32_t caplen = u32(buf_.data() + pos_ + 8);
  if (caplen > caplen_limit_)
    return fail("ERR_BAD_RECORD", int64_t(off),
                "record caplen " + std::to_string(caplen) + " exceeds the maximum " + std::to_string(caplen_limit_));
  if (!fill(16 + size_t(caplen))) {
    if (error_) return false;
    return fail("ERR_TRUNCATED", int64_t(off),
                "file ends inside a record: caplen " + std::to_string(caplen) + ", only " +
                    std::to_string(end_ - pos_ - 16) + " bytes left");
  }
  return next_pcap(pkt);
}

bool CaptureReader::next_in_buffer() const {
  const uint8_t* b = buf_.data();
  size_t at = pos_;
  if (!pcapng_) return end_ - at >= 16 && end_ - at - 16 >= u32(b + at + 8) && u32(b + at + 8) <= caplen_limit_;
  while (end_ - at >= 8) {  // blocks before the next packet block are read in place too
    uint32_t type = u32(b + at), len = u32(b + at + 4);
    if (type == kShbType || type == bswap32(kShbType) || len < 12 || len % 4 != 0 || end_ - at < len) return false;
    if (type == 6 || type == 2 || type == 3) return true;
    at += len;
  }
  return false;
}

uint64_t CaptureReader::ts_to_ns(const Interface& i, uint64_t ts) const {
  uint64_t v = i.div == 1 ? ts * i.mul : uint64_t((unsigned __int128)ts * i.mul / i.div);
  return v + i.offset_ns;
}

// Walks a block's options from `from` to its trailing length, checking that
// each fits; visit(code, value, length, offset in block) may fail too.
template <typename Visit>
bool CaptureReader::walk_options(const uint8_t* b, uint32_t from, uint32_t len, uint64_t block_off, Visit visit) {
  for (uint32_t o = from; o + 4 <= len - 4;) {
    uint16_t code = u16(b + o), olen = u16(b + o + 2);
    if (code == 0) break;
    if (o + 4 + pad4(olen) > len - 4)
      return fail("ERR_BAD_RECORD", int64_t(block_off + o),
                  "pcapng option length " + std::to_string(olen) + " overruns its block");
    if (!visit(code, b + o + 4, olen, o)) return false;
    o += 4 + pad4(olen);
  }
  return true;
}

bool CaptureReader::read_shb(uint64_t block_off) {
  if (!fill(12)) return error_ ? false : fail("ERR_TRUNCATED", int64_t(block_off), "file ends inside a section header block");
  const uint8_t* b = buf_.data() + pos_;
  uint32_t bom;
  std::memcpy(&bom, b + 8, 4);
  if (bom == 0x1A2B3C4D) swap_ = false;
  else if (bom == 0x4D3C2B1A) swap_ = true;
  else return fail(block_off == 0 ? "ERR_NOT_A_CAPTURE" : "ERR_BAD_RECORD", int64_t(block_off + 8),
                   "pcapng section header with an invalid byte-order magic");
  uint32_t len = u32(b + 4);
  if (len < 28 || len % 4 != 0 || len > kMaxRecord)
    return fail("ERR_BAD_RECORD", int64_t(block_off + 4), "section header block length " + std::to_string(len) + " is invalid");
  if (!fill(len)) return error_ ? false : fail("ERR_TRUNCATED", int64_t(block_off), "file ends inside a section header block");
  b = buf_.data() + pos_;
  uint16_t major = u16(b + 12);
  if (major != 1) return fail("ERR_BAD_HEADER", int64_t(block_off + 12), "unsupported pcapng version " + std::to_string(major));
  if (u32(b + len - 4) != len)
    return fail("ERR_BAD_RECORD", int64_t(block_off + len - 4), "section header block trailing length differs");
  if (!walk_options(b, 24, len, block_off, [](uint16_t, const uint8_t*, uint16_t, uint32_t) { return true; }))
    return false;
  ifaces_.clear();
  pos_ += len;
  return true;
}

bool CaptureReader::parse_idb(const uint8_t* b, uint32_t len, uint64_t block_off) {
  if (len < 20) return fail("ERR_BAD_RECORD", int64_t(block_off), "interface description block too short");
  Interface i{u16(b + 8), u32(b + 12), 1000, 1, 0};  // default resolution: µs
  bool ok = walk_options(b, 16, len, block_off, [&](uint16_t code, const uint8_t* v, uint16_t olen, uint32_t o) {
    if (code == 9 && olen >= 1) {  // if_tsresol: 10^-r, or 2^-r with the top bit set
      uint8_t r = v[0];
      if (r & 0x80) {
        uint32_t k = r & 0x7f;
        if (k > 63) return fail("ERR_BAD_RECORD", int64_t(block_off + o), "if_tsresol out of range");
        i.mul = 1000000000ull;
        i.div = 1ull << k;
      } else {
        if (r > 19) return fail("ERR_BAD_RECORD", int64_t(block_off + o), "if_tsresol out of range");
        i.mul = 1;
        i.div = 1;
        for (uint32_t k = r; k < 9; k++) i.mul *= 10;
        for (uint32_t k = 9; k < r; k++) i.div *= 10;
      }
    } else if (code == 14 && olen >= 8) {  // if_tsoffset, seconds
      uint64_t first = u32(v), second = u32(v + 4);
      uint64_t secs = swap_ ? (first << 32 | second) : (second << 32 | first);
      // Unsigned, so an absurd offset wraps (as in the TS reader) instead of signed overflow (UB).
      i.offset_ns = secs * 1000000000ull;
    }
    return true;
  });
  if (!ok) return false;
  ifaces_.push_back(i);
  return true;
}

bool CaptureReader::next_pcapng(RawPacket& pkt) {
  for (;;) {
    uint64_t off = base_ + pos_;
    if (!fill(8)) {
      if (error_ || end_ == pos_) return false;
      return fail("ERR_TRUNCATED", int64_t(off), "file ends inside a block header");
    }
    const uint8_t* b = buf_.data() + pos_;
    uint32_t type = u32(b);
    if (type == kShbType || (type == bswap32(kShbType))) {
      if (!read_shb(off)) return false;
      continue;
    }
    uint32_t len = u32(b + 4);
    if (len < 12 || len % 4 != 0 || len > kMaxRecord)
      return fail("ERR_BAD_RECORD", int64_t(off + 4), "block length " + std::to_string(len) + " is invalid");
    if (!fill(len)) {
      if (error_) return false;
      return fail("ERR_TRUNCATED", int64_t(off),
                  "file ends inside a block of " + std::to_string(len) + " bytes (" + std::to_string(end_ - pos_) +
                      " left)");
    }
    b = buf_.data() + pos_;
    if (u32(b + len - 4) != len)
      return fail("ERR_BAD_RECORD", int64_t(off + len - 4), "block trailing length differs from its leading length");
    pos_ += len;
    switch (type) {
      case 1:
        if (!parse_idb(b, len, off)) return false;
        continue;
      case 6:
      case 2: {  // enhanced / obsolete packet block
        if (len < 32) return fail("ERR_BAD_RECORD", int64_t(off), "packet block too short");
        uint32_t id = type == 6 ? u32(b + 8) : u16(b + 8);
        if (id >= ifaces_.size())
          return fail("ERR_BAD_RECORD", int64_t(off + 8),
                      "packet block for interface " + std::to_string(id) + ", but " +
                          std::to_string(ifaces_.size()) + " defined");
        uint32_t caplen = u32(b + 20);
        if (caplen > len - 32)
          return fail("ERR_BAD_RECORD", int64_t(off + 20),
                      "captured length " + std::to_string(caplen) + " overruns its block");
        const Interface& i = ifaces_[id];
        uint64_t ts = uint64_t(u32(b + 12)) << 32 | u32(b + 16);
        pkt.data = b + 28;
        pkt.caplen = caplen;
        pkt.wire_len = u32(b + 24);
        pkt.linktype = i.linktype;
        pkt.iface = id;
        pkt.ts_ns = last_ts_ = ts_to_ns(i, ts);
        pkt.offset = off;
        return true;
      }
      case 3: {  // simple packet block: interface 0, no timestamp
        if (len < 16) return fail("ERR_BAD_RECORD", int64_t(off), "simple packet block too short");
        if (ifaces_.empty()) return fail("ERR_BAD_RECORD", int64_t(off), "simple packet block before any interface");
        const Interface& i = ifaces_[0];
        uint32_t wire = u32(b + 8);
        uint32_t caplen = len - 16;
        if (wire < caplen) caplen = wire;
        if (i.snaplen && i.snaplen < caplen) caplen = i.snaplen;
        pkt.data = b + 12;
        pkt.caplen = caplen;
        pkt.wire_len = wire;
        pkt.linktype = i.linktype;
        pkt.iface = 0;
        pkt.ts_ns = last_ts_;
        pkt.offset = off;
        return true;
      }
      default:
        continue;  // statistics, name resolution, custom and unknown blocks
    }
  }
}

}  // namespace flowmaster
