export { FlowMeter, FlowRun, type Summary } from './meter';
export { FlowBatch, Flow, type FlowObject, type DirectionStats } from './flow/flow';
export { communityId, type CommunityIdOptions } from './flow/community-id';
export { RECORD_SIZE, Offsets, END_REASONS, DECODE_ERRORS, RecordFlags, type EndReason, type DecodeErrorKind } from './flow/layout';
export { FlowmasterError, type ErrorCode } from './errors';
export { DEFAULT_OPTIONS, type FlowMeterOptions, type Accounting } from './options';
