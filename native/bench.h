#pragma once
#include <napi.h>

namespace flowmaster {
// Registers benchDecode, benchTablePrepare and benchTableRun (stage benchmarks for bench/).
void InitBench(Napi::Env env, Napi::Object exports);
}  // namespace flowmaster
