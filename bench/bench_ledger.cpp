// Per-image ledger and suspects at Fashion-MNIST scale (70,000 images: the
// 60,000 training and 10,000 test images, as a run with the official split
// records them). Times, each the median of `reps`:
//   identify   content hashes of every image (done once per run)
//   score      an eval pass of an MLP over all images (the ledger's data)
//   write      encode + one store transaction (the ledger row)
//   suspects   read + decode `runs` ledgers of the dataset + rank
//   duplicates exact + near-duplicate search over all images
// The target: writing a ledger and computing suspects each take
// "under a few seconds"; the ratio column is the time over 3 s.
//
// Usage: bench_ledger [reps=3] [runs=4] [--data NAME|PATH]   (default fashion-mnist)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/curate/dataset_versions.h"
#include "core/curate/duplicates.h"
#include "core/curate/image_identity.h"
#include "core/curate/ledger.h"
#include "core/curate/suspects.h"
#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "core/tensor/random.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;

template <class F>
static double time_s(F&& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);
  int reps = 3, runs = 4;
  std::string data = "fashion-mnist";
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--data" && i + 1 < argc)
      data = argv[++i];
    else
      pos.push_back(a);
  }
  if (pos.size() > 0) reps = std::max(1, std::atoi(pos[0].c_str()));
  if (pos.size() > 1) runs = std::max(1, std::atoi(pos[1].c_str()));

  DataSource src;
  try {
    src = open_dataset(data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ledger: %s\n(`perceptra-cli data info fashion-mnist` says where it is looked for)\n",
                 e.what());
    return 1;
  }
  SplitOptions so;
  so.official_test = src.test != nullptr;
  const TrainValid tv = prepare_train_valid(src, so, 10000);
  const int64_t images = int64_t(tv.train_indices.size() + tv.valid_indices.size());
  std::printf("data: %s (%lld images: %zu train, %zu validation)\n", src.location.c_str(), (long long)images,
              tv.train_indices.size(), tv.valid_indices.size());

  std::vector<double> t_id, t_score, t_write, t_suspects, t_dups;
  SourceIdentities ids;
  for (int r = 0; r < reps; ++r) t_id.push_back(time_s([&] { ids = identify(src); }));

  Rng rng(1);
  auto model = Model::from_spec(Model::builtin_spec("mlp", src.train->sample_shape(), src.train->num_classes()), rng);
  std::vector<LedgerEntry> entries;
  for (int r = 0; r < reps; ++r) t_score.push_back(time_s([&] { entries = score_images(*model, tv, ids); }));

  const std::string dir =
      (std::filesystem::temp_directory_path() / ("bench-ledger-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  {
    ExperimentStore st(dir + "/p.db");
    std::vector<int64_t> run_ids;
    for (int k = 0; k < runs; ++k) run_ids.push_back(st.create_run(NewRun{}));
    // Each run's ledger differs a little (another model would).
    for (int k = 0; k < runs; ++k) {
      std::vector<LedgerEntry> mine = entries;
      Rng jitter(uint64_t(k) + 7);
      for (auto& e : mine) e.p_label = std::clamp(e.p_label + 0.05f * jitter.normal(), 0.0f, 1.0f);
      std::vector<double> t;
      for (int r = 0; r < reps; ++r)
        t.push_back(time_s([&] { write_ledger(st, run_ids[size_t(k)], dataset_key(src), 0, "final", mine); }));
      t_write.push_back(median(t));
    }
    std::vector<Suspect> ranked;
    for (int r = 0; r < reps; ++r)
      t_suspects.push_back(time_s([&] {
        auto recs = st.ledgers(dataset_key(src), true);
        std::vector<std::vector<LedgerEntry>> decoded;
        for (auto& rec : recs) decoded.push_back(decode_ledger(rec.blob, "bench"));
        std::vector<LedgerOfRun> others;
        for (size_t i = 0; i + 1 < recs.size(); ++i) others.push_back({recs[i].run_id, &decoded[i]});
        ranked = rank_suspects({recs.back().run_id, &decoded.back()}, others, 1000);
      }));
    std::printf("suspects: %zu ranked over %d runs\n", ranked.size(), runs);
  }
  DuplicateReport rep;
  for (int r = 0; r < reps; ++r) t_dups.push_back(time_s([&] { rep = find_duplicates(src, ids, tv.split); }));
  size_t exact = 0, leaks = 0;
  for (const auto& g : rep.groups) exact += g.exact, leaks += g.leak;
  std::printf("duplicates: %zu groups (%zu exact, %zu across the split)\n", rep.groups.size(), exact, leaks);
  std::filesystem::remove_all(dir);

  auto row = [](const char* what, double s) { std::printf("%-12s %8.3f s   %5.2fx of 3 s\n", what, s, s / 3.0); };
  std::printf("\n%-12s %10s   %s   (median of %d)\n", "step", "time", "ratio", reps);
  row("identify", median(t_id));
  row("score", median(t_score));
  row("write", median(t_write));
  row("suspects", median(t_suspects));
  row("duplicates", median(t_dups));
  return 0;
}
