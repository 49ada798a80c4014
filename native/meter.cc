#include "meter.h"

#include <cmath>

namespace flowmaster {

struct FileJob::Event {
  enum Kind { kBatch, kEnd } kind;
  uint8_t* data = nullptr;
  size_t records = 0;
};

namespace {

uint64_t seconds_to_ns(const Napi::Object& o, const char* name, uint64_t dflt) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) return dflt;
  double s = v.As<Napi::Number>().DoubleValue();
  // beyond ~292 years (llround's int64 range) a timeout means never
  if (!(s >= 0) || std::isinf(s) || s * 1e9 >= 9.2e18) return UINT64_MAX;
  return uint64_t(std::llround(s * 1e9));
}

}  // namespace

bool OptionFlag(const Napi::Object& o, const char* name, bool dflt) {
  Napi::Value v = o.Get(name);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

double OptionNumber(const Napi::Object& o, const char* name, double dflt) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}


void ParseFlowOptions(const Napi::Object& o, FlowOptions& f, DecodeOptions& d) {
  f.idle_ns = seconds_to_ns(o, "idleTimeout", f.idle_ns);
  f.active_ns = seconds_to_ns(o, "activeTimeout", f.active_ns);
  f.close_ns = seconds_to_ns(o, "tcpCloseTimeout", f.close_ns);
  f.tcp_termination = OptionFlag(o, "tcpTermination", f.tcp_termination);
  f.key_vlan = OptionFlag(o, "keyVlan", f.key_vlan);
  f.statistics = OptionFlag(o, "statistics", f.statistics);
  f.accounting = uint8_t(OptionNumber(o, "accounting", 0));
  f.max_flows = uint32_t(OptionNumber(o, "maxFlows", f.max_flows));
  f.max_packets = uint32_t(OptionNumber(o, "maxPackets", f.max_packets));  // internal: tests of the 32-bit counters
  f.dissect = OptionFlag(o, "dissect", true);
  double bytes = OptionNumber(o, "dissectBytes", 4096);  // validated in src/options.ts; clamped here all the same
  f.dissect_bytes = !(bytes >= 64) ? 64 : bytes > 65535 ? 65535 : uint32_t(bytes);
  double splt = OptionNumber(o, "splt", 0);  // validated in src/options.ts (0..32)
  f.splt = !(splt >= 0) ? 0 : splt > double(off::kSpltMax) ? uint8_t(off::kSpltMax) : uint8_t(splt);
  d.decode_tunnels = OptionFlag(o, "decodeTunnels", true);
  d.l2_flows = OptionFlag(o, "l2Flows", true);
}


Napi::ArrayBuffer BatchBuffer(Napi::Env env, const std::shared_ptr<BatchPool>& pool, uint8_t* data, size_t records) {
  auto owner = new std::shared_ptr<BatchPool>(pool);
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      env, data, records * kRecordSize,
      [](Napi::Env e, void* d, std::shared_ptr<BatchPool>* p) {
        Napi::MemoryManagement::AdjustExternalMemory(e, -int64_t((*p)->bytes()));
        (*p)->release(static_cast<uint8_t*>(d));
        delete p;
      },
      owner);
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(pool->bytes()));
  return ab;
}

Napi::Object StatsObject(Napi::Env env, const RunStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("packets", double(s.packets));
  o.Set("bytes", double(s.bytes));
  o.Set("filtered", double(s.filtered));
  o.Set("skipped", double(s.skipped));
  o.Set("firstNs", Napi::BigInt::New(env, s.first_ns));
  o.Set("lastNs", Napi::BigInt::New(env, s.last_ns));
  o.Set("bytesRead", double(s.bytes_read));
  o.Set("fileSize", double(s.file_size));
  o.Set("flowsCreated", double(s.flows.flows_created));
  Napi::Array reasons = Napi::Array::New(env, 6);
  for (uint32_t i = 0; i < 6; i++) reasons.Set(i, double(s.flows.flows_by_reason[i]));
  o.Set("flowsByReason", reasons);
  Napi::Array errs = Napi::Array::New(env, kDecodeErrorCount);
  for (uint32_t i = 0; i < kDecodeErrorCount; i++) errs.Set(i, double(s.decode_errors[i]));
  o.Set("decodeErrors", errs);
  return o;
}

void SetError(Napi::Env env, Napi::Object o, const ReadError& e) {
  if (!e) return;
  Napi::Object x = Napi::Object::New(env);
  x.Set("code", e.code);
  x.Set("message", e.message);
  x.Set("offset", double(e.offset));
  o.Set("error", x);
}

Napi::Function FileJob::Define(Napi::Env env) {
  return DefineClass(env, "FileJob",
                     {InstanceMethod<&FileJob::Start>("start"), InstanceMethod<&FileJob::Ack>("ack"),
                      InstanceMethod<&FileJob::Cancel>("cancel"), InstanceMethod<&FileJob::Progress>("progress")});
}

// new FileJob(path, options, onEvent(kind, payload))
FileJob::FileJob(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FileJob>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "FileJob(path, options, onEvent)").ThrowAsJavaScriptException();
    return;
  }
  path_ = info[0].As<Napi::String>().Utf8Value();
  Napi::Object o = info[1].As<Napi::Object>();
  ParseFlowOptions(o, opt_.flow, opt_.decode);
  Napi::Value filter = o.Get("filter");
  if (filter.IsString()) opt_.filter = filter.As<Napi::String>().Utf8Value();
  batch_records_ = size_t(OptionNumber(o, "batchSize", 4096));
  max_inflight_ = int(OptionNumber(o, "maxInflight", 4));
  if (batch_records_ < 1) batch_records_ = 1;
  if (max_inflight_ < 1) max_inflight_ = 1;
  pool_ = std::make_shared<BatchPool>(batch_records_);
  tsfn_ = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "flowmaster.readFile", 0, 1);
  tsfn_.Unref(env);  // the JS side keeps the process alive while it waits
}

