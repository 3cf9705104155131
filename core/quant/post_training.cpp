#include "core/quant/post_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "core/tensor/error.h"

namespace perceptra::quant {

namespace {

using Clock = std::chrono::steady_clock;

void check_images(const Model& model, const Tensor& images, const std::string& what) {
  if (!images.defined() || images.rank() < 1 || images.dim(0) == 0)
    throw InputError(what,
                     "has no images: quantisation needs calibration images (--calibration N "
                     "with N > 0, from the dataset's training split)");
  if (images.shape().sample() != model.input_shape())
    throw InputError(
        what, "images are " + images.shape().sample().str() + " but the model takes " + model.input_shape().str());
}

double accuracy(const std::vector<int>& pred, const std::vector<int>& labels) {
  if (labels.empty()) return 0;
  size_t ok = 0;
  for (size_t i = 0; i < labels.size(); ++i) ok += pred[i] == labels[i];
  return double(ok) / double(labels.size());
}

}  // namespace

FallbackDecision decide_fallback(const std::vector<int>& float_pred, const std::vector<int>& int8_pred,
                                 const std::vector<int>& labels, double min_drop, double z) {
  FallbackDecision d;
  d.images = int64_t(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    const bool f = float_pred[i] == labels[i], q = int8_pred[i] == labels[i];
    d.worse += f && !q;
    d.better += q && !f;
  }
  if (d.images == 0) return d;
  const double n = double(d.images);
  d.drop = double(d.worse - d.better) / n;
  const double var = std::max(0.0, double(d.worse + d.better) / n - d.drop * d.drop);
  d.standard_error = std::sqrt(var / n);
  d.threshold = std::max(min_drop, z * d.standard_error);
  d.fallback = min_drop >= 0 && d.drop > min_drop && d.drop > z * d.standard_error;
  return d;
}

std::vector<int> predict_classes(const std::function<Tensor(const Tensor&)>& infer, const Tensor& images,
                                 int batch_size, double* seconds, const std::function<void(int64_t)>& after_batch) {
  const int64_t N = images.dim(0);
  std::vector<int> pred(static_cast<size_t>(N));
  double total = 0;
  for (int64_t b = 0; b < N; b += batch_size) {
    Tensor x = images.slice(b, std::min(N, b + batch_size));
    auto t0 = Clock::now();
    Tensor logits = infer(x);
    std::vector<float> v = logits.to_vector();
    total += std::chrono::duration<double>(Clock::now() - t0).count();
    const int64_t rows = x.dim(0), C = logits.dim(1);
    for (int64_t i = 0; i < rows; ++i) {
      const float* r = v.data() + i * C;
      pred[size_t(b + i)] = int(std::max_element(r, r + C) - r);
    }
    if (after_batch) after_batch(rows);
  }
  if (seconds) *seconds = total;
  return pred;
}

PtqResult quantize_post_training(Model& model, const Tensor& calibration, const LabeledImages* eval,
                                 const PtqOptions& o, const std::vector<std::string>& class_names) {
  check_images(model, calibration, "calibration data");
  if (eval) {
    check_images(model, eval->images, "evaluation data");
    if (int64_t(eval->labels.size()) != eval->images.dim(0))
      throw InputError("evaluation data", "has " + std::to_string(eval->labels.size()) + " labels for " +
                                              std::to_string(eval->images.dim(0)) + " images");
  }
  const LabeledImages* sdata = o.sensitivity_data ? o.sensitivity_data : eval;
  if (eval && o.sensitivity_data) {
    check_images(model, sdata->images, "held-out data");
    if (int64_t(sdata->labels.size()) != sdata->images.dim(0))
      throw InputError("held-out data", "has " + std::to_string(sdata->labels.size()) + " labels for " +
                                            std::to_string(sdata->images.dim(0)) + " images");
  }
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  PtqResult res;
  res.qmodel = std::make_shared<QuantizedModel>(model);
  QuantizedModel& qm = *res.qmodel;
  auto nodes = qm.quantizable();
  if (nodes.empty()) throw InputError("model", "has no conv2d or linear layer to quantise");
  std::string known;
  for (QuantNode* n : nodes) known += (known.empty() ? "" : ", ") + n->name;
  for (const auto& name : o.float_layers)
    if (!qm.find(name))
      throw InputError("--float-layers", "no conv2d/linear layer is named '" + name + "' (layers: " + known + ")");

  // Progress in images processed over all passes; cancel between batches.
  const int64_t N = calibration.dim(0);
  const int cal_passes = o.method == CalibrationMethod::MinMax ? 1 : 2;
  const int64_t n_eval = eval ? int64_t(eval->labels.size()) : 0;
  const int64_t ns = !eval                      ? 0
                     : o.sensitivity_images > 0 ? std::min<int64_t>(o.sensitivity_images, int64_t(sdata->labels.size()))
                                                : int64_t(sdata->labels.size());
  const bool separate_sens = eval && sdata != eval;
  const double total_work =
      double(cal_passes * N + (eval ? 3 * n_eval : 0) + (separate_sens ? ns : 0) + int64_t(nodes.size()) * ns);
  double done_work = 0;
  auto tick = [&](int64_t images) {
    if (o.cancelled && o.cancelled()) throw PtqCancelled();
    done_work += double(images);
    if (o.progress_fraction) o.progress_fraction(std::min(1.0, done_work / std::max(1.0, total_work)));
  };

  // 1. Calibration: ranges, then (percentile, entropy) histograms.
  std::map<const QuantNode*, RangeObserver> in_obs, out_obs;
  for (int pass = 0; pass < cal_passes; ++pass) {
    say(pass == 0 ? "calibrating ranges on " + std::to_string(N) + " images"
                  : "calibrating histograms (" + calibration_method_name(o.method) + ")");
    auto observe = [&](const QuantNode& n, bool output, const Tensor& v) {
      std::vector<float> h = v.to_vector();
      RangeObserver& r = output ? out_obs[&n] : in_obs[&n];
      if (pass == 0)
        r.observe_range(h.data(), h.size());
      else
        r.observe_histogram(h.data(), h.size());
    };
    for (int64_t b = 0; b < N; b += o.batch_size) {
      const int64_t e = std::min(N, b + o.batch_size);
      qm.infer_float(calibration.slice(b, e), observe);
      tick(e - b);
    }
  }
  std::vector<QuantNode*> residuals;
  std::function<void(std::vector<QuantNode>&)> find_res = [&](std::vector<QuantNode>& seq) {
    for (auto& n : seq)
      if (n.kind == QuantNode::Kind::Residual) {
        residuals.push_back(&n);
        find_res(n.branch);
      }
  };
  find_res(qm.nodes());
  for (QuantNode* r : residuals) r->out_threshold = out_obs[r].threshold(o.method, 255);
  for (QuantNode* n : nodes) {
    const RangeObserver& in = in_obs[n];
    n->in_negative = in.has_negative();
    n->in_threshold = in.threshold(o.method, n->in_negative ? 127 : 255);
    n->out_threshold = out_obs[n].threshold(o.method, 255);
    qm.quantize_node(*n);
  }

  nlohmann::json rep;
  rep["method"] = calibration_method_name(o.method);
  rep["calibration_images"] = N;
  rep["layers"] = int(nodes.size());
  auto forced = [&](const QuantNode* n) {
    return std::find(o.float_layers.begin(), o.float_layers.end(), n->name) != o.float_layers.end();
  };
  if (!eval) {
    for (QuantNode* n : nodes) n->quantized = !forced(n);
    qm.finalize();
    nlohmann::json fl = nlohmann::json::array();
    for (QuantNode* n : nodes)
      if (!n->quantized) fl.push_back(n->name);
    rep["float_layers"] = fl;
    res.report = rep;
    return res;
  }

  // 2. Float reference.
  const int bs = o.batch_size;
  say("evaluating the float model on " + std::to_string(eval->labels.size()) + " images");
  double float_s = 0, int8_s = 0;
  auto float_infer = [&](const Tensor& x) { return qm.infer_float(x, {}); };
  auto int8_infer = [&](const Tensor& x) { return qm.infer_int8(x); };
  std::vector<int> fpred = predict_classes(float_infer, eval->images, bs, &float_s, tick);
  const double facc = accuracy(fpred, eval->labels);

  // 3. Sensitivity: one layer int8 at a time, on the held-out images.
  const Tensor sens_images = sdata->images.slice(0, ns);
  const std::vector<int> sens_labels(sdata->labels.begin(), sdata->labels.begin() + ns);
  const std::vector<int> sens_fpred = separate_sens ? predict_classes(float_infer, sens_images, bs, nullptr, tick)
                                                    : std::vector<int>(fpred.begin(), fpred.begin() + ns);
  std::vector<FallbackDecision> decisions;
  for (QuantNode* n : nodes) {
    for (QuantNode* m : nodes) m->quantized = m == n;
    qm.finalize();
    std::vector<int> p = predict_classes(int8_infer, sens_images, bs, nullptr, tick);
    decisions.push_back(decide_fallback(sens_fpred, p, sens_labels, o.fallback_drop, o.fallback_z));
    say("sensitivity " + n->name + ": accuracy drop " + std::to_string(decisions.back().drop * 100) + " points");
  }
  // 4. Fallback and the final int8 plan.
  nlohmann::json sens = nlohmann::json::array();
  nlohmann::json float_layers = nlohmann::json::array();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const FallbackDecision& d = decisions[i];
    nodes[i]->quantized = !forced(nodes[i]) && !d.fallback;
    if (!nodes[i]->quantized) float_layers.push_back(nodes[i]->name);
    sens.push_back({{"layer", nodes[i]->name},
                    {"drop", d.drop},
                    {"standard_error", d.standard_error},
                    {"threshold", d.threshold},
                    {"worse", d.worse},
                    {"better", d.better},
                    {"quantized", nodes[i]->quantized},
                    {"reason", forced(nodes[i]) ? "forced float"
                               : d.fallback     ? "fallback: drop above threshold and noise"
                                                : ""}});
  }
  qm.finalize();
  say("evaluating the int8 model");
  std::vector<int> qpred = predict_classes(int8_infer, eval->images, bs, &int8_s, tick);
  // Timed again now that the primitives exist (the first pass built them).
  predict_classes(int8_infer, eval->images, bs, &int8_s, tick);
  const double qacc = accuracy(qpred, eval->labels);

