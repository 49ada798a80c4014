#include "capture.h"

#include <time.h>

#include "meter.h"

namespace flowmaster {

struct CaptureJob::Event {
  enum Kind { kBatch, kSnapshot, kEnd } kind;
  uint8_t* data;  // kBatch: a pool buffer
  size_t records;
  explicit Event(Kind k, uint8_t* d = nullptr, size_t n = 0) : kind(k), data(d), records(n) {}
  std::vector<uint8_t> bytes;  // kSnapshot: one thread's answer to requests (from, to]
  uint32_t from = 0, to = 0;
};

// One capture thread: its handle, its current batch, its statistics.
struct CaptureJob::Worker : LiveSink {
  CaptureJob* job = nullptr;
  LiveHandle* handle = nullptr;
  LiveOptions opt;  // with this thread's share of maxFlows and flow ids
  uint8_t* cur = nullptr;
  size_t count = 0;
  uint64_t cur_since_ns = 0;
  LiveStats stats;
  ReadError error;
  std::thread thread;

  uint8_t* reserve() override {
    if (cur && count == job->batch_records_) job->Deliver(*this);
    if (!cur) {
      cur = job->pool_->acquire();
      count = 0;
      timespec t;
      clock_gettime(CLOCK_REALTIME, &t);
      cur_since_ns = uint64_t(t.tv_sec) * 1000000000ull + uint64_t(t.tv_nsec);
    }
    uint8_t* r = cur + count * kRecordSize;
    std::memset(r, 0, kRecordSize);
    count++;
    return r;
  }

  void tick(uint64_t now_ns) override {
    if (cur && count && now_ns - cur_since_ns >= job->flush_ns_) job->Deliver(*this);
  }

  struct Buffer : RecordSink {
    std::vector<uint8_t> bytes;
    uint8_t* reserve() override {
      bytes.resize(bytes.size() + kRecordSize);  // zero-filled
      return bytes.data() + bytes.size() - kRecordSize;
    }
  };

  void snapshot(const FlowTable& table, uint32_t from, uint32_t to) override {
    Buffer b;
    table.snapshot(b);
    auto* ev = new Event(Event::kSnapshot);
    ev->bytes = std::move(b.bytes);
    ev->from = from;
    ev->to = to;
    job->Post(ev);
  }
};

Napi::Function CaptureJob::Define(Napi::Env env) {
  return DefineClass(env, "CaptureJob",
                     {InstanceMethod<&CaptureJob::Start>("start"), InstanceMethod<&CaptureJob::Ack>("ack"),
                      InstanceMethod<&CaptureJob::Stop>("stop"), InstanceMethod<&CaptureJob::Snapshot>("snapshot"),
                      InstanceMethod<&CaptureJob::Stats>("stats")});
}

// new CaptureJob(interfaces[], options, onEvent(kind, payload))
CaptureJob::CaptureJob(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureJob>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsObject() || !info[2].IsFunction()) {
    Napi::TypeError::New(env, "CaptureJob(interfaces, options, onEvent)").ThrowAsJavaScriptException();
    return;
  }
  Napi::Array ifaces = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < ifaces.Length(); i++) opt_.interfaces.push_back(ifaces.Get(i).As<Napi::String>().Utf8Value());
  Napi::Object o = info[1].As<Napi::Object>();
  ParseFlowOptions(o, opt_.flow, opt_.decode);
  Napi::Value filter = o.Get("filter");
  if (filter.IsString()) opt_.filter = filter.As<Napi::String>().Utf8Value();
  opt_.snaplen = int(OptionNumber(o, "snaplen", opt_.snaplen));
  opt_.promisc = OptionFlag(o, "promisc", opt_.promisc);
  opt_.buffer_bytes = int(OptionNumber(o, "bufferSize", 0));
  opt_.immediate = OptionFlag(o, "immediate", false);
  opt_.timeout_ms = int(OptionNumber(o, "timeoutMs", opt_.timeout_ms));
  opt_.threads = int(OptionNumber(o, "threads", 1));
  if (opt_.threads < 1) opt_.threads = 1;
  batch_records_ = size_t(OptionNumber(o, "batchSize", 4096));
  max_inflight_ = int(OptionNumber(o, "maxInflight", 64));
  flush_ns_ = uint64_t(OptionNumber(o, "flushMs", 200) * 1e6);
  if (batch_records_ < 1) batch_records_ = 1;
  if (max_inflight_ < 1) max_inflight_ = 1;
  pool_ = std::make_shared<BatchPool>(batch_records_);
  tsfn_ = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "flowmaster.capture", 0, 1);
  tsfn_.Unref(env);
}

