#include "core/nn/pool2d.h"

#include "core/nn/layer_util.h"
#include "core/nn/spec_args.h"

namespace perceptra {

nlohmann::json Pool2d::args() const {
  return {
      {"kernel", pair_json(o_.kh, o_.kw)}, {"stride", pair_json(o_.sh, o_.sw)}, {"padding", pair_json(o_.ph, o_.pw)}};
}

Shape Pool2d::output_shape(const Shape& in) const { return pool_output_shape(o_, in, layer_where(*this)); }

}  // namespace perceptra