  int classes = model.num_classes();
  std::vector<int64_t> count(static_cast<size_t>(classes)), fok = count, qok = count;
  nlohmann::json flips = nlohmann::json::array();
  for (size_t i = 0; i < eval->labels.size(); ++i) {
    const int y = eval->labels[i];
    if (y < 0 || y >= classes) continue;
    ++count[size_t(y)];
    fok[size_t(y)] += fpred[i] == y;
    qok[size_t(y)] += qpred[i] == y;
    if (fpred[i] != qpred[i]) flips.push_back({{"index", i}, {"label", y}, {"float", fpred[i]}, {"int8", qpred[i]}});
  }
  nlohmann::json per_class = nlohmann::json::array();
  for (int c = 0; c < classes; ++c) {
    const double n = double(std::max<int64_t>(1, count[size_t(c)]));
    per_class.push_back({{"class", c < int(class_names.size()) ? class_names[size_t(c)] : std::to_string(c)},
                         {"images", count[size_t(c)]},
                         {"float", double(fok[size_t(c)]) / n},
                         {"int8", double(qok[size_t(c)]) / n}});
  }
  const double images = double(eval->labels.size());
  rep["eval_images"] = eval->labels.size();
  rep["float_accuracy"] = facc;
  rep["int8_accuracy"] = qacc;
  rep["per_class"] = per_class;
  rep["flipped"] = flips;
  rep["sensitivity"] = sens;
  rep["fallback_drop"] = o.fallback_drop;
  rep["fallback_z"] = o.fallback_z;
  rep["sensitivity_images"] = ns;
  rep["sensitivity_split"] = separate_sens ? "held-out training images" : "evaluation images";
  rep["float_layers"] = float_layers;
  rep["float_images_per_s"] = float_s > 0 ? images / float_s : 0;
  rep["int8_images_per_s"] = int8_s > 0 ? images / int8_s : 0;
  res.report = rep;
  return res;
}

