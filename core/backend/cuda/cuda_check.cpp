#include "core/backend/cuda/cuda_check.h"

#include <string>

#include "core/tensor/error.h"

namespace perceptra::cuda {

namespace {
// __FILE__ is absolute; keep the path from "core/" on so messages stay short.
std::string short_path(const char* file) {
  std::string f(file);
  auto pos = f.rfind("core/");
  return pos == std::string::npos ? f : f.substr(pos);
}
}  // namespace

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  // Clear the sticky "last error" so later, unrelated checks do not re-report it.
  (void)cudaGetLastError();
  throw Error("CUDA error: " + std::string(call) + " at " + short_path(file) + ":" + std::to_string(line) +
              " failed: " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ", code " +
              std::to_string(static_cast<int>(err)) + ")");
}

void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line) {
  throw Error("cuBLAS error: " + std::string(call) + " at " + short_path(file) + ":" + std::to_string(line) +
              " failed: " + cublasGetStatusString(st) + " (" + cublasGetStatusName(st) + ", code " +
              std::to_string(static_cast<int>(st)) + ")");
}

}  // namespace perceptra::cuda