FileJob::~FileJob() {
  StopAndJoin();
  if (cur_) pool_->release(cur_);
}

void FileJob::StopAndJoin() {
  cancel_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Napi::Value FileJob::Start(const Napi::CallbackInfo& info) {
  if (started_) {
    Napi::Error::New(info.Env(), "job already started").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  started_ = true;
  tsfn_.Ref(info.Env());
  Ref();  // kept alive until the end event
  cleanup_ = std::make_unique<Napi::Env::CleanupHook<std::function<void()>>>(
      info.Env().AddCleanupHook(std::function<void()>([this] { StopAndJoin(); })));
  thread_ = std::thread([this] { Run(); });
  return info.Env().Undefined();
}

Napi::Value FileJob::Ack(const Napi::CallbackInfo& info) {
  {
    std::lock_guard<std::mutex> lock(m_);
    if (inflight_ > 0) inflight_--;
  }
  cv_.notify_all();
  return info.Env().Undefined();
}

Napi::Value FileJob::Cancel(const Napi::CallbackInfo& info) {
  cancel_ = true;
  cv_.notify_all();
  return info.Env().Undefined();
}

// progress(): the running counters (as of the last packet group), for
// progress bars and live metrics: {bytesRead, packets, bytes, filtered,
// skipped, decodeErrors[], flowsByReason[]}, arrays indexed like the summary's.
Napi::Value FileJob::Progress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto get = [](const std::atomic<uint64_t>& a) { return double(a.load(std::memory_order_relaxed)); };
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytesRead", get(stats_.progress_bytes));
  o.Set("packets", get(stats_.progress_packets));
  o.Set("bytes", get(stats_.progress_wire_bytes));
  o.Set("filtered", get(stats_.progress_filtered));
  o.Set("skipped", get(stats_.progress_skipped));
  Napi::Array errs = Napi::Array::New(env, kDecodeErrorCount);
  for (uint32_t i = 0; i < kDecodeErrorCount; i++) errs.Set(i, get(stats_.progress_decode_errors[i]));
  o.Set("decodeErrors", errs);
  Napi::Array reasons = Napi::Array::New(env, 6);
  for (uint32_t i = 0; i < 6; i++) reasons.Set(i, get(stats_.progress_flows[i]));
  o.Set("flowsByReason", reasons);
  return o;
}

uint8_t* FileJob::reserve() {
  if (cur_ && count_ == batch_records_) Deliver();
  if (!cur_) {
    cur_ = pool_->acquire();
    count_ = 0;
  }
  uint8_t* r = cur_ + count_ * kRecordSize;
  std::memset(r, 0, kRecordSize);
  count_++;
  return r;
}

void FileJob::Deliver() {
  {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [this] { return inflight_ < max_inflight_ || cancel_.load(); });
    inflight_++;
  }
  auto* ev = new Event{Event::kBatch, cur_, count_};
  cur_ = nullptr;
  count_ = 0;
  if (cancel_.load() || tsfn_.BlockingCall(ev, [this](Napi::Env env, Napi::Function fn, Event* e) { GuardJs([&] { Dispatch(env, fn, this, e); }); }) != napi_ok) {
    pool_->release(ev->data);
    delete ev;
  }
}

void FileJob::Run() {
  try {
    run_offline(path_, opt_, *this, cancel_, stats_, error_);
  } catch (const std::bad_alloc&) {
    error_.code = "ERR_NO_MEMORY";
    error_.message = "out of memory (maxFlows too large?) (" + path_ + ")";
  }
  if (cur_ && count_ && !cancel_.load()) Deliver();
  auto* ev = new Event{Event::kEnd};
  if (tsfn_.BlockingCall(ev, [this](Napi::Env env, Napi::Function fn, Event* e) { GuardJs([&] { Dispatch(env, fn, this, e); }); }) != napi_ok) delete ev;
  tsfn_.Release();
}

void FileJob::Dispatch(Napi::Env env, Napi::Function fn, FileJob* job, Event* ev) {
  std::unique_ptr<Event> owned(ev);
  if (!env || !fn) {
    if (ev->data) job->pool_->release(ev->data);
    if (ev->kind == Event::kEnd) job->Finish(env);
    return;
  }
  // `job` is the TSFN context only in name: events carry what they need, and
  // the object is kept alive by Ref() until the end event.
  if (ev->kind == Event::kBatch) {
    fn.Call({Napi::String::New(env, "batch"), BatchBuffer(env, job->pool_, ev->data, ev->records)});
    return;
  }
  job->Finish(env);
  Napi::Object o = StatsObject(env, job->stats_);
  o.Set("cancelled", job->cancel_.load());
  SetError(env, o, job->error_);
  fn.Call({Napi::String::New(env, "end"), o});
}

// The end event: the thread is done, the object may be collected.
void FileJob::Finish(Napi::Env env) {
  if (finished_) return;
  finished_ = true;
  if (thread_.joinable()) thread_.join();
  if (cleanup_ && env) cleanup_->Remove(env);
  cleanup_.reset();
  if (env) Unref();
}

}  // namespace flowmaster
