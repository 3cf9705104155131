#pragma once
// A sweep spread over the ranks of an MPI job (`mpirun -np N perceptra-cli
// sweep SPEC.json`), with no shared database file:
//
//   rank 0 (coordinator): owns the store; hands out trials; records every
//     trial's run, metrics and end from the workers' reports; decides early
//     termination (median / ASHA) from the reported epoch metrics. It runs
//     no trials itself (its loop must answer the workers at once, and MPI
//     is driven from one thread), so N ranks give N-1 workers.
//   ranks > 0 (workers): never open the store; train `parallel` trials at a
//     time, each an unrecorded Trainer run (run folder on the worker's
//     disk), and report to rank 0.
//
//   SweepRunner r(spec, options);  r.run(*comm, listener);   // rank 0
//   run_sweep_worker(*comm, worker_options);                 // ranks > 0
//
// The protocol (JSON messages over Communicator::send/try_recv, in order
// between two ranks):
//   worker -> 0: hello {slots, host, pid}; begin {trial, run info, dataset};
//                points {trial, metric points}; epoch {trial, epoch, value,
//                points} (the worker's trainer then waits for the decision);
//                end {trial, status, message}; alive (every few seconds).
//   0 -> worker: trial {trial, config}; decision {trial, stop, reason};
//                stop (Ctrl-C, time budget: stop every trial); done (no more
//                trials: leave when idle).
// A worker that sends nothing for the collective timeout
// (PERCEPTRA_DIST_TIMEOUT) is taken for dead: its trials are recorded
// 'interrupted' and the sweep goes on with the others (ends 'stopped' when
// none is left). A worker whose coordinator stops answering stops its
// trials and leaves with an error.
#include <atomic>
#include <string>

#include "core/dist/communicator.h"
#include "core/sweep/runner.h"

namespace perceptra {

struct SweepWorkerOptions {
  std::string out_dir;                        // run folders; empty: the trial config's out_dir
  int parallel = 1;                           // trials at once on this rank
  int threads = 0;                            // CPU threads to split; 0 = all cores
  std::string device;                         // overrides the trial's device when set
  const std::atomic<bool>* cancel = nullptr;  // set -> stop the trials, report, leave
};

struct SweepWorkerResult {
  int trials = 0;      // trials this rank ran
  std::string status;  // done | stopped
};

// Runs trials for the coordinator (rank 0 of `comm`) until it says done.
// Throws CommunicationError when the coordinator stops answering.
SweepWorkerResult run_sweep_worker(Communicator& comm, const SweepWorkerOptions& options);

}  // namespace perceptra