std::string format_report(const nlohmann::json& r, size_t max_flips) {
  std::ostringstream s;
  char buf[256];
  s << "int8 quantisation (" << r.value("method", "?") << " calibration on " << r.value("calibration_images", 0)
    << " images)\n";
  if (r.contains("float_accuracy")) {
    const double fa = r["float_accuracy"], qa = r["int8_accuracy"];
    std::snprintf(buf, sizeof buf, "accuracy on %d images: float %.4f  int8 %.4f  (%+.2f points)\n",
                  r.value("eval_images", 0), fa, qa, (qa - fa) * 100);
    s << buf;
    s << "\nper class                 float     int8\n";
    for (const auto& c : r["per_class"]) {
      std::snprintf(buf, sizeof buf, "%-22s %8.4f %8.4f\n", c.value("class", "?").c_str(), c.value("float", 0.0),
                    c.value("int8", 0.0));
      s << buf;
    }
    const auto& flips = r["flipped"];
    s << "\n" << flips.size() << " images changed prediction";
    if (!flips.empty()) s << " (index: label, float -> int8)";
    s << "\n";
    for (size_t i = 0; i < flips.size() && i < max_flips; ++i) {
      std::snprintf(buf, sizeof buf, "  #%lld: %d, %d -> %d\n",
                    static_cast<long long>(flips[i].value("index", int64_t(0))), flips[i].value("label", 0),
                    flips[i].value("float", 0), flips[i].value("int8", 0));
      s << buf;
    }
    if (flips.size() > max_flips) s << "  ... (" << flips.size() - max_flips << " more)\n";
    s << "\nper-layer sensitivity (accuracy change with only that layer int8, "
      << r.value("sensitivity_images", r.value("eval_images", 0)) << " "
      << r.value("sensitivity_split", std::string("evaluation images")) << ")\n";
    for (const auto& l : r["sensitivity"]) {
      std::snprintf(buf, sizeof buf, "  %-24s %+7.2f points (se %.2f)  %s%s\n", l.value("layer", "?").c_str(),
                    0.0 - l.value("drop", 0.0) * 100 + 0.0, l.value("standard_error", 0.0) * 100,  // no "-0.00"
                    l.value("quantized", false) ? "int8" : "float",
                    l.value("reason", "").empty() ? "" : (" (" + l.value("reason", "") + ")").c_str());
      s << buf;
    }
    std::snprintf(buf, sizeof buf, "\ninference: float %.0f images/s, int8 %.0f images/s (%.2fx)\n",
                  r.value("float_images_per_s", 0.0), r.value("int8_images_per_s", 0.0),
                  r.value("float_images_per_s", 0.0) > 0
                      ? r.value("int8_images_per_s", 0.0) / r.value("float_images_per_s", 0.0)
                      : 0.0);
    s << buf;
  }
  if (r.contains("float_file_bytes") && r.contains("int8_file_bytes")) {
    const double f = r["float_file_bytes"], q = r["int8_file_bytes"];
    std::snprintf(buf, sizeof buf, "model size: float %.0f bytes, int8 %.0f bytes (%.2fx)\n", f, q,
                  f > 0 ? q / f : 0.0);
    s << buf;
  }
  std::string fl;
  for (const auto& n : r.value("float_layers", nlohmann::json::array()))
    fl += (fl.empty() ? "" : ", ") + n.get<std::string>();
  s << "layers kept float: " << (fl.empty() ? "none" : fl) << "\n";
  return s.str();
}

}  // namespace perceptra::quant
