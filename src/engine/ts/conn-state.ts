// Zeek's `history` and `conn_state` per flow (docs/fields.md, "History and
// conn_state"): the TypeScript twin of native/conn_state.{h,cc}, function for
// function (and those follow Zeek's TCPSessionAdapter.cc); both must write the
// same bytes for every packet sequence. Flowmaster never swaps a flow's
// ends, so Zeek's role flips ('^') are not taken.
import { Offsets as O } from '../../flow/layout';
import type { PacketInfo } from './decode';

const INACTIVE = 0;
const SYN_SENT = 1;
const SYN_ACK_SENT = 2;
const PARTIAL = 3;
const ESTABLISHED = 4;
const CLOSED = 5;
const RESET = 6;

const L_S = 1;
const L_H = 2;
const L_A = 3;
const L_D = 4;
const L_F = 5;
const L_R = 6;
const L_Q = 7;
const L_I = 8;
const L_T = 9;
const L_W = 10;
const LETTERS = '?SHADFRQITW';

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const ACK = 0x10;
const FIN_SEEN = 0x40;
const TOO_LARGE_SEQ_DELTA = 1048576;
const HIST_MAX = 16;

// CONN_STATES ids (src/flow/layout.ts)
const S0 = 1;
const S1 = 2;
const SF = 3;
const REJ = 4;
const S2 = 5;
const S3 = 6;
const RSTO = 7;
const RSTR = 8;
const RSTOS0 = 9;
const RSTRH = 10;
const SH = 11;
const SHR = 12;
const OTH = 13;

/**
 * Per active flow (native: conn::Track, 52 bytes, the same values): all-zero
 * = nothing seen. Endpoint 0 is the originator (src), 1 the responder. Plain
 * number fields, one object per flow slot (reset() when the slot is reused):
 * three typed arrays per flow made a flow 6-25x dearer to create. The last
 * SYN/FIN/RST sequence numbers keep their low 16 bits; the counters saturate
 * at 65535.
 */
export class ConnTrack {
  startSeq0 = 0; // Zeek's StartSeq: the ISN, or first seq - 1 without a SYN
  startSeq1 = 0;
  lastSeq0 = 0; // Zeek's LastSeq: one past the highest sequence sent
  lastSeq1 = 0;
  lastSyn0 = 0; // Zeek's hist_last_SYN / _FIN / _RST (relative, low 16 bits)
  lastSyn1 = 0;
  lastFin0 = 0;
  lastFin1 = 0;
  lastRst0 = 0;
  lastRst1 = 0;
  rxmt0 = 0; // retransmissions ('T' at 1, 10, 100 ...)
  rxmt1 = 0;
  win00 = 0; // zero windows ('W' at 1, 10, 100 ...)
  win01 = 0;
  state0 = 0; // bits 0-2 endpoint state, 3-5 previous state, 6 FIN seen; UDP: 1 active
  state1 = 0;
  histDir = 0; // bit i: letter i was the responder's (lower case)
  // up to 16 letter codes, 4 bits each (lowest first), 0 = none: six per
  // word so every word stays a small integer (24 bits)
  hist0 = 0;
  hist1 = 0;
  hist2 = 0;
  histLen = 0;
  seen = 0; // Zeek's hist_seen bits (checkHistory)

  /** Back to all-zero, for a reused flow slot. */
  reset(): void {
    this.startSeq0 = this.startSeq1 = this.lastSeq0 = this.lastSeq1 = 0;
    this.lastSyn0 = this.lastSyn1 = this.lastFin0 = this.lastFin1 = this.lastRst0 = this.lastRst1 = 0;
    this.rxmt0 = this.rxmt1 = this.win00 = this.win01 = 0;
    this.state0 = this.state1 = 0;
    this.histDir = this.hist0 = this.hist1 = this.hist2 = this.histLen = this.seen = 0;
  }
}

// Per-endpoint accessors (native indexes arrays by e; these keep one object).
const startSeqOf = (t: ConnTrack, e: number): number => (e ? t.startSeq1 : t.startSeq0);
const lastSeqOf = (t: ConnTrack, e: number): number => (e ? t.lastSeq1 : t.lastSeq0);
const rawState = (t: ConnTrack, e: number): number => (e ? t.state1 : t.state0);

function setStartSeq(t: ConnTrack, e: number, v: number): void {
  if (e) t.startSeq1 = v;
  else t.startSeq0 = v;
}

function setLastSeq(t: ConnTrack, e: number, v: number): void {
  if (e) t.lastSeq1 = v;
  else t.lastSeq0 = v;
}

