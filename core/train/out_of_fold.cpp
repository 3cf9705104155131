#include "core/train/out_of_fold.h"

#include <unistd.h>

#include <filesystem>

#include "core/curate/dataset_versions.h"
#include "core/curate/ledger.h"
#include "core/data/curated_dataset.h"
#include "core/interp/predictions.h"
#include "core/store/machine.h"
#include "core/store/store.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"
#include "core/train/prepared_run.h"
#include "core/train/trainer.h"

namespace fs = std::filesystem;

namespace perceptra {

std::vector<int> assign_folds(int64_t n, int folds, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  Rng rng(seed ^ 0x6f6f66ULL);  // "oof": not the split's stream
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(rng.below(i))]);
  std::vector<int> fold(static_cast<size_t>(n));
  for (size_t k = 0; k < order.size(); ++k) fold[size_t(order[k])] = int(k % size_t(folds));
  return fold;
}

int64_t score_out_of_fold(const TrainConfig& config, const OutOfFoldOptions& options) {
  if (options.folds < 2 || options.folds > 20)
    throw InputError("out-of-fold", "folds must be between 2 and 20, got " + std::to_string(options.folds));
  config.validate();
  const std::string db = config.db_path.empty() ? ExperimentStore::default_path() : config.db_path;
  if (db == "-") throw InputError("out-of-fold", "needs the experiment store to keep its ledger (not --db -)");
  const PreparedData base = prepare_data(config);
  const auto& train = base.source.train;
  const int64_t n = train->size();
  if (n < 2 * options.folds)
    throw InputError(config.data, "too few training images (" + std::to_string(n) + ") for " +
                                      std::to_string(options.folds) + " folds");
  const std::vector<int> fold = assign_folds(n, options.folds, config.seed);
  const auto ids = base.ids ? base.ids : std::make_shared<const SourceIdentities>(identify(base.source));

  const fs::path tmp = fs::temp_directory_path() / ("perceptra-oof-" + std::to_string(getpid()));
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};

  std::vector<LedgerEntry> entries;
  entries.reserve(size_t(n));
  for (int k = 0; k < options.folds; ++k) {
    if (options.cancel && options.cancel->load()) throw InputError("out-of-fold", "cancelled");
    auto data = std::make_shared<PreparedData>(base);
    data->tv.train_data = train;
    data->tv.valid_data = train;
    data->tv.train_indices.clear();
    data->tv.valid_indices.clear();
    for (int64_t i = 0; i < n; ++i)
      (fold[size_t(i)] == k ? data->tv.valid_indices : data->tv.train_indices).push_back(i);
    data->tv.split.kind = "out-of-fold";
    TrainConfig c = config;
    c.db_path = "-";  // the fold models are scaffolding, not runs
    c.out_dir = tmp.string();
    c.ledger = false;
    c.early_stopping = {};
    c.notify = {};
    c.seed = config.seed + uint64_t(k) + 1;
    PrepareOptions po;
    po.data = data;
    auto run = prepare_run(c, po);
    Trainer t(run);
    t.start();
    t.wait();
    TrainEnd end;
    for (auto& e : t.events().pop_all())
      if (auto* te = std::get_if<TrainEnd>(&e)) end = *te;
    if (end.reason == EndReason::Error || end.reason == EndReason::Diverged)
      throw InputError("out-of-fold", "fold " + std::to_string(k + 1) + " did not train: " + end.message);
    PredictOptions pred;
    pred.indices = data->tv.valid_indices;
    const PredictionSet p = predict_dataset(*run->model, *train, data->tv.norm, pred);
    for (int64_t j = 0; j < p.size(); ++j) {
      const ImageIdentity& id = ids->train.at(size_t(uncurated_index(*train, p.index[size_t(j)])));
      LedgerEntry e;
      e.image = id.image;
      e.hash = id.hash;
      e.valid = true;  // every image was held out of the model that scored it
      e.label = p.label[size_t(j)];
      e.predicted = p.predicted[size_t(j)];
      e.p_label = p.prob(j, e.label);
      e.p_predicted = p.prob(j, e.predicted);
      e.loss = p.loss[size_t(j)];
      entries.push_back(std::move(e));
    }
    if (options.progress) options.progress(k + 1, options.folds);
  }

  ExperimentStore st(db);
  NewRun nr;
  nr.name = "out-of-fold k=" + std::to_string(options.folds);
  nr.seed = config.seed;
  nr.hparams = config.to_json();
  nr.hparams["out_of_fold"] = {{"folds", options.folds}};
  if (base.dataset_version > 0)
    nr.hparams["data"] = parse_data_ref(config.data).name + "@" + std::to_string(base.dataset_version);
  nr.machine = machine_metadata("none");
  // The dataset row the runs of this data have (same fingerprint), so the
  // run lists and `data suspects` name its classes.
  DatasetRecord d;
  d.name = base.source.name;
  d.path = base.source.location;
  d.kind = base.source.format;
  d.num_classes = int(base.source.class_names.size());
  d.num_train = n;
  d.fingerprint = d.kind + ":" + std::to_string(base.tv.train_data->size()) + ":" +
                  std::to_string(base.tv.valid_data->size()) + ":" + std::to_string(d.num_classes);
  d.info = {{"classes", base.source.class_names}};
  nr.dataset_id = st.register_dataset(d);
  nr.dataset_version = base.dataset_version;
  nr.notes = "out-of-fold scores: each training image judged by a model trained on the other folds";
  const int64_t id = st.create_run(nr);
  try {
    write_ledger(st, id, base.dataset_key, base.dataset_version,
                 "out-of-fold (" + std::to_string(options.folds) + " folds)", entries);
    st.finish_run(id, RunStatus::Finished);
  } catch (...) {
    st.finish_run(id, RunStatus::Failed, "out-of-fold ledger not written");
    throw;
  }
  return id;
}

}  // namespace perceptra
