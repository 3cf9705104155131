#include "core/interp/live_snapshot.h"

namespace perceptra {

LiveSnapshot make_live_snapshot(Model& model, const Dataset& data, int64_t index, const NormStats& norm,
                                bool with_filters) {
  LiveSnapshot s;
  ActivationSnapshot a = capture_activations(model, data, {index}, norm);
  s.probe_index = index;
  s.probe_label = a.probe_label.empty() ? -1 : a.probe_label[0];
  if (!a.probe_images.empty()) s.probe_image = a.probe_images[0];
  s.probabilities = a.probabilities;
  s.predicted = a.predicted.empty() ? -1 : a.predicted[0];
  ActivationImageOptions opt;
  opt.tiles.colormap = ColorMap::Viridis;
  opt.tiles.max_tiles = 64;  // wide layers: the first 64 channels keep the view readable
  opt.tiles.separator_value = 24;
  opt.strip.cell_w = 6;
  opt.strip.cell_h = 18;
  opt.strip.per_row = 64;
  for (const auto& l : a.layers) {
    LayerImage li;
    li.name = l.name;
    li.type = l.type;
    std::vector<int64_t> dims(l.shape.dims().begin() + 1, l.shape.dims().end());
    li.shape = Shape(dims);
    li.tiles = activation_image(l, 0, opt);
    s.layers.push_back(std::move(li));
  }
  if (with_filters) {
    try {
      TileOptions to;
      to.colormap = ColorMap::Gray;
      to.separator_value = 24;
      s.filters = first_layer_filters(model, to);
      s.has_filters = true;
    } catch (const std::exception&) {
      s.has_filters = false;  // no conv layer (an MLP): nothing to show
    }
  }
  return s;
}

}  // namespace perceptra
