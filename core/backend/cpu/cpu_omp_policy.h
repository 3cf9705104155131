#pragma once
// The OpenMP wait policy, set by each program's main() (perceptra-cli, the
// studio, the benches), never by the library: see cpu_omp_policy.cpp.
namespace perceptra {

// Call first thing in main(argc, argv). When the user chose no policy
// (neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT set) and PERCEPTRA_OMP_REEXEC
// is not "0", re-executes this program (/proc/self/exe, the same argv) with
// GOMP_SPINCOUNT=kOmpSpinCount, so libgomp's idle threads spin only
// briefly before they sleep. It also re-executes, with OPENBLAS_NUM_THREADS=1, when that is
// unset (OpenBLAS, loaded by OpenCV and never called by us, hangs at exit
// under an address-space limit otherwise). The user's own values are kept.
// Otherwise, or when the exec fails, it returns and the program runs on with
// the libraries' defaults.
void apply_omp_wait_policy(char** argv);
inline constexpr const char* kOmpSpinCount = "10000";

// Whether apply_omp_wait_policy would re-execute (reads the environment).
bool omp_wait_policy_reexec_wanted();

}  // namespace perceptra
