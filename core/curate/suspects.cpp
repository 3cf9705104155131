#include "core/curate/suspects.h"

#include <algorithm>
#include <map>
#include <unordered_map>

namespace perceptra {

std::vector<Suspect> rank_suspects(const LedgerOfRun& primary, const std::vector<LedgerOfRun>& others, int64_t top) {
  const auto& mine = *primary.entries;
  std::unordered_map<std::string, size_t> where;
  where.reserve(mine.size() * 2);
  for (size_t i = 0; i < mine.size(); ++i) where.emplace(mine[i].image, i);

  struct Acc {
    double sum_wrongness = 0, sum_p = 0;
    int runs = 0, wrong = 0;
    std::map<int, int> votes;  // predicted class -> runs (wrong ones)
    std::vector<int64_t> run_ids;
  };
  std::vector<Acc> acc(mine.size());
  auto add = [&](const LedgerOfRun& run, const LedgerEntry& e, size_t i) {
    Acc& a = acc[i];
    a.sum_wrongness += 1.0 - double(e.p_label);
    a.sum_p += e.p_label;
    a.runs += 1;
    if (e.predicted != e.label) {
      a.wrong += 1;
      a.votes[e.predicted] += 1;
    }
    a.run_ids.push_back(run.run_id);
  };
  for (size_t i = 0; i < mine.size(); ++i) add(primary, mine[i], i);
  for (const auto& run : others) {
    if (run.run_id == primary.run_id || !run.entries) continue;
    for (const auto& e : *run.entries) {
      auto it = where.find(e.image);
      if (it == where.end()) continue;
      const LedgerEntry& m = mine[it->second];
      // Another version of the image (new content) or of its label is
      // other evidence, not agreement.
      if (e.hash != m.hash || e.label != m.label) continue;
      add(run, e, it->second);
    }
  }
  std::vector<Suspect> out;
  for (size_t i = 0; i < mine.size(); ++i) {
    const Acc& a = acc[i];
    if (a.wrong == 0) continue;
    Suspect s;
    s.image = mine[i].image;
    s.hash = mine[i].hash;
    s.valid = mine[i].valid;
    s.label = mine[i].label;
    s.predicted = mine[i].predicted;
    int best = 0;
    for (auto [c, n] : a.votes)
      if (n > best || (n == best && c == mine[i].predicted)) best = n, s.predicted = c;
    s.runs = a.runs;
    s.runs_wrong = a.wrong;
    s.score = a.sum_wrongness / a.runs;
    s.mean_p_label = a.sum_p / a.runs;
    s.run_ids = a.run_ids;
    out.push_back(std::move(s));
  }
  // Mean wrongness weighted by agreement: wrong in every run scores the
  // mean itself, wrong in half of them half of it.
  auto key = [](const Suspect& s) { return s.score * double(s.runs_wrong) / double(s.runs); };
  std::stable_sort(out.begin(), out.end(), [&](const Suspect& a, const Suspect& b) {
    const double ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;
    return a.image < b.image;
  });
  if (top > 0 && int64_t(out.size()) > top) out.resize(size_t(top));
  return out;
}

}  // namespace perceptra
