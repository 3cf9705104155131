#pragma once
// The folder a run writes its files into.
#include <cstdint>
#include <string>

namespace perceptra {

// A run writes only into a folder of its own: <out_dir>/run-<id> when free,
// else run-<id>-2, -3, ... (another database, or a deleted run, may have
// used the id in the same out_dir); without a run id (no store)
// run-<date>-<time>-<pid>. The folder is created here, so one that already
// exists is never written into. A resumed run continues in `recorded`, the
// folder its files were recorded in, wherever out_dir and the working
// directory are now, provided that is a real directory named run-<id> or
// run-<id>-<k> (a database row can name any path: anything else is an
// InputError; a recorded folder that no longer exists gets a new one).
// Returns the absolute path; InputError when no folder can be created.
std::string make_run_dir(const std::string& out_dir, int64_t run_id, const std::string& recorded = "");

}  // namespace perceptra
