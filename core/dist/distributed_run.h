#pragma once
// Preparing one data-parallel run on every rank.
//
//   auto dp = make_data_parallel(device);
//   auto run = prepare_distributed(*dp, [&] { return prepare_run(cfg); }, device, threads);
//   Trainer t(run); t.set_data_parallel(dp); t.start();
//
// Rank 0 runs `prepare_root` (prepare_run or prepare_resume: the recorded
// run, its store row and folder). It then sends its configuration and,
// when resuming, the checkpoint's bytes (ranks need not share a
// filesystem), or the error that stopped it. The other ranks prepare the
// same run unrecorded (no store, no folder) on their own device and thread
// count. All ranks then agree whether everyone succeeded: a failure
// anywhere throws on every rank (rank 0's run row is marked failed), so
// nobody waits alone. Finally every rank takes rank 0's weights.
#include <functional>
#include <memory>
#include <string>

#include "core/dist/data_parallel.h"
#include "core/train/prepared_run.h"

namespace perceptra {

std::shared_ptr<PreparedRun> prepare_distributed(DataParallel& dp,
                                                 const std::function<std::shared_ptr<PreparedRun>()>& prepare_root,
                                                 const std::string& device, int threads);

}  // namespace perceptra
