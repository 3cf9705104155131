#pragma once
// The per-image ledger of a run: for every image of its data (training and
// validation side) the label it trained on, the final model's prediction,
// the probability of the label and of the prediction, and the loss, keyed
// by image identity (image_identity.h). One packed blob per run in the
// store (store.h: LedgerRecord): 70,000 images are ~3 MB and one row.
//
// Blob format (little-endian): "PLDG", u32 format (1), u64 count, then
// count records of 36 bytes {u64 hash, u32 name offset, u32 name length,
// i16 label, i16 predicted, u8 side (0 train, 1 validation), 3 pad bytes,
// f32 p_label, f32 p_predicted, f32 loss}, then the names' bytes.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "core/curate/image_identity.h"
#include "core/data/split.h"
#include "core/store/store.h"

namespace perceptra {

class Model;

struct LedgerEntry {
  std::string image;
  uint64_t hash = 0;
  bool valid = false;  // on the validation side of the run's split
  int label = 0, predicted = 0;
  float p_label = 0, p_predicted = 0, loss = 0;
};

std::string encode_ledger(const std::vector<LedgerEntry>& entries);
// Throws InputError naming `where` when the blob is malformed (truncated,
// offsets outside it, unknown format): a hostile database never crashes.
std::vector<LedgerEntry> decode_ledger(const std::string& blob, const std::string& where);

// Scores every image of both sides of `tv` with `model` (eval mode, no
// augmentation, the run's normalisation). `ids` are the source's
// identities (identify()). `cancel` is checked between batches.
std::vector<LedgerEntry> score_images(Model& model, const TrainValid& tv, const SourceIdentities& ids,
                                      const std::atomic<bool>* cancel = nullptr);

// Writes (replaces) run `run_id`'s ledger in one transaction.
void write_ledger(ExperimentStore& store, int64_t run_id, const std::string& dataset_key, int64_t dataset_version,
                  const std::string& model, const std::vector<LedgerEntry>& entries);

// A run's ledger read back; nullopt when the run has none.
struct RunLedger {
  LedgerRecord record;  // blob cleared
  std::vector<LedgerEntry> entries;
};
std::optional<RunLedger> read_ledger(ExperimentStore& store, int64_t run_id);

// One image across the runs of its dataset (oldest run first): what each
// run's final model said about it.
struct ImageHistoryRow {
  int64_t run_id = 0;
  int64_t dataset_version = 0;
  LedgerEntry entry;
};
std::vector<ImageHistoryRow> image_history(ExperimentStore& store, const std::string& dataset_key,
                                           const std::string& image);

}  // namespace perceptra
