#include "core/interp/activations.h"

#include <algorithm>
#include <cmath>

#include "core/backend/backend.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"

namespace perceptra {

int64_t LayerActivation::sample_numel() const {
  return shape.rank() > 0 && shape[0] > 0 ? shape.numel() / shape[0] : 0;
}

ActivationSnapshot capture_activations(Model& model, const Tensor& probe, const CaptureOptions& options) {
  const Shape& in = model.input_shape();
  if (probe.rank() != in.rank() + 1 || probe.shape().sample() != in)
    throw InputError("activation probe",
                     "the model takes [batch, " + in.str().substr(1) + " but the probe is " + probe.shape().str());
  std::vector<Layer*> layers = model.layers();
  std::vector<char> keep(layers.size(), options.layers.empty() ? 1 : 0);
  for (int i : options.layers) {
    if (i < 0 || i >= static_cast<int>(layers.size()))
      throw InputError("activation layers",
                       "layer index " + std::to_string(i) + " is outside [0, " + std::to_string(layers.size()) + ")");
    keep[static_cast<size_t>(i)] = 1;
  }

  ActivationSnapshot snap;
  snap.input = probe.shape();
  Tensor h = probe.device() == model.device() ? probe : probe.to(model.device());
  for (size_t i = 0; i < layers.size(); ++i) {
    h = layers[i]->forward(h, /*training=*/false);
    if (!keep[i]) continue;
    LayerActivation a;
    a.layer_index = static_cast<int>(i);
    a.name = layers[i]->name();
    a.type = layers[i]->type();
    a.shape = h.shape();
    a.values = h.to_vector();
    snap.layers.push_back(std::move(a));
  }

  // Probabilities of the probes, computed on the host (N is small).
  if (h.rank() == 2) {
    const int N = static_cast<int>(h.dim(0));
    const int C = static_cast<int>(h.dim(1));
    std::vector<float> logits = h.to_vector();
    snap.classes = C;
    snap.probabilities.resize(logits.size());
    snap.predicted.resize(static_cast<size_t>(N));
    for (int n = 0; n < N; ++n) {
      const float* z = logits.data() + static_cast<size_t>(n) * C;
      float* p = snap.probabilities.data() + static_cast<size_t>(n) * C;
      float m = *std::max_element(z, z + C);
      double s = 0;
      for (int c = 0; c < C; ++c) s += (p[c] = std::exp(z[c] - m));
      for (int c = 0; c < C; ++c) p[c] = static_cast<float>(p[c] / s);
      snap.predicted[static_cast<size_t>(n)] = static_cast<int>(std::max_element(z, z + C) - z);
    }
  }
  return snap;
}

ActivationSnapshot capture_activations(Model& model, const Dataset& data, const std::vector<int64_t>& indices,
                                       const NormStats& stats, const CaptureOptions& options) {
  if (indices.empty()) throw InputError("activation probe", "no probe image selected");
  ActivationSnapshot snap = capture_activations(model, make_probe_batch(data, indices, stats, model.device()), options);
  const Shape s = data.sample_shape();
  std::vector<float> img(static_cast<size_t>(s.numel()));
  for (int64_t idx : indices) {
    data.image(idx, img.data());
    snap.probe_index.push_back(idx);
    snap.probe_label.push_back(data.label(idx));
    snap.probe_images.push_back(
        image_from_chw(img.data(), static_cast<int>(s[0]), static_cast<int>(s[1]), static_cast<int>(s[2])));
  }
  return snap;
}

Tensor make_probe_batch(const Dataset& data, const std::vector<int64_t>& indices, const NormStats& stats,
                        Device device) {
  Shape s = data.sample_shape();
  if (s.rank() != 3) throw InputError(data.source(), "samples must be [C, H, W] images, got " + s.str());
  const int64_t numel = s.numel(), plane = s[1] * s[2];
  if (!stats.empty() && stats.channels() != s[0])
    throw InputError(data.source(), "normalisation has " + std::to_string(stats.channels()) +
                                        " channels but the images have " + std::to_string(s[0]));
  std::vector<float> host(static_cast<size_t>(numel) * indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t idx = indices[i];
    if (idx < 0 || idx >= data.size())
      throw InputError(data.source(),
                       "sample index " + std::to_string(idx) + " is outside [0, " + std::to_string(data.size()) + ")");
    float* dst = host.data() + static_cast<size_t>(numel) * i;
    data.image(idx, dst);
    if (!stats.empty()) stats.apply(dst, s[0], plane);
  }
  return Tensor::from_vector(Shape{static_cast<int64_t>(indices.size()), s[0], s[1], s[2]}, host, device);
}

TiledImage activation_image(const LayerActivation& a, int sample, const ActivationImageOptions& options) {
  if (a.shape.rank() < 1 || sample < 0 || sample >= a.shape[0])
    throw InputError("activation " + a.name,
                     "sample " + std::to_string(sample) + " is outside the batch " + a.shape.str());
  const float* x = a.sample(sample);
  if (a.spatial())
    return tile_feature_maps(x, static_cast<int>(a.shape[1]), static_cast<int>(a.shape[2]),
                             static_cast<int>(a.shape[3]), options.tiles);
  return dense_strip(x, static_cast<int>(a.sample_numel()), options.strip);
}

// Lays equally sized images out in a near-square grid with separators.
static TiledImage compose_grid(const std::vector<Image8>& images, const TileOptions& o, int channels,
                               const std::vector<ValueRange>& ranges) {
  TiledImage out;
  grid_layout(static_cast<int>(images.size()), o.columns, &out.columns, &out.rows);
  if (images.empty()) return out;
  const int tw = images[0].w, th = images[0].h;
  out.image = Image8(out.columns * tw + (out.columns - 1) * o.separator, out.rows * th + (out.rows - 1) * o.separator,
                     channels, o.separator_value);
  for (size_t k = 0; k < images.size(); ++k) {
    Tile t;
    t.index = static_cast<int>(k);
    t.x = static_cast<int>(k % out.columns) * (tw + o.separator);
    t.y = static_cast<int>(k / out.columns) * (th + o.separator);
    t.w = tw;
    t.h = th;
    t.range = ranges[k];
    for (int y = 0; y < th; ++y)
      std::copy_n(images[k].at(0, y), static_cast<size_t>(tw) * channels, out.image.at(t.x, t.y + y));
    out.tiles.push_back(t);
  }
  return out;
}

FilterImages filter_images(const std::vector<float>& w, const Shape& shape, const TileOptions& o) {
  if (shape.rank() != 4 || static_cast<int64_t>(w.size()) != shape.numel())
    throw InputError("filter images", "expects conv weights [K, Cin, kh, kw] but got " + shape.str() + " with " +
                                          std::to_string(w.size()) + " values");
  PCHECK(o.scale >= 1, "filter_images: scale must be >= 1");
  const int K = static_cast<int>(shape[0]), Cin = static_cast<int>(shape[1]);
  const int kh = static_cast<int>(shape[2]), kw = static_cast<int>(shape[3]);
  const size_t plane = static_cast<size_t>(kh) * kw, per_filter = plane * Cin;
  const bool rgb = Cin == 3;
  const int channels = rgb ? 3 : colormap_channels(o.colormap);
  NormOptions norm = o.norm;
  norm.scope = NormScope::PerChannel;

  FilterImages out;
  std::vector<ValueRange> ranges;
  int count = o.max_tiles > 0 ? std::min(K, o.max_tiles) : K;
  for (int k = 0; k < count; ++k) {
    const float* f = w.data() + per_filter * k;
    Image8 img(kw * o.scale, kh * o.scale, channels);
    std::vector<float> mean;
    if (!rgb) {
      mean.assign(plane, 0.f);
      for (int c = 0; c < Cin; ++c)
        for (size_t i = 0; i < plane; ++i) mean[i] += f[plane * c + i] / static_cast<float>(Cin);
    }
    ValueRange r = rgb ? value_range(f, per_filter, norm) : value_range(mean.data(), plane, norm);
    for (int y = 0; y < kh; ++y)
      for (int x = 0; x < kw; ++x) {
        size_t i = static_cast<size_t>(y) * kw + x;
        std::array<uint8_t, 3> c{};
        if (rgb) {
          for (int ch = 0; ch < 3; ++ch)
            c[ch] = static_cast<uint8_t>(std::lround(normalize_value(f[plane * ch + i], r) * 255.f));
        } else {
          c = colormap_rgb(o.colormap, normalize_value(mean[i], r));
        }
        for (int dy = 0; dy < o.scale; ++dy)
          for (int dx = 0; dx < o.scale; ++dx) {
            uint8_t* p = img.at(x * o.scale + dx, y * o.scale + dy);
            for (int ch = 0; ch < channels; ++ch) p[ch] = c[ch];
          }
      }
    out.filters.push_back(std::move(img));
    ranges.push_back(r);
  }
  out.grid = compose_grid(out.filters, o, channels, ranges);
  return out;
}

FilterImages first_layer_filters(Model& model, const TileOptions& options) {
  for (Layer* l : model.layers()) {
    if (l->type() != "conv2d") continue;
    for (Parameter* p : l->parameters())
      if (p->value.rank() == 4) return filter_images(p->value.to_vector(), p->value.shape(), options);
  }
  throw InputError("filter images", "the model has no convolution layer at the top level");
}

}  // namespace perceptra
