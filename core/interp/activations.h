#pragma once
// Live activation views (Zeiler & Fergus in spirit): the output of every
// top-level layer for a few probe images, captured in eval mode so training
// is not disturbed, returned as host value copies that can cross threads.
//
// capture_activations runs on the model it is given (the trainer calls it on
// its own thread between batches). Eval mode means: BatchNorm uses and does
// not update its running statistics, Dropout is the identity (and does not
// advance its mask stream), no parameter value or gradient is written. Only
// the layers' backward caches are overwritten, which the next training
// forward replaces anyway.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/normalize.h"
#include "core/interp/image.h"
#include "core/tensor/tensor.h"

namespace perceptra {

class Model;

struct LayerActivation {
  int layer_index = 0;  // into Model::layers()
  std::string name, type;
  Shape shape;                // with the batch dimension, e.g. [1, 32, 28, 28]
  std::vector<float> values;  // host copy, row-major
  bool spatial() const { return shape.rank() == 4; }
  int64_t sample_numel() const;
  const float* sample(int n) const { return values.data() + sample_numel() * n; }
};

struct ActivationSnapshot {
  Shape input;                          // [N, C, H, W] of the probe batch
  std::vector<LayerActivation> layers;  // in layer order
  std::vector<float> probabilities;     // softmax of the logits, [N * classes]
  std::vector<int> predicted;           // argmax per probe
  int classes = 0;
  // Filled by the dataset overload: which samples the probes are, their
  // labels, and the probe images as shown to a person (before normalisation).
  std::vector<int64_t> probe_index;
  std::vector<int> probe_label;
  std::vector<Image8> probe_images;
};

struct CaptureOptions {
  // Top-level layer indices to keep (empty: all). The forward pass runs
  // through the whole model either way; unlisted outputs are not copied.
  std::vector<int> layers;
};

// probe: normalised input [N, C, H, W] (any device; moved to the model's).
// Throws InputError for a shape the model does not take or a bad layer index.
ActivationSnapshot capture_activations(Model& model, const Tensor& probe, const CaptureOptions& options = {});

// The same for dataset samples: builds the normalised probe batch on the
// model's device and records indices, labels and displayable images. This is
// what a trainer snapshot hook calls:
//   trainer.set_snapshot_hook("activations", 50, [=](SnapshotContext& c) {
//     return std::make_shared<const ActivationSnapshot>(
//         capture_activations(c.model, *data, {idx}, c.norm));
//   });
ActivationSnapshot capture_activations(Model& model, const Dataset& data, const std::vector<int64_t>& indices,
                                       const NormStats& stats, const CaptureOptions& options = {});

// The listed samples of a dataset as a normalised batch [N, C, H, W] on
// device (stats.empty() means no normalisation).
Tensor make_probe_batch(const Dataset& data, const std::vector<int64_t>& indices, const NormStats& stats,
                        Device device = Device::cpu());

// One probe's activation of one layer as an image: 4-D outputs as a grid of
// channel tiles (tile.index = channel), anything else flattened into a strip
// (tile.index = unit).
struct ActivationImageOptions {
  TileOptions tiles;
  StripOptions strip;
};
TiledImage activation_image(const LayerActivation& activation, int sample = 0,
                            const ActivationImageOptions& options = {});

// First-layer (or any conv layer's) filters [K, Cin, kh, kw] as one image per
// filter: RGB when Cin == 3 (the three channels share one range so colour is
// kept), otherwise the mean over input channels through options.colormap.
// Each filter is normalised on its own (options.norm.scope is ignored).
// The grid has one tile per filter (tile.index = filter).
struct FilterImages {
  std::vector<Image8> filters;
  TiledImage grid;
};
FilterImages filter_images(const std::vector<float>& weights, const Shape& shape, const TileOptions& options = {});
// The first conv2d layer's filters of a model; throws InputError when the
// model has no top-level conv2d.
FilterImages first_layer_filters(Model& model, const TileOptions& options = {});

}  // namespace perceptra
