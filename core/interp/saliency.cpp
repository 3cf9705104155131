#include "core/interp/saliency.h"

#include <algorithm>
#include <cmath>

#include "core/nn/model.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {

namespace {

// Restores every parameter gradient on scope exit (also on exceptions).
class GradGuard {
 public:
  explicit GradGuard(Model& model) {
    for (Parameter* p : model.parameters())
      if (p->grad.defined()) saved_.emplace_back(p, p->grad.clone());
  }
  ~GradGuard() {
    for (auto& [p, g] : saved_) p->grad.copy_from(g);
  }
  GradGuard(const GradGuard&) = delete;
  GradGuard& operator=(const GradGuard&) = delete;

 private:
  std::vector<std::pair<Parameter*, Tensor>> saved_;
};

void check_image(Model& model, const Tensor& image) {
  Shape want = model.input_shape();
  if (image.rank() != want.rank() + 1 || image.dim(0) != 1 || image.shape().sample() != want || want.rank() != 3)
    throw InputError("saliency input",
                     "expects one image [1, " + want.str().substr(1) + " but gets " + image.shape().str());
}

// Softmax, argmax and the checked target class from the logits [1, C].
void read_logits(const Tensor& logits, int& target, HeatMap& out) {
  PCHECK(logits.rank() == 2 && logits.dim(0) == 1,
         "saliency: the model's output " + logits.shape().str() + " is not [1, classes]");
  std::vector<float> z = logits.to_vector();
  const int C = static_cast<int>(z.size());
  if (target < -1 || target >= C)
    throw InputError("saliency target",
                     "class " + std::to_string(target) + " is outside [0, " + std::to_string(C) + ")");
  if (target == -1) target = static_cast<int>(std::max_element(z.begin(), z.end()) - z.begin());
  float m = *std::max_element(z.begin(), z.end());
  double s = 0;
  out.probabilities.resize(z.size());
  for (int c = 0; c < C; ++c) s += (out.probabilities[c] = std::exp(z[c] - m));
  for (float& p : out.probabilities) p = static_cast<float>(p / s);
  out.target_class = target;
  out.score = z[static_cast<size_t>(target)];
}

Tensor one_hot(int classes, int target, Device device) {
  std::vector<float> v(static_cast<size_t>(classes), 0.f);
  v[static_cast<size_t>(target)] = 1.f;
  return Tensor::from_vector({1, classes}, v, device);
}

void normalize_by_max(std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, x);
  if (!(m > 0) || !std::isfinite(m)) {
    std::fill(v.begin(), v.end(), 0.f);
    return;
  }
  for (float& x : v) x = std::clamp(x / m, 0.f, 1.f);
}

}  // namespace

int default_gradcam_layer(Model& model) {
  // The model's input shape has no batch dim: prepend one.
  std::vector<int64_t> dims{1};
  for (int64_t d : model.input_shape().dims()) dims.push_back(d);
  Shape s(dims);
  int last = -1;
  std::vector<Layer*> layers = model.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    s = layers[i]->output_shape(s);
    if (s.rank() == 4) last = static_cast<int>(i);
  }
  return last;
}

