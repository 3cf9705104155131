#include <dnnl.h>
#include <omp.h>

#include <string>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/tensor/error.h"

namespace perceptra {

void cpu_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B,
                                ldb, beta, C, ldc);
  PCHECK(st == dnnl_success, "dnnl_sgemm failed with status " + std::to_string(st) + " (M=" +
                                 std::to_string(M) + " N=" + std::to_string(N) +
                                 " K=" + std::to_string(K) + ")");
}

void CpuBackend::gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                      int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  PERCEPTRA_CPU_OP(kGemm);
  cpu_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int cpu_threads() { return omp_get_max_threads(); }

void set_cpu_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

std::string CpuBackend::describe() const {
  const dnnl_version_t* v = dnnl_version();
  return "cpu (oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " sgemm, " + std::to_string(cpu_threads()) + " threads)";
}

}  // namespace perceptra
