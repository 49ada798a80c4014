// Module init only: the FileJob and CaptureJob classes, the layout constants and filter checks.
#include <napi.h>

#include "bench.h"
#include "capture.h"
#include "decode.h"
#include "filter.h"
#include "flow_record.h"
#include "meter.h"

namespace flowmaster {
namespace {

// ERR_BPF when libpcap refused the filter, ERR_LIBPCAP_MISSING when it is not installed.
[[noreturn]] void ThrowFilterError(Napi::Env env, const std::string& err) {
  std::string unused;
  Napi::Error e = Napi::Error::New(env, err);
  e.Set("code", Napi::String::New(env, lpcap::api(unused) ? "ERR_BPF" : "ERR_LIBPCAP_MISSING"));
  throw e;
}

// pcapVersion(): libpcap's version string, or null when it is not installed.
Napi::Value PcapVersion(const Napi::CallbackInfo& info) {
  std::string err;
  const lpcap::Api* pcap = lpcap::api(err);
  return pcap ? Napi::String::New(info.Env(), pcap->lib_version()) : info.Env().Null();
}

// compileFilter(expr, linktype): throws an Error with code ERR_BPF when libpcap refuses
// (or ERR_NO_LIBPCAP when it is not installed).
Napi::Value CompileFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PacketFilter f(info[0].As<Napi::String>().Utf8Value());
  std::string err;
  if (!f.prepare(info.Length() > 1 ? info[1].As<Napi::Number>().Uint32Value() : 1, err)) {
    ThrowFilterError(env, err);
  }
  return env.Undefined();
}

// bpfProgram(expr, linktype): libpcap's compiled program as [{code, jt, jf, k}],
// for the TypeScript engine's BPF interpreter.
Napi::Value BpfProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  lpcap::program prog;
  std::string err;
  if (!PacketFilter::compile(info[0].As<Napi::String>().Utf8Value(), info.Length() > 1 ? info[1].As<Napi::Number>().Uint32Value() : 1,
                             prog, err)) {
    ThrowFilterError(env, err);
  }
  Napi::Array out = Napi::Array::New(env, prog.bf_len);
  for (uint32_t i = 0; i < prog.bf_len; i++) {
    Napi::Object ins = Napi::Object::New(env);
    ins.Set("code", double(prog.bf_insns[i].code));
    ins.Set("jt", double(prog.bf_insns[i].jt));
    ins.Set("jf", double(prog.bf_insns[i].jf));
    ins.Set("k", double(prog.bf_insns[i].k));
    out.Set(i, ins);
  }
  PacketFilter::free(prog);
  return out;
}

Napi::Object Layout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
#define F(name) o.Set(#name, double(off::name))
  F(kFlowId); F(kFirstNs); F(kLastNs); F(kSrcAddr); F(kDstAddr); F(kSrcPort); F(kDstPort); F(kVlan);
  F(kEtherType); F(kIpVersion); F(kProtocol); F(kEndReason); F(kFlags); F(kSegment); F(kFwdTcpFlags);
  F(kRevTcpFlags); F(kIcmpType); F(kIcmpCode); F(kSrcMac); F(kDstMac); F(kMinTtl); F(kMaxTtl); F(kFwdPackets);
  F(kFwdBytes); F(kRevPackets); F(kRevBytes); F(kFwdLastNs); F(kRevFirstNs); F(kRevLastNs); F(kFwdStats);
  F(kRevStats); F(kStatSizeMin); F(kStatSizeMax); F(kStatSizeMean); F(kStatSizeStddev); F(kStatIatMin);
  F(kStatIatMax); F(kStatIatMean); F(kStatIatStddev); F(kStatBlockSize); F(kArpIp); F(kApp); F(kApplication);
  F(kAppFlags); F(kTlsVersion); F(kDnsQtype); F(kDnsRcode); F(kDnsAnswers); F(kHttpStatus); F(kAppCode);
  F(kDnsAnswerVersion); F(kDnsAnswerAddr); F(kAppStrings); F(kAppSize); F(kDetails); F(kFwdIpBytes);
  F(kRevIpBytes); F(kFwdPayloadBytes); F(kRevPayloadBytes); F(kInnerVlan); F(kTunnelType); F(kConnState);
  F(kTunnelId); F(kHistory); F(kHistorySize); F(kFwdFlagCounts); F(kRevFlagCounts); F(kBiStats); F(kSpltCount);
  F(kSpltDirections); F(kSpltSizes); F(kSpltIats); F(kSpltMax); F(kDetailsEnd);
#undef F
  o.Set("recordSize", double(kRecordSize));
  return o;
}

// Names of the application ids and string ids (record bytes kApplication and
// the string entries), index = id, as src/flow/layout.ts lists them.
const char* const kApplicationNames[kAppCount] = {"", "tls", "quic", "dns", "mdns", "llmnr", "http", "ssh", "modbus", "dnp3",
                                                  "s7comm", "s7comm-plus", "mms", "enip", "bacnet", "iec104", "opcua", "mqtt"};
const char* const kAppStringNames[kStrCount] = {"", "sni", "alpn", "ja4", "ja3", "certCn", "dnsQuery", "httpMethod",
                                                "httpHost", "userAgent", "sshClient", "sshServer"};

Napi::Array Names(Napi::Env env, const char* const* names, uint32_t n) {
  Napi::Array a = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) a.Set(i, names[i]);
  return a;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("FileJob", FileJob::Define(env));
  exports.Set("CaptureJob", CaptureJob::Define(env));
  exports.Set("compileFilter", Napi::Function::New(env, CompileFilter));
  exports.Set("bpfProgram", Napi::Function::New(env, BpfProgram));
  exports.Set("layout", Layout(env));
  Napi::Array names = Napi::Array::New(env, kDecodeErrorCount);
  for (uint32_t i = 0; i < kDecodeErrorCount; i++) names.Set(i, kDecodeErrorNames[i]);
  exports.Set("decodeErrorNames", names);
  exports.Set("applicationNames", Names(env, kApplicationNames, kAppCount));
  exports.Set("appStringNames", Names(env, kAppStringNames, kStrCount));
  exports.Set("pcapVersion", Napi::Function::New(env, PcapVersion));
  InitBench(env, exports);
  return exports;
}

}  // namespace
}  // namespace flowmaster

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return flowmaster::Init(env, exports); }

NODE_API_MODULE(flowmaster, InitAll)
