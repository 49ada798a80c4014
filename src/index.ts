export { FlowMeter, FlowRun, CaptureRun, type Summary } from './meter';
export { type CaptureStats } from './engine/source';
export { FlowBatch, Flow, tlsVersionName, type FlowObject, type DirectionStats, type AppInfo, type TcpFlagCounts, type Splt } from './flow/flow';
export { communityId, type CommunityIdOptions } from './flow/community-id';
export {
  RECORD_SIZE, Offsets, END_REASONS, DECODE_ERRORS, RecordFlags, APPLICATIONS, APP_STRINGS, AppFlags,
  type EndReason, type DecodeErrorKind, type Application, type AppStringName,
} from './flow/layout';
export { FlowmasterError, type ErrorCode } from './errors';
export { DEFAULT_OPTIONS, type FlowMeterOptions, type CaptureOptions, type Accounting } from './options';
export { openStore, migrate, Store, type StoreOptions, type IngestSummary, type IngestOptions } from './store/store';
export { fingerprintFile, type SourceInfo, type SourceRemoval, type SourceStatus } from './store/sources';
export { type RetryOptions, type StoreEvent, type StoreLog } from './store/retry';
export { type WriterInfo } from './store/lease';
export { DeviceCache, type Device, type DeviceCacheOptions } from './devices/cache';
export { vendorOf } from './devices/oui';
export { AdaptiveBatcher, type BatcherOptions } from './pipeline/batcher';
export { ServiceMap, defaultServices, type Classification } from './flow/services';
export { Metrics, type MetricsOptions } from './metrics/registry';
export { FlowQueries, DeviceQueries, QueryTimer, addressRange, type DeviceFilter, type DeviceSort, type DeviceRow, type FlowFilter, type FlowSort, type FlowRow, type Page, type FlowPageRequest, type FlowOffsetRequest, type DevicePageRequest, type DeviceOffsetRequest, FLOW_ROW_COLUMNS } from './store/query';
export { type RetentionPolicy, type RetentionReport } from './store/retention';
export { IpfixExporter, type IpfixExporterOptions, type IpfixStats } from './export/ipfix';
export { Analytics, type Measure, type Totals, type RangeRequest } from './store/analytics';
export { ClickHouseSink, defaultSpoolDir, type ClickHouseSinkOptions, type ClickHouseSinkStats } from './clickhouse/sink';
export { ClickHouseQueries, type Execute, type FleetFlowFilter, type FleetFlowRow, type FleetFlowSort, type FleetDeviceFilter, type FleetDeviceRow, type FleetDeviceSort, type FleetPage } from './clickhouse/query';
export { schemaStatements, type SchemaOptions } from './clickhouse/schema';