CaptureJob::~CaptureJob() {
  StopAndJoin();
  for (auto& w : workers_)
    if (w->cur) pool_->release(w->cur);
}

void CaptureJob::StopAndJoin() {
  ctl_.drain = false;  // teardown: no one is left to receive what a drain would read
  ctl_.stop = true;
  for (auto& h : handles_) h->wake();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

// Opens the handles on the JS thread, so a bad interface, filter or
// permission throws here with its code; then starts one thread per handle.
Napi::Value CaptureJob::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started_) throw Napi::Error::New(env, "capture already started");
  started_ = true;
  ReadError err;
  if (!open_live(opt_, handles_, err)) {
    tsfn_.Release();
    Napi::Error e = Napi::Error::New(env, err.message);
    e.Set("code", Napi::String::New(env, err.code));
    throw e;
  }
  const size_t n = handles_.size();
  for (size_t i = 0; i < n; i++) {
    auto w = std::make_unique<Worker>();
    w->job = this;
    w->handle = handles_[i].get();
    w->opt = opt_;
    w->opt.flow.max_flows = uint32_t((uint64_t(opt_.flow.max_flows) + n - 1) / n);
    w->opt.flow.id_first = i + 1;
    w->opt.flow.id_step = n;
    workers_.push_back(std::move(w));
  }
  tsfn_.Ref(env);
  Ref();  // kept alive until the end event
  cleanup_ = std::make_unique<Napi::Env::CleanupHook<std::function<void()>>>(
      env.AddCleanupHook(std::function<void()>([this] { StopAndJoin(); })));
  running_ = int(n);
  for (auto& wp : workers_) {
    Worker* w = wp.get();
    w->thread = std::thread([this, w] {
      try {
        run_live(*w->handle, w->opt, ctl_, *w, w->stats, w->error);
      } catch (const std::bad_alloc&) {
        w->error.code = "ERR_NO_MEMORY";
        w->error.message = "out of memory (maxFlows too large?) capturing on " + w->handle->iface;
      }
      if (w->cur && w->count) Deliver(*w);
      if (running_.fetch_sub(1) == 1) {  // the last thread out reports the end
        Post(new Event(Event::kEnd));
        tsfn_.Release();
      }
    });
  }
  return env.Undefined();
}

Napi::Value CaptureJob::Ack(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(m_);
  if (inflight_ > 0) inflight_--;
  return info.Env().Undefined();
}

// stop(flush = true): the threads read what the kernel holds, then end.
Napi::Value CaptureJob::Stop(const Napi::CallbackInfo& info) {
  ctl_.flush = !(info.Length() > 0 && info[0].IsBoolean() && !info[0].As<Napi::Boolean>().Value());
  ctl_.stop = true;
  for (auto& h : handles_) h->wake();
  return info.Env().Undefined();
}

// snapshot(): asks every thread for its active flows and returns the
// request's number; each thread answers with a 'snapshot' event covering
// every request since its previous answer ({from, to}: from < number <= to).
Napi::Value CaptureJob::Snapshot(const Napi::CallbackInfo& info) {
  uint32_t seq = ctl_.snapshot_seq.fetch_add(1) + 1;
  for (auto& h : handles_) h->wake();
  return Napi::Number::New(info.Env(), seq);
}

// stats(): what the threads have counted so far (kernel figures about once a
// second, the rest as of each thread's last read round): the kernel and
// shedding counters of StatsNow, and for live metrics and readiness bytes,
// skipped, decodeErrors[], flowsByReason[] (indexed like the summary's),
// activeFlows and maxFlows (the tables' capacity), threads and threadsRunning.
Napi::Value CaptureJob::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = StatsNow(env);
  constexpr auto relaxed = std::memory_order_relaxed;
  uint64_t bytes = 0, skipped = 0, active = 0, capacity = 0;
  uint64_t errors[kDecodeErrorCount] = {};
  uint64_t reasons[6] = {};
  for (auto& h : handles_) {
    bytes += h->bytes.load(relaxed);
    skipped += h->skipped.load(relaxed);
    active += h->active_flows.load(relaxed);
    for (int i = 0; i < kDecodeErrorCount; i++) errors[i] += h->decode_errors[i].load(relaxed);
    for (int i = 0; i < 6; i++) reasons[i] += h->flows[i].load(relaxed);
  }
  for (auto& w : workers_) capacity += w->opt.flow.max_flows;
  o.Set("bytes", double(bytes));
  o.Set("skipped", double(skipped));
  Napi::Array errs = Napi::Array::New(env, kDecodeErrorCount);
  for (uint32_t i = 0; i < kDecodeErrorCount; i++) errs.Set(i, double(errors[i]));
  o.Set("decodeErrors", errs);
  Napi::Array flows = Napi::Array::New(env, 6);
  for (uint32_t i = 0; i < 6; i++) flows.Set(i, double(reasons[i]));
  o.Set("flowsByReason", flows);
  o.Set("activeFlows", double(active));
  o.Set("maxFlows", double(capacity));
  o.Set("threads", double(workers_.size()));
  o.Set("threadsRunning", double(running_.load()));
  return o;
}

