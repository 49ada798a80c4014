// Stage benchmarks for bench/ (benchmark.js times each call):
//   benchDecode(path)                      read + decode every packet, no table
//   benchTablePrepare(path, limit)         decode up to `limit` packets into memory (untimed)
//   benchTableRun(prepared, maxFlows)      only the flow table over them, then flush
// The timed calls run on an AsyncWorker and resolve with the packet count.
#include <napi.h>

#include <memory>
#include <vector>

#include "bench.h"
#include "offline.h"

namespace flowmaster {
namespace {

class NullSink : public RecordSink {
 public:
  uint8_t* reserve() override { return buf_; }

 private:
  uint8_t buf_[kRecordSize];
};

using Decoded = std::vector<PacketInfo>;

// Reads and decodes; keeps the packets when `out` is given. Empty string: ok.
std::string decode_file(const std::string& path, uint64_t limit, uint64_t& packets, Decoded* out) {
  CaptureReader reader;
  if (!reader.open(path)) return reader.error().message;
  DecodeOptions dopt;
  auto frags = std::make_unique<FragmentTable>();
  PacketInfo p;
  RawPacket raw;
  while (packets < limit && reader.next(raw)) {
    p.ts_ns = raw.ts_ns;
    p.wire_len = raw.wire_len;
    if (decode_packet(raw.data, raw.caplen, raw.linktype, dopt, *frags, p) == kKindSkip) continue;
    packets++;
    p.payload = nullptr;  // kept packets outlive the reader's buffer (the table run does not dissect)
    p.payload_cap = 0;
    if (out) out->push_back(p);
  }
  return reader.error() ? reader.error().message : "";
}

class StageWorker : public Napi::AsyncWorker {
 public:
  StageWorker(Napi::Env env, std::string path, std::shared_ptr<Decoded> decoded, uint32_t max_flows)
      : Napi::AsyncWorker(env), path_(std::move(path)), decoded_(std::move(decoded)), max_flows_(max_flows), deferred_(env) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    if (!decoded_) {
      std::string err = decode_file(path_, UINT64_MAX, packets_, nullptr);
      if (!err.empty()) SetError(err);
      return;
    }
    FlowOptions fopt;
    fopt.max_flows = max_flows_;
    NullSink sink;
    FlowTable table(fopt, sink);
    Decoded& d = *decoded_;
    for (size_t i = 0; i < d.size(); i += FlowTable::kGroup) {
      size_t n = d.size() - i < FlowTable::kGroup ? d.size() - i : FlowTable::kGroup;
      table.process(&d[i], n);
    }
    table.flush(kEndFlush);
    packets_ = d.size();
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), double(packets_))); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::string path_;
  std::shared_ptr<Decoded> decoded_;
  uint32_t max_flows_;
  Napi::Promise::Deferred deferred_;
  uint64_t packets_ = 0;
};

Napi::Value BenchDecode(const Napi::CallbackInfo& info) {
  auto* w = new StageWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), nullptr, 0);
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

Napi::Value BenchTablePrepare(const Napi::CallbackInfo& info) {
  auto decoded = new std::shared_ptr<Decoded>(std::make_shared<Decoded>());
  uint64_t packets = 0;
  std::string err = decode_file(info[0].As<Napi::String>().Utf8Value(), uint64_t(info[1].As<Napi::Number>().DoubleValue()),
                                packets, decoded->get());
  if (!err.empty()) {
    delete decoded;
    throw Napi::Error::New(info.Env(), err);
  }
  return Napi::External<std::shared_ptr<Decoded>>::New(info.Env(), decoded,
                                                       [](Napi::Env, std::shared_ptr<Decoded>* d) { delete d; });
}

Napi::Value BenchTableRun(const Napi::CallbackInfo& info) {
  auto* decoded = info[0].As<Napi::External<std::shared_ptr<Decoded>>>().Data();
  auto* w = new StageWorker(info.Env(), "", *decoded, info[1].As<Napi::Number>().Uint32Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace

void InitBench(Napi::Env env, Napi::Object exports) {
  exports.Set("benchDecode", Napi::Function::New(env, BenchDecode));
  exports.Set("benchTablePrepare", Napi::Function::New(env, BenchTablePrepare));
  exports.Set("benchTableRun", Napi::Function::New(env, BenchTableRun));
}

}  // namespace flowmaster
