#pragma once
// LR range test (L. Smith, "Cyclical Learning Rates for Training Neural
// Networks"; fastai's lr_find). A pure component the trainer drives on a copy
// of the weights:
//
//   LrFinder f(cfg);
//   while (!f.done()) { double lr = f.next_lr(); f.record(train_one_batch(lr)); }
//   LrFinderResult r = f.result();
//
// The LR grows exponentially from start_lr to end_lr over num_iters batches.
// The loss is smoothed with an exponential moving average (beta, with bias
// correction as in Adam). The sweep stops early when the smoothed loss
// exceeds diverge_factor x its minimum, or on a NaN/infinite loss.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace perceptra {

struct LrFinderConfig {
  double start_lr = 1e-7;
  double end_lr = 10.0;
  int num_iters = 100;
  double beta = 0.98;           // smoothing of the loss
  double diverge_factor = 4.0;  // stop when smoothed > factor * min smoothed
  nlohmann::json to_json() const;
  // Unknown fields, wrong types and bad values throw InputError("lr_finder", "field 'x' ...").
  static LrFinderConfig from_json(const nlohmann::json& j);
  void validate() const;
};

struct LrFinderPoint {
  double lr = 0, loss = 0, smoothed = 0;
};

struct LrFinderResult {
  std::vector<LrFinderPoint> curve;  // finite losses, in sweep order
  // THE suggestion: the LR where the smoothed loss falls fastest per unit of
  // log(lr) (fastai's "lr_steep"), searched from the start to the minimum.
  // Falls back to min_div10_lr when the curve is too short or never falls.
  double suggested_lr = 0;
  double steepest_lr = 0;   // 0 when not found
  double min_loss_lr = 0;   // LR at the minimum smoothed loss
  double min_div10_lr = 0;  // min_loss_lr / 10 (fastai's "lr_min")
  bool diverged = false;    // stopped early by the divergence or NaN rule
  std::string stop_reason;  // "completed", "diverged: ...", "non-finite loss ..."
  nlohmann::json to_json() const;
};

class LrFinder {
 public:
  explicit LrFinder(const LrFinderConfig& config = {});
  bool done() const { return done_; }
  // LR for the next batch; Error when done().
  double next_lr();
  // Loss of the batch run with the LR from the last next_lr().
  void record(double loss);
  // The curve so far and the suggestions; Error when nothing was recorded.
  LrFinderResult result() const;
  int iteration() const { return iter_; }

 private:
  double lr_at(int i) const;
  LrFinderConfig cfg_;
  int iter_ = 0;
  bool awaiting_loss_ = false, done_ = false, diverged_ = false;
  double avg_ = 0, best_ = 0;
  std::string stop_reason_;
  std::vector<LrFinderPoint> curve_;
};

}  // namespace perceptra
