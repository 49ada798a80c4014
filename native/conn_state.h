// Zeek's `history` and `conn_state` per flow (docs/fields.md, "History and
// conn_state"): a port of Zeek's TCP endpoint state machine and history
// letters (src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc,
// src/analyzer/protocol/tcp/TCP_Endpoint.cc), UDP's 'D'/'d'
// (src/packet_analysis/protocol/udp/UDP.cc) and conn_state() of
// scripts/base/protocols/conn/main.zeek. src/engine/ts/conn-state.ts is the
// same code in TypeScript: both write the same bytes for every packet sequence.
#pragma once
#include <cstdint>

#include "decode.h"

namespace flowmaster::conn {

// Per active flow, next to the flow table's entry: POD, all-zero = nothing
// seen. Index 0 is the originator (the flow's src), 1 the responder. 52
// bytes, so two of Zeek's per-endpoint values are narrowed: the sequence
// numbers of the last SYN/FIN/RST (compared only for equality) keep their
// low 16 bits, and the retransmission / zero-window counters saturate at
// 65535 (their letters come at 1, 10, 100, 1000, 10000).
struct Track {
  uint32_t start_seq[2];  // Zeek's StartSeq: the ISN, or first seq - 1 without a SYN
  uint32_t last_seq[2];   // Zeek's LastSeq: one past the highest sequence sent
  uint16_t last_syn[2];   // Zeek's hist_last_SYN / _FIN / _RST (relative, low 16 bits)
  uint16_t last_fin[2];
  uint16_t last_rst[2];
  uint16_t rxmt[2];       // retransmissions ('T' at 1, 10, 100 ...)
  uint16_t win0[2];       // zero windows ('W' at 1, 10, 100 ...)
  uint8_t state[2];       // bits 0-2 endpoint state, 3-5 previous state, 6 FIN seen; UDP: 1 active
  uint16_t hist_dir;      // bit i: letter i was the responder's (lower case)
  uint8_t hist[8];        // up to 16 letter codes, 4 bits each (low nibble first), 0 = none
  uint16_t seen;          // Zeek's hist_seen bits (conn_state.cc seen_bit)
};
static_assert(sizeof(Track) == 52, "Track is per active flow");

// Every packet of an IP flow, in arrival order; orig = sent by the flow's src.
void packet(Track& t, bool orig, const PacketInfo& p);
// Fills off::kConnState and off::kHistory of an IP flow's record.
void write(const Track& t, uint8_t proto, uint8_t ip_version, uint8_t* record);

}  // namespace flowmaster::conn
