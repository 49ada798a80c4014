/** The TypeScript record layout must equal the one native/flow_record.h defines. */
import { describe, expect, it } from 'vitest';
import { loadNative } from '../src/engine/native';
import { DECODE_ERRORS, Offsets, RECORD_SIZE } from '../src/flow/layout';

describe('FlowBatch layout', () => {
  const addon = loadNative();
  it('offsets match the C++ header', () => {
    const { recordSize, ...native } = addon.layout;
    expect(recordSize).toBe(RECORD_SIZE);
    expect(native).toEqual({ ...Offsets });
  });
  it('decode error names match', () => {
    expect(addon.decodeErrorNames).toEqual([...DECODE_ERRORS]);
  });
  it('fields do not overlap and fit the record', () => {
    const sizes: Record<string, number> = {
      kFlowId: 8, kFirstNs: 8, kLastNs: 8, kSrcAddr: 16, kDstAddr: 16, kSrcPort: 2, kDstPort: 2, kVlan: 2, kEtherType: 2,
      kIpVersion: 1, kProtocol: 1, kEndReason: 1, kFlags: 1, kSegment: 2, kFwdTcpFlags: 1, kRevTcpFlags: 1, kIcmpType: 1,
      kIcmpCode: 1, kSrcMac: 6, kDstMac: 6, kMinTtl: 1, kMaxTtl: 1, kFwdPackets: 8, kFwdBytes: 8, kRevPackets: 8, kRevBytes: 8,
      kFwdLastNs: 8, kRevFirstNs: 8, kRevLastNs: 8, kFwdStats: Offsets.kStatBlockSize, kRevStats: Offsets.kStatBlockSize,
      kApplication: 1, kAppFlags: 1, kTlsVersion: 2, kDnsQtype: 2, kDnsRcode: 1, pad263: 1, kDnsAnswers: 2, kHttpStatus: 2,
      kAppCode: 2, kDnsAnswerVersion: 1, pad271: 1, kDnsAnswerAddr: 16, kAppStrings: Offsets.kDetails - Offsets.kAppStrings,
      kFwdIpBytes: 8, kRevIpBytes: 8, kFwdPayloadBytes: 8, kRevPayloadBytes: 8, kInnerVlan: 2, kTunnelType: 1, kConnState: 1,
      kTunnelId: 4, kHistory: Offsets.kHistorySize, kFwdFlagCounts: 32, kRevFlagCounts: 32, kBiStats: Offsets.kStatBlockSize,
      kSpltCount: 1, pad689: 3, kSpltDirections: 4, kSpltSizes: 2 * Offsets.kSpltMax, kSpltIats: 4 * Offsets.kSpltMax,
      reserved: RECORD_SIZE - Offsets.kDetailsEnd,
    };
    const pads: Record<string, number> = { pad263: 263, pad271: 271, pad689: 689, reserved: Offsets.kDetailsEnd };
    const used = new Uint8Array(RECORD_SIZE);
    for (const [k, n] of Object.entries(sizes)) {
      const o = pads[k] ?? Offsets[k as keyof typeof Offsets];
      for (let i = o; i < o + n; i++) {
        expect(used[i], `${k} overlaps at ${i}`).toBe(0);
        used[i] = 1;
      }
    }
    expect(used.every((x) => x === 1)).toBe(true);
  });
});