function setRawState(t: ConnTrack, e: number, v: number): void {
  if (e) t.state1 = v;
  else t.state0 = v;
}

const seqDelta = (a: number, b: number): number => (a - b) | 0;
const stateOf = (t: ConnTrack, e: number): number => rawState(t, e) & 7;
const prevState = (t: ConnTrack, e: number): number => (rawState(t, e) >> 3) & 7;

function setState(t: ConnTrack, e: number, s: number): void {
  const cur = stateOf(t, e);
  if (s === cur) return;
  setRawState(t, e, (rawState(t, e) & FIN_SEEN) | (cur << 3) | s);
}

function letterAt(t: ConnTrack, i: number): number {
  if (i < 6) return (t.hist0 >> (4 * i)) & 15;
  if (i < 12) return (t.hist1 >> (4 * (i - 6))) & 15;
  return (t.hist2 >> (4 * (i - 12))) & 15;
}

function addHistory(t: ConnTrack, e: number, code: number): void {
  const n = t.histLen;
  if (n === HIST_MAX) return; // the record holds 16 letters
  if (n < 6) t.hist0 |= code << (4 * n);
  else if (n < 12) t.hist1 |= code << (4 * (n - 6));
  else t.hist2 |= code << (4 * (n - 12));
  if (e) t.histDir |= 1 << n;
  t.histLen = n + 1;
}

// Zeek's hist_seen bits: one per packet type and endpoint ('S' and 'H'
// share one), kept as a mask so a packet costs no scan of the letters.
const SEEN_CLASS = [0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0]; // by letter code: S,H 0; A 1; D 2; F 3; R 4; Q 5; I 6

/** Zeek's CheckHistory: adds the letter the first time; true if seen before. */
function checkHistory(t: ConnTrack, e: number, code: number): boolean {
  const bit = 1 << (SEEN_CLASS[code] + 7 * e);
  if (t.seen & bit) return true;
  t.seen |= bit;
  addHistory(t, e, code);
  return false;
}

/** Zeek's ScaledHistoryEntry: the letter at the 1st, 10th, 100th ... time; returns the counter. */
function scaledHistory(t: ConnTrack, e: number, counter: number, code: number): number {
  if (counter === 0xffff) return counter;
  const n = counter + 1;
  for (let th = 1; th <= n; th *= 10) if (th === n) addHistory(t, e, code);
  return n;
}

function initEndpoint(t: ConnTrack, e: number, flags: number, firstSegSeq: number, lastSeq: number): void {
  const syn = (flags & SYN) !== 0;
  switch (stateOf(t, e)) {
    case INACTIVE:
      if (syn) {
        setStartSeq(t, e, firstSegSeq);
      } else {
        // A partial connection: numbered as though a SYN was seen.
        setStartSeq(t, e, (firstSegSeq - 1) >>> 0);
        lastSeq = firstSegSeq;
      }
      setLastSeq(t, e, lastSeq);
      break;
    case SYN_SENT:
    case SYN_ACK_SENT:
      if (syn && firstSegSeq !== startSeqOf(t, e)) {
        setStartSeq(t, e, firstSegSeq);
        setLastSeq(t, e, lastSeq);
      }
      break;
    case ESTABLISHED:
    case PARTIAL:
      if (syn) {
        setStartSeq(t, e, firstSegSeq);
        setLastSeq(t, e, lastSeq);
      }
      break;
    case RESET:
      if (syn && prevState(t, e) === INACTIVE) {
        setStartSeq(t, e, firstSegSeq);
        setLastSeq(t, e, lastSeq);
      }
      break;
    default:
      break;
  }
}

function updateHistory(t: ConnTrack, e: number, flags: number, relSeq: number, len: number): void {
  const bits = (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0) + (flags & RST ? 1 : 0);
  if (bits > 1) {
    if (flags & FIN && flags & RST) checkHistory(t, e, L_I);
    else checkHistory(t, e, L_Q);
  } else if (bits === 1) {
    if (flags & SYN) {
      const code = flags & ACK ? L_H : L_S;
      const rel = relSeq & 0xffff;
      if (checkHistory(t, e, code) && rel !== (e ? t.lastSyn1 : t.lastSyn0)) addHistory(t, e, code);
      if (e) t.lastSyn1 = rel;
      else t.lastSyn0 = rel;
    }
    if (flags & FIN) {
      // A FIN's sequence number comes after its data.
      const end = (relSeq + len) & 0xffff;
      if (checkHistory(t, e, L_F) && end !== (e ? t.lastFin1 : t.lastFin0)) addHistory(t, e, L_F);
      if (e) t.lastFin1 = end;
      else t.lastFin0 = end;
    }
    if (flags & RST) {
      const rel = relSeq & 0xffff;
      if (checkHistory(t, e, L_R) && rel !== (e ? t.lastRst1 : t.lastRst0)) addHistory(t, e, L_R);
      if (e) t.lastRst1 = rel;
      else t.lastRst0 = rel;
    }
  } else if (len) {
    checkHistory(t, e, L_D);
  } else if (flags & ACK) {
    checkHistory(t, e, L_A);
  }
}

