#pragma once
// One probe image's view of the network at one moment, ready to show: the
// activations of every top-level layer as 8-bit tiles, the class
// probabilities and (optionally) the first layer's filters. Built wherever
// the model lives (the trainer thread for the live view, a worker for
// Inspect's detail), immutable once built, so it can cross threads.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/normalize.h"
#include "core/interp/activations.h"
#include "core/interp/image.h"

namespace perceptra {

class Model;

struct LayerImage {
  std::string name, type;
  Shape shape;       // per-sample output shape
  TiledImage tiles;  // feature maps as a grid, or a strip for dense layers
};

struct LiveSnapshot {
  int epoch = 0;
  int64_t step = 0;
  int64_t probe_index = 0;
  int probe_label = -1;
  Image8 probe_image;
  std::vector<float> probabilities;
  int predicted = -1;
  std::vector<LayerImage> layers;
  bool has_filters = false;
  FilterImages filters;
};

// Captures a LiveSnapshot of `model` for sample `index` of `data` (eval-mode
// forward only; see activations.h). with_filters adds the first conv
// layer's filters when the model has one.
LiveSnapshot make_live_snapshot(Model& model, const Dataset& data, int64_t index, const NormStats& norm,
                                bool with_filters);

}  // namespace perceptra
