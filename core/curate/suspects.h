#pragma once
// Likely label errors from ledgers: images the model is confidently wrong
// about, ranked by the mean probability the runs gave to the *other*
// classes (1 - p(label)), over every run whose ledger holds the same image
// (same identity and content) with the same label. Agreement counts: an
// image wrong in 4 of 4 runs outranks one wrong once with the same mean.
// Out-of-fold ledgers (scored by models that did not train on the image,
// as in confident learning) plug in as more runs.
#include <cstdint>
#include <string>
#include <vector>

#include "core/curate/ledger.h"

namespace perceptra {

struct Suspect {
  std::string image;
  uint64_t hash = 0;
  bool valid = false;  // validation side in the primary run
  int label = 0;       // the label it was trained/validated with
  int predicted = 0;   // what most runs predict instead (ties: the primary run's)
  double score = 0;    // mean over runs of 1 - p(label), in [0, 1]
  double mean_p_label = 0;
  int runs = 0;                  // runs holding the image with this label
  int runs_wrong = 0;            // of those, how many predicted another class
  std::vector<int64_t> run_ids;  // the runs that agreed to score it
};

struct LedgerOfRun {
  int64_t run_id = 0;
  const std::vector<LedgerEntry>* entries = nullptr;
};

// `primary` first (its images are ranked), then any other runs of the same
// dataset. Only images wrong in at least one run are returned, best suspect
// first; top <= 0 returns all.
std::vector<Suspect> rank_suspects(const LedgerOfRun& primary, const std::vector<LedgerOfRun>& others, int64_t top = 0);

}  // namespace perceptra
