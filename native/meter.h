// Node-API glue for one offline read: runs run_offline() on a native thread,
// delivers full FlowBatch buffers to JS through a ThreadSafeFunction, and
// pauses the thread while JS holds `maxInflight` undelivered batches.
#pragma once
#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <functional>
#include <mutex>
#include <thread>

#include "batch.h"
#include "offline.h"

namespace flowmaster {

// Shared by the file and capture jobs.
void ParseFlowOptions(const Napi::Object& o, FlowOptions& f, DecodeOptions& d);
double OptionNumber(const Napi::Object& o, const char* name, double dflt);
bool OptionFlag(const Napi::Object& o, const char* name, bool dflt);
// A pooled batch as an ArrayBuffer over the same memory, returned to the pool when collected.
Napi::ArrayBuffer BatchBuffer(Napi::Env env, const std::shared_ptr<BatchPool>& pool, uint8_t* data, size_t records);
Napi::Object StatsObject(Napi::Env env, const RunStats& s);
void SetError(Napi::Env env, Napi::Object o, const ReadError& e);

// Runs a ThreadSafeFunction callback body. No C++ exception may leave such a
// callback (that would terminate the process): when JS is shutting down
// (worker terminated) calls into it fail.
template <typename F>
void GuardJs(F body) {
  try {
    body();
  } catch (const Napi::Error& e) {
    try {
      e.ThrowAsJavaScriptException();
    } catch (...) {
    }
  } catch (...) {
  }
}

class FileJob : public Napi::ObjectWrap<FileJob>, public RecordSink {
 public:
  static Napi::Function Define(Napi::Env env);
  FileJob(const Napi::CallbackInfo& info);
  ~FileJob() override;

  uint8_t* reserve() override;  // reader thread

 private:
  struct Event;
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Ack(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Progress(const Napi::CallbackInfo& info);
  void Run();
  void StopAndJoin();
  void Deliver();  // hands the current batch to JS, waiting for credit
  static void Dispatch(Napi::Env env, Napi::Function fn, FileJob* job, Event* ev);
  void Finish(Napi::Env env);

  std::string path_;
  RunOptions opt_;
  size_t batch_records_ = 4096;
  int max_inflight_ = 4;
  std::shared_ptr<BatchPool> pool_;
  uint8_t* cur_ = nullptr;
  size_t count_ = 0;

  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::mutex m_;
  std::condition_variable cv_;
  int inflight_ = 0;
  bool started_ = false;
  bool finished_ = false;
  RunStats stats_;
  ReadError error_;
  // Env teardown (process exit, worker terminated) while reading: stop and join.
  std::unique_ptr<Napi::Env::CleanupHook<std::function<void()>>> cleanup_;
};

}  // namespace flowmaster