/** Zeek's update_window, its history part (scaling keeps 0 at 0). */
function updateWindow(t: ConnTrack, e: number, flags: number, window: number): void {
  if (window !== 0 || flags & RST || stateOf(t, 1 - e) === CLOSED || stateOf(t, e) === RESET) return;
  if (e) t.win01 = scaledHistory(t, 1, t.win01, L_W);
  else t.win00 = scaledHistory(t, 0, t.win00, L_W);
}

function updateLastSeq(t: ConnTrack, e: number, lastSeq: number, flags: number, len: number): void {
  const deltaLast = seqDelta(lastSeq, lastSeqOf(t, e));
  if (flags & (SYN | RST) && (deltaLast > TOO_LARGE_SEQ_DELTA || deltaLast < -TOO_LARGE_SEQ_DELTA)) {
    // not trusted
  } else if (flags & FIN && lastSeqOf(t, e) === ((startSeqOf(t, e) + 1) >>> 0)) {
    setLastSeq(t, e, lastSeq); // only the SYN and the FIN seen (> 2 GB connections)
  } else if (stateOf(t, e) === RESET) {
    // sequence numbers after a RST are not trusted
  } else if (deltaLast > 0) {
    setLastSeq(t, e, lastSeq);
  } else if (len > 0) {
    if (e) t.rxmt1 = scaledHistory(t, 1, t.rxmt1, L_T);
    else t.rxmt0 = scaledHistory(t, 0, t.rxmt0, L_T);
  }
}

function updateInactiveState(t: ConnTrack, e: number, isOrig: boolean, flags: number, baseSeq: number, len: number): void {
  const q = 1 - e;
  if (flags & SYN) {
    if (isOrig) {
      setState(t, e, flags & ACK ? SYN_ACK_SENT : SYN_SENT);
    } else {
      // A SYN answering a SYN-ACK with the same ISN: Zeek flips the roles
      // here and establishes the peer; flowmaster keeps its ends.
      if (!(flags & ACK) && stateOf(t, q) === SYN_ACK_SENT && baseSeq === startSeqOf(t, e)) setState(t, q, ESTABLISHED);
      if (stateOf(t, q) === SYN_SENT) setState(t, q, ESTABLISHED);
      setState(t, e, ESTABLISHED);
    }
  }
  if (flags & FIN) setState(t, e, CLOSED);
  if (flags & RST) setState(t, e, RESET);
  if (stateOf(t, e) === INACTIVE) {
    if (!isOrig && len === 0 && stateOf(t, 0) === SYN_SENT) {
      // an ACK of the SYN before the SYN-ACK: not yet a partial connection
    } else if (flags & ACK && stateOf(t, q) === ESTABLISHED) {
      setState(t, e, ESTABLISHED); // the initial SYN was missed
    } else {
      setState(t, e, PARTIAL);
    }
  }
}

function updateEstablishedState(t: ConnTrack, e: number, flags: number): void {
  const q = 1 - e;
  if (flags & SYN && stateOf(t, e) === PARTIAL && stateOf(t, q) === INACTIVE && !(flags & ACK)) setState(t, e, SYN_SENT);
  if (flags & FIN && !(flags & RST)) {
    setState(t, e, CLOSED);
    // A FIN then a RST from the peer was a normal close after all.
    if (stateOf(t, q) === RESET && prevState(t, q) === CLOSED) setState(t, q, CLOSED);
  }
  if (flags & RST) setState(t, e, RESET);
}

function updateStateMachine(t: ConnTrack, e: number, flags: number, baseSeq: number, len: number): void {
  switch (stateOf(t, e)) {
    case INACTIVE:
      updateInactiveState(t, e, e === 0, flags, baseSeq, len);
      break;
    case SYN_SENT:
    case SYN_ACK_SENT:
      if (flags & FIN) setState(t, e, CLOSED);
      if (flags & RST) setState(t, e, RESET);
      break;
    case ESTABLISHED:
    case PARTIAL:
      updateEstablishedState(t, e, flags);
      break;
    case CLOSED:
      // After both FINs a RST does not change the state.
      if (flags & RST && stateOf(t, 1 - e) !== CLOSED) setState(t, e, RESET);
      break;
    default:
      break;
  }
}