Napi::Object CaptureJob::StatsNow(Napi::Env env) {
  uint64_t packets = 0, received = 0, dropped = 0, if_dropped = 0;
  for (auto& h : handles_) {
    packets += h->packets.load(std::memory_order_relaxed);
    received += h->received.load(std::memory_order_relaxed);
    dropped += h->dropped.load(std::memory_order_relaxed);
    if_dropped += h->if_dropped.load(std::memory_order_relaxed);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("packets", double(packets));
  o.Set("received", double(received));
  o.Set("kernelDropped", double(dropped));
  o.Set("interfaceDropped", double(if_dropped));
  o.Set("flowsDropped", double(flows_dropped_.load()));
  return o;
}

void CaptureJob::Deliver(Worker& w) {
  {
    std::lock_guard<std::mutex> lock(m_);
    if (inflight_ >= max_inflight_) {  // JS is behind: shed, never block the kernel ring
      flows_dropped_ += w.count;
      w.count = 0;
      return;
    }
    inflight_++;
  }
  auto* ev = new Event(Event::kBatch, w.cur, w.count);
  w.cur = nullptr;
  w.count = 0;
  Post(ev);
}

void CaptureJob::Post(Event* ev) {
  if (tsfn_.NonBlockingCall(ev, [this](Napi::Env env, Napi::Function fn, Event* e) { GuardJs([&] { Dispatch(env, fn, e); }); }) != napi_ok) {
    if (ev->data) pool_->release(ev->data);
    delete ev;
  }
}

void CaptureJob::Dispatch(Napi::Env env, Napi::Function fn, Event* ev) {
  std::unique_ptr<Event> owned(ev);
  if (!env || !fn) {
    if (ev->data) pool_->release(ev->data);
    if (ev->kind == Event::kEnd) Finish(env);
    return;
  }
  if (ev->kind == Event::kBatch) {
    fn.Call({Napi::String::New(env, "batch"), BatchBuffer(env, pool_, ev->data, ev->records)});
    return;
  }
  if (ev->kind == Event::kSnapshot) {
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, ev->bytes.size());
    if (!ev->bytes.empty()) std::memcpy(ab.Data(), ev->bytes.data(), ev->bytes.size());
    Napi::Object range = Napi::Object::New(env);
    range.Set("from", double(ev->from));
    range.Set("to", double(ev->to));
    fn.Call({Napi::String::New(env, "snapshot"), ab, range});
    return;
  }
  Finish(env);
  LiveStats total;
  const ReadError* error = nullptr;
  for (auto& w : workers_) {
    const LiveStats& s = w->stats;
    total.packets += s.packets;
    total.bytes += s.bytes;
    total.skipped += s.skipped;
    if (s.packets && (total.first_ns == 0 || s.first_ns < total.first_ns)) total.first_ns = s.first_ns;
    if (s.last_ns > total.last_ns) total.last_ns = s.last_ns;
    for (int i = 0; i < kDecodeErrorCount; i++) total.decode_errors[i] += s.decode_errors[i];
    for (int i = 0; i < 6; i++) total.flows.flows_by_reason[i] += s.flows.flows_by_reason[i];
    total.flows.flows_created += s.flows.flows_created;
    total.unflushed += s.unflushed;
    if (!error && w->error) error = &w->error;
  }
  Napi::Object o = StatsObject(env, total);
  o.Set("capture", StatsNow(env));
  o.Set("cancelled", false);
  o.Set("unflushed", double(total.unflushed));
  if (error) SetError(env, o, *error);
  fn.Call({Napi::String::New(env, "end"), o});
}

void CaptureJob::Finish(Napi::Env env) {
  if (finished_) return;
  finished_ = true;
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (cleanup_ && env) cleanup_->Remove(env);
  cleanup_.reset();
  if (env) Unref();
}

}  // namespace flowmaster
