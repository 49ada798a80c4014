// Node-API glue for live capture: one native thread per libpcap handle
// (live.h), batches to JS through a ThreadSafeFunction. Unlike a file read,
// a capture never waits for JS (the kernel ring would overflow instead):
// when JS holds `maxInflight` undelivered batches, further records are
// dropped and counted (flowsDropped).
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "batch.h"
#include "live.h"

namespace flowmaster {

class CaptureJob : public Napi::ObjectWrap<CaptureJob> {
 public:
  static Napi::Function Define(Napi::Env env);
  CaptureJob(const Napi::CallbackInfo& info);
  ~CaptureJob() override;

 private:
  struct Event;
  struct Worker;
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Ack(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Object StatsNow(Napi::Env env);
  void StopAndJoin();
  void Deliver(Worker& w);
  void Post(Event* ev);
  void Dispatch(Napi::Env env, Napi::Function fn, Event* ev);
  void Finish(Napi::Env env);

  LiveOptions opt_;
  size_t batch_records_ = 4096;
  int max_inflight_ = 64;
  uint64_t flush_ns_ = 200000000;  // a partial batch waits at most this long
  std::shared_ptr<BatchPool> pool_;
  std::vector<std::unique_ptr<LiveHandle>> handles_;
  std::vector<std::unique_ptr<Worker>> workers_;
  LiveControl ctl_;
  Napi::ThreadSafeFunction tsfn_;
  std::mutex m_;
  int inflight_ = 0;
  std::atomic<uint64_t> flows_dropped_{0};
  std::atomic<int> running_{0};
  bool started_ = false;
  bool finished_ = false;
  std::unique_ptr<Napi::Env::CleanupHook<std::function<void()>>> cleanup_;
};

}  // namespace flowmaster