std::vector<float> upsample_bilinear(const std::vector<float>& src, int sw, int sh, int dw, int dh) {
  PCHECK(sw > 0 && sh > 0 && dw > 0 && dh > 0 && src.size() == static_cast<size_t>(sw) * static_cast<size_t>(sh),
         "upsample_bilinear: bad sizes");
  std::vector<float> out(static_cast<size_t>(dw) * dh);
  const float rx = static_cast<float>(sw) / dw, ry = static_cast<float>(sh) / dh;
  for (int y = 0; y < dh; ++y) {
    float fy = std::max(0.f, (y + 0.5f) * ry - 0.5f);
    int y0 = std::min(static_cast<int>(fy), sh - 1), y1 = std::min(y0 + 1, sh - 1);
    float wy = fy - y0;
    for (int x = 0; x < dw; ++x) {
      float fx = std::max(0.f, (x + 0.5f) * rx - 0.5f);
      int x0 = std::min(static_cast<int>(fx), sw - 1), x1 = std::min(x0 + 1, sw - 1);
      float wx = fx - x0;
      auto at = [&](int yy, int xx) { return src[static_cast<size_t>(yy) * sw + xx]; };
      float top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
      float bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
      out[static_cast<size_t>(y) * dw + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

HeatMap grad_cam(Model& model, const Tensor& image, int target_class, int layer_index) {
  check_image(model, image);
  std::vector<Layer*> layers = model.layers();
  if (layer_index == -1) {
    layer_index = default_gradcam_layer(model);
    if (layer_index < 0) throw InputError("grad-cam", "the model has no layer with an image-shaped (4-D) output");
  }
  if (layer_index < 0 || layer_index >= static_cast<int>(layers.size()) - 1)
    throw InputError("grad-cam", "layer " + std::to_string(layer_index) + " is outside [0, " +
                                     std::to_string(static_cast<int>(layers.size()) - 1) +
                                     ") (the last layer gives the scores)");
  GradGuard guard(model);
  HeatMap out;
  out.layer_index = layer_index;
  out.layer_name = layers[static_cast<size_t>(layer_index)]->name();

  Tensor h = image.device() == model.device() ? image : image.to(model.device());
  Tensor A;
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i]->forward(h, /*training=*/false);
    if (static_cast<int>(i) == layer_index) A = h;
  }
  if (A.rank() != 4)
    throw InputError("grad-cam", "layer " + std::to_string(layer_index) + " (" + out.layer_name + ") outputs " +
                                     A.shape().str() + ", not an image-shaped [1, C, H, W]");
  read_logits(h, target_class, out);

  Tensor g = one_hot(static_cast<int>(h.dim(1)), out.target_class, h.device());
  for (int i = static_cast<int>(layers.size()) - 1; i > layer_index; --i)
    g = layers[static_cast<size_t>(i)]->backward(g);
  PCHECK(g.shape() == A.shape(),
         "grad-cam: gradient " + g.shape().str() + " does not match the activation " + A.shape().str());

  const int K = static_cast<int>(A.dim(1)), ch = static_cast<int>(A.dim(2)), cw = static_cast<int>(A.dim(3));
  const size_t plane = static_cast<size_t>(ch) * cw;
  std::vector<float> a = A.to_vector(), grad = g.to_vector();
  out.channel_weights.assign(static_cast<size_t>(K), 0.f);
  out.coarse.assign(plane, 0.f);
  for (int k = 0; k < K; ++k) {
    double s = 0;
    for (size_t i = 0; i < plane; ++i) s += grad[plane * k + i];
    float w = static_cast<float>(s / static_cast<double>(plane));
    out.channel_weights[static_cast<size_t>(k)] = w;
    for (size_t i = 0; i < plane; ++i) out.coarse[i] += w * a[plane * k + i];
  }
  for (float& v : out.coarse) v = std::max(v, 0.f);
  out.coarse_width = cw;
  out.coarse_height = ch;

  out.height = static_cast<int>(image.dim(2));
  out.width = static_cast<int>(image.dim(3));
  out.values = upsample_bilinear(out.coarse, cw, ch, out.width, out.height);
  normalize_by_max(out.values);
  return out;
}

HeatMap input_gradient_saliency(Model& model, const Tensor& image, int target_class) {
  check_image(model, image);
  GradGuard guard(model);
  HeatMap out;
  Tensor logits = model.forward(image, /*training=*/false);
  read_logits(logits, target_class, out);
  Tensor dx = model.backward(one_hot(static_cast<int>(logits.dim(1)), out.target_class, logits.device()));
  const int C = static_cast<int>(image.dim(1));
  out.height = static_cast<int>(image.dim(2));
  out.width = static_cast<int>(image.dim(3));
  const size_t plane = static_cast<size_t>(out.height) * out.width;
  std::vector<float> d = dx.to_vector();
  PCHECK(d.size() == plane * C, "saliency: input gradient has the wrong size");
  out.values.assign(plane, 0.f);
  for (int c = 0; c < C; ++c)
    for (size_t i = 0; i < plane; ++i) out.values[i] = std::max(out.values[i], std::fabs(d[plane * c + i]));
  normalize_by_max(out.values);
  return out;
}

std::unique_ptr<Model> clone_model(Model& model, Device device) {
  Rng rng(0);  // weights are overwritten below; the draw only sizes them
  std::unique_ptr<Model> copy = Model::from_spec(model.spec(), rng, Device::cpu());
  std::vector<Parameter*> src = model.parameters(), dst = copy->parameters();
  PCHECK(src.size() == dst.size(), "clone_model: the spec rebuilt a different parameter list");
  for (size_t i = 0; i < src.size(); ++i) {
    PCHECK(src[i]->value.shape() == dst[i]->value.shape(), "clone_model: parameter " + src[i]->name + " changed shape");
    dst[i]->value.copy_from(src[i]->value);
    dst[i]->trainable = src[i]->trainable;
    dst[i]->decay = src[i]->decay;
    dst[i]->group = src[i]->group;
  }
  if (device != Device::cpu()) copy->to(device);
  return copy;
}

}  // namespace perceptra
