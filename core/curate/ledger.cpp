#include "core/curate/ledger.h"

#include <cmath>
#include <cstring>

#include "core/data/curated_dataset.h"
#include "core/interp/predictions.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

constexpr char kMagic[4] = {'P', 'L', 'D', 'G'};
constexpr uint32_t kFormat = 1;
constexpr size_t kHeader = 16, kRecord = 36;

template <typename T>
void put(std::string& out, size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof v);
}
template <typename T>
T get(const std::string& in, size_t at) {
  T v;
  std::memcpy(&v, in.data() + at, sizeof v);
  return v;
}

}  // namespace

std::string encode_ledger(const std::vector<LedgerEntry>& entries) {
  size_t names = 0;
  for (const auto& e : entries) names += e.image.size();
  std::string out(kHeader + kRecord * entries.size() + names, '\0');
  std::memcpy(out.data(), kMagic, 4);
  put<uint32_t>(out, 4, kFormat);
  put<uint64_t>(out, 8, entries.size());
  size_t name_at = kHeader + kRecord * entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const LedgerEntry& e = entries[i];
    const size_t r = kHeader + kRecord * i;
    put<uint64_t>(out, r, e.hash);
    put<uint32_t>(out, r + 8, uint32_t(name_at));
    put<uint32_t>(out, r + 12, uint32_t(e.image.size()));
    put<int16_t>(out, r + 16, int16_t(e.label));
    put<int16_t>(out, r + 18, int16_t(e.predicted));
    out[r + 20] = e.valid ? 1 : 0;
    put<float>(out, r + 24, e.p_label);
    put<float>(out, r + 28, e.p_predicted);
    put<float>(out, r + 32, e.loss);
    std::memcpy(out.data() + name_at, e.image.data(), e.image.size());
    name_at += e.image.size();
  }
  return out;
}

std::vector<LedgerEntry> decode_ledger(const std::string& blob, const std::string& where) {
  if (blob.size() < kHeader || std::memcmp(blob.data(), kMagic, 4) != 0)
    throw InputError(where, "ledger is not a Perceptra ledger (bad header)");
  if (get<uint32_t>(blob, 4) != kFormat)
    throw InputError(where,
                     "ledger format " + std::to_string(get<uint32_t>(blob, 4)) + " is not understood by this build");
  const uint64_t n = get<uint64_t>(blob, 8);
  // The records alone must fit in the blob: bounds the allocation below.
  if (n > (blob.size() - kHeader) / kRecord)
    throw InputError(where, "ledger claims " + std::to_string(n) + " images but holds " + std::to_string(blob.size()) +
                                " bytes (truncated or corrupt)");
  std::vector<LedgerEntry> out(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t r = kHeader + kRecord * i;
    LedgerEntry& e = out[i];
    e.hash = get<uint64_t>(blob, r);
    const uint64_t at = get<uint32_t>(blob, r + 8), len = get<uint32_t>(blob, r + 12);
    if (at < kHeader + kRecord * n || at + len > blob.size())
      throw InputError(where, "ledger record " + std::to_string(i) + " names bytes outside the ledger");
    e.image.assign(blob.data() + at, len);
    e.label = get<int16_t>(blob, r + 16);
    e.predicted = get<int16_t>(blob, r + 18);
    e.valid = blob[r + 20] != 0;
    e.p_label = get<float>(blob, r + 24);
    e.p_predicted = get<float>(blob, r + 28);
    e.loss = get<float>(blob, r + 32);
  }
  return out;
}

std::vector<LedgerEntry> score_images(Model& model, const TrainValid& tv, const SourceIdentities& ids,
                                      const std::atomic<bool>* cancel) {
  std::vector<LedgerEntry> out;
  out.reserve(tv.train_indices.size() + tv.valid_indices.size());
  const bool official = tv.split.kind == "official";
  auto side = [&](const std::shared_ptr<const Dataset>& data, const std::vector<int64_t>& indices, bool valid,
                  const std::vector<ImageIdentity>& part_ids) {
    PredictOptions po;
    po.indices = indices;
    po.cancel = cancel;
    PredictionSet p = predict_dataset(model, *data, tv.norm, po);
    for (int64_t k = 0; k < p.size(); ++k) {
      const ImageIdentity& id = part_ids.at(size_t(uncurated_index(*data, p.index[size_t(k)])));
      LedgerEntry e;
      e.image = id.image;
      e.hash = id.hash;
      e.valid = valid;
      e.label = p.label[size_t(k)];
      e.predicted = p.predicted[size_t(k)];
      e.p_label = p.prob(k, e.label);
      e.p_predicted = p.prob(k, e.predicted);
      e.loss = p.loss[size_t(k)];
      out.push_back(std::move(e));
    }
  };
  side(tv.train_data, tv.train_indices, false, ids.train);
  side(tv.valid_data, tv.valid_indices, true, official ? ids.test : ids.train);
  return out;
}

void write_ledger(ExperimentStore& store, int64_t run_id, const std::string& dataset_key, int64_t dataset_version,
                  const std::string& model, const std::vector<LedgerEntry>& entries) {
  LedgerRecord r;
  r.run_id = run_id;
  r.dataset_key = dataset_key;
  r.dataset_version = dataset_version;
  r.model = model;
  r.count = int64_t(entries.size());
  r.blob = encode_ledger(entries);
  store.put_ledger(r);
}

std::optional<RunLedger> read_ledger(ExperimentStore& store, int64_t run_id) {
  auto rec = store.ledger(run_id);
  if (!rec) return std::nullopt;
  RunLedger l;
  l.entries = decode_ledger(rec->blob, store.path() + ": ledger of run " + std::to_string(run_id));
  rec->blob.clear();
  l.record = std::move(*rec);
  return l;
}

std::vector<ImageHistoryRow> image_history(ExperimentStore& store, const std::string& dataset_key,
                                           const std::string& image) {
  std::vector<ImageHistoryRow> out;
  for (const auto& rec : store.ledgers(dataset_key, true)) {
    const auto entries = decode_ledger(rec.blob, store.path() + ": ledger of run " + std::to_string(rec.run_id));
    for (const auto& e : entries)
      if (e.image == image) out.push_back({rec.run_id, rec.dataset_version, e});
  }
  return out;
}

}  // namespace perceptra