function tcpPacket(t: ConnTrack, e: number, p: PacketInfo): void {
  const flags = p.tcpFlags;
  const len = p.payloadLen;
  const baseSeq = p.seq >>> 0;
  let segLen = len + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
  if (flags & RST) segLen -= len; // a RST's data is not in the stream
  const seqOnePastSegment = (baseSeq + segLen) >>> 0;
  initEndpoint(t, e, flags, baseSeq, seqOnePastSegment);
  updateHistory(t, e, flags, (baseSeq - startSeqOf(t, e)) >>> 0, len);
  updateWindow(t, e, flags, p.tcpWindow);
  if (flags & FIN) setRawState(t, e, rawState(t, e) | FIN_SEEN);
  // Zeek's init_peer numbers an inactive peer from this packet's ACK; the
  // peer's own first packet numbers it again (see conn_state.cc).
  updateLastSeq(t, e, seqOnePastSegment, flags, len);
  updateStateMachine(t, e, flags, baseSeq, len);
}

/** Every packet of an IP flow, in arrival order; orig = sent by the flow's src. */
export function connPacket(t: ConnTrack, orig: boolean, p: PacketInfo): void {
  // Zeek analyzes reassembled datagrams and drops packets whose transport
  // header is cut short: later fragments and truncated packets add nothing.
  if (p.truncated || p.fragment === 2) return;
  const e = orig ? 0 : 1;
  if (p.proto === 6) {
    tcpPacket(t, e, p);
  } else if (p.proto === 17) {
    setRawState(t, e, 1);
    checkHistory(t, e, L_D);
  }
}

/** Zeek's TCP_Endpoint::Size() === 0, from last_seq (the ack is not kept). */
function sizeZero(t: ConnTrack, e: number): boolean {
  let size = (lastSeqOf(t, e) - startSeqOf(t, e)) >>> 0;
  if (size !== 0) size--;
  if (rawState(t, e) & FIN_SEEN && size !== 0) size--;
  return size === 0;
}

/** /\^?S[^HAFGIQ]*R.*\/ == history (an anchored match). */
function historyRstos0(t: ConnTrack): boolean {
  if (t.histLen === 0 || letterAt(t, 0) !== L_S || t.histDir & 1) return false;
  for (let i = 1; i < t.histLen; i++) {
    const c = letterAt(t, i);
    if ((t.histDir >> i) & 1) continue; // lower case
    if (c === L_R) return true;
    if (c === L_H || c === L_A || c === L_F || c === L_I || c === L_Q) return false;
  }
  return false;
}

function tcpConnState(t: ConnTrack): number {
  const os = stateOf(t, 0);
  const rs = stateOf(t, 1);
  const oInactive = os === INACTIVE || os === PARTIAL;
  const rInactive = rs === INACTIVE || rs === PARTIAL;
  if (rs === RESET) {
    if (os === SYN_SENT || os === SYN_ACK_SENT || (os === RESET && sizeZero(t, 0) && sizeZero(t, 1))) return REJ;
    return oInactive ? RSTRH : RSTR;
  }
  if (os === RESET) {
    if (rInactive) return historyRstos0(t) ? RSTOS0 : OTH;
    return RSTO;
  }
  if (rs === CLOSED && os === CLOSED) return SF;
  if (os === CLOSED) return rInactive ? SH : S2;
  if (rs === CLOSED) return oInactive ? SHR : S3;
  if (os === SYN_SENT && rs === INACTIVE) return S0;
  if (os === ESTABLISHED && rs === ESTABLISHED) return S1;
  return OTH;
}

/** Fills the record's conn_state and history of an IP flow. */
export function connWrite(t: ConnTrack, proto: number, ipVersion: number, out: Uint8Array, o: number): void {
  void ipVersion;
  let cs = OTH;
  if (proto === 6) cs = tcpConnState(t);
  else if (proto === 17) cs = t.state0 ? (t.state1 ? SF : S0) : t.state1 ? SHR : OTH;
  out[o + O.kConnState] = cs;
  const h = o + O.kHistory;
  out.fill(0, h, h + O.kHistorySize);
  for (let i = 0; i < t.histLen; i++) {
    const c = LETTERS.charCodeAt(letterAt(t, i));
    out[h + i] = (t.histDir >> i) & 1 ? c + 32 : c;
  }
}
