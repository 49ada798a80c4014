// Stage benchmarks for bench/: decode only, and flow table only (packets
// decoded into memory first, then timed through the table), each run on a
// worker thread (AsyncWorker) and resolved with {packets, seconds}.
#include <napi.h>

#include <chrono>
#include <vector>

#include "bench.h"
#include "offline.h"

namespace flowmaster {
namespace {

class NullSink : public RecordSink {
 public:
  uint8_t* reserve() override {
    records++;
    return buf_;
  }
  uint64_t records = 0;

 private:
  uint8_t buf_[kRecordSize];
};

class StageWorker : public Napi::AsyncWorker {
 public:
  StageWorker(Napi::Env env, std::string path, bool table, uint32_t max_flows)
      : Napi::AsyncWorker(env), path_(std::move(path)), table_(table), max_flows_(max_flows), deferred_(env) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    CaptureReader reader;
    if (!reader.open(path_)) return SetError(reader.error().message);
    DecodeOptions dopt;
    FragmentTable* frags = new FragmentTable();
    PacketInfo p;
    RawPacket raw;
    std::vector<PacketInfo> decoded;
    auto t0 = std::chrono::steady_clock::now();
    while (reader.next(raw)) {
      p.ts_ns = raw.ts_ns;
      p.wire_len = raw.wire_len;
      if (decode_packet(raw.data, raw.caplen, raw.linktype, dopt, *frags, p) == kKindSkip) continue;
      packets_++;
      if (table_) decoded.push_back(p);
    }
    delete frags;
    if (reader.error()) return SetError(reader.error().message);
    if (table_) {
      FlowOptions fopt;
      fopt.max_flows = max_flows_;
      NullSink sink;
      FlowTable t(fopt, sink);
      t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < decoded.size(); i += FlowTable::kGroup) {
        size_t n = decoded.size() - i < FlowTable::kGroup ? decoded.size() - i : FlowTable::kGroup;
        t.process(&decoded[i], n);
      }
      t.flush(kEndFlush);
    }
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  void OnOK() override {
    Napi::Object o = Napi::Object::New(Env());
    o.Set("packets", double(packets_));
    o.Set("seconds", seconds_);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::string path_;
  bool table_;
  uint32_t max_flows_;
  Napi::Promise::Deferred deferred_;
  uint64_t packets_ = 0;
  double seconds_ = 0;
};

// benchStage(path, 'decode' | 'table', maxFlows) -> Promise<{packets, seconds}>
Napi::Value BenchStage(const Napi::CallbackInfo& info) {
  auto* w = new StageWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(),
                            info[1].As<Napi::String>().Utf8Value() == "table", info[2].As<Napi::Number>().Uint32Value());
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace

void InitBench(Napi::Env env, Napi::Object exports) {
  exports.Set("benchStage", Napi::Function::New(env, BenchStage));
}

}  // namespace flowmaster
