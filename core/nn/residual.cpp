#include "core/nn/residual.h"

#include <set>

#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/inference.h"
#include "core/nn/layer_factory.h"
#include "core/nn/layer_util.h"
#include "core/nn/linear.h"
#include "core/nn/spec_args.h"
#include "core/nn/train_fusion.h"

namespace perceptra {

std::unique_ptr<Residual> Residual::from_spec(const nlohmann::json& spec, const Shape& input,
                                              const std::string& where) {
  // Blocks inside blocks recurse (from_spec <-> make_layer, then forward,
  // backward, spec() and destruction): a hostile spec nested thousands deep
  // would overflow the stack, so nesting is bounded far above real models.
  static thread_local int depth = 0;
  struct Depth {
    Depth() { ++depth; }
    ~Depth() { --depth; }
  } guard;
  if (depth > kMaxNesting)
    throw InputError(where, "residual blocks are nested more than " + std::to_string(kMaxNesting) + " deep");
  SpecArgs a(spec, where, {"layers", "shortcut", "activation"});
  if (!a.has("layers") || !a.raw("layers").is_array() || a.raw("layers").empty())
    a.fail("layers", "must be a non-empty list of layers");
  std::string shortcut = a.choice("shortcut", "auto", {"auto", "identity", "projection"});
  std::string activation = a.choice("activation", "relu", {"relu", "none"});

  std::unique_ptr<Residual> r(new Residual());
  Shape shape = input;
  std::set<std::string> used;
  const auto& layers = a.raw("layers");
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string child_where = where + " > " + layer_where(static_cast<int>(i), layers[i]);
    LayerPtr child = make_layer(layers[i], shape, child_where);
    std::string local = default_name_prefix(child->type()) + std::to_string(i);
    if (layers[i].contains("name")) {
      const auto& n = layers[i]["name"];
      if (!n.is_string() || !valid_layer_name(n.get<std::string>()))
        throw InputError(child_where, "field 'name' must use letters, digits, '_' or '-'");
      local = n.get<std::string>();
    }
    if (!used.insert(local).second)
      throw InputError(child_where, "field 'name': '" + local + "' is used twice in this block");
    shape = child->output_shape(shape);
    child->set_name(local);
    r->local_names_.push_back(local);
    r->branch_.push_back(std::move(child));
  }

  bool same = shape == input;
  if (shortcut == "identity" && !same)
    a.fail("shortcut", "is 'identity' but the branch changes the shape " + input.sample().str() + " -> " +
                           shape.sample().str() + "; use 'projection'");
  if (shortcut == "projection" || (shortcut == "auto" && !same)) {
    if (input.rank() == 4 && shape.rank() == 4) {
      // Stride that maps the input plane onto the branch's output plane.
      int sh = to_int((input[2] + shape[2] - 1) / shape[2]);
      int sw = to_int((input[3] + shape[3] - 1) / shape[3]);
      if ((input[2] - 1) / sh + 1 != shape[2] || (input[3] - 1) / sw + 1 != shape[3])
        a.fail("layers", "change the plane " + std::to_string(input[2]) + "x" + std::to_string(input[3]) + " -> " +
                             std::to_string(shape[2]) + "x" + std::to_string(shape[3]) +
                             ", which no strided 1x1 projection shortcut can match");
      Conv2dOptions o;
      o.in_channels = to_int(input[1]);
      o.out_channels = to_int(shape[1]);
      o.kh = o.kw = 1;
      o.sh = sh;
      o.sw = sw;
      o.bias = false;
      // The projection follows the branch's init scheme (its first conv's).
      for (auto& l : r->branch_)
        if (auto* c = dynamic_cast<Conv2d*>(l.get())) {
          o.init = c->options().init;
          break;
        }
      r->proj_ = std::make_unique<Conv2d>(o);
      r->proj_bn_ = std::make_unique<BatchNorm>(true, o.out_channels);
    } else if (input.rank() == 2 && shape.rank() == 2) {
      r->proj_ = std::make_unique<Linear>(to_int(input[1]), to_int(shape[1]), false);
      r->proj_bn_ = std::make_unique<BatchNorm>(false, to_int(shape[1]));
    } else {
      a.fail("layers", "change the input " + input.sample().str() + " into " + shape.sample().str() +
                           "; a residual branch must keep the rank (image or flat)");
    }
    r->proj_->set_name("shortcut_conv");
    if (input.rank() == 2) r->proj_->set_name("shortcut_fc");
    r->proj_bn_->set_name("shortcut_bn");
    r->local_names_.push_back(r->proj_->name());
    r->local_names_.push_back("shortcut_bn");
  }
  if (activation == "relu") r->act_ = std::make_unique<ActivationLayer>(Activation::ReLU);
  return r;
}

nlohmann::json Residual::args() const {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < branch_.size(); ++i) {
    const std::string& local = local_names_[i];
    bool custom = local != default_name_prefix(branch_[i]->type()) + std::to_string(i);
    layers.push_back(layer_spec(*branch_[i], custom ? local : ""));
  }
  return {{"layers", layers}, {"shortcut", proj_ ? "projection" : "identity"}, {"activation", act_ ? "relu" : "none"}};
}

Shape Residual::output_shape(const Shape& input) const {
  Shape s = input;
  for (const auto& l : branch_) s = l->output_shape(s);
  Shape sc = proj_ ? proj_->output_shape(input) : input;
  if (s != sc)
    throw InputError(layer_where(*this),
                     "the branch gives " + s.sample().str() + " but the shortcut gives " + sc.sample().str());
  return s;
}

Tensor Residual::forward(const Tensor& x, bool training) {
  x_block_ = x.channel_block();
  // A branch ending in a batch norm (ResNet's) writes the block's output in
  // that batch norm's pass: bn(h) + shortcut, then the ReLU. Saves the sum's
  // and the ReLU's passes over memory; the backward is unchanged (the ReLU
  // layer masks dy, the batch norm's gradient is the plain one).
  auto* last_bn =
      training && training_fusion() && !branch_.empty() ? dynamic_cast<BatchNorm*>(branch_.back().get()) : nullptr;
  if (last_bn && last_bn->synced()) last_bn = nullptr;
  Tensor main = forward_layers(branch_, last_bn ? branch_.size() - 1 : branch_.size(), x, training);
  Tensor shortcut = x;
  if (proj_) shortcut = proj_bn_->forward(proj_->forward(layer_input(*proj_, x), training), training);
  PCHECK(main.shape() == shortcut.shape(), layer_where(*this) + ": branch output " + main.shape().str() +
                                               " does not match shortcut " + shortcut.shape().str());
  if (last_bn) {
    Tensor y = last_bn->forward_add(main, shortcut, act_ != nullptr);
    if (act_) act_->adopt_relu_output(y);
    return y;
  }
  // The sum in the branch's layout (training may keep it channel-blocked).
  shortcut = shortcut.in_channel_block(main.channel_block());
  Tensor sum = Tensor::empty(main.shape(), x.device()).with_channel_block(main.channel_block());
  Backend& be = backend_for(x.device());
  be.add(main.data(), shortcut.data(), sum.data(), static_cast<size_t>(sum.numel()));
  if (!act_) return sum;
  // The ReLU in place on the fresh sum (one buffer fewer, still in cache);
  // its backward's mask y > 0 is the mask x > 0.
  be.activation_forward(Activation::ReLU, 0.f, sum.data(), sum.data(), static_cast<size_t>(sum.numel()));
  act_->adopt_relu_output(sum);
  return sum;
}

Tensor Residual::infer(const Tensor& x) {
  Tensor main = infer_layers(branch_, x);
  Tensor shortcut = x;
  if (proj_) {
    // The projection is conv + BatchNorm too: fold it the same way.
    auto* conv = inference_fusion() ? dynamic_cast<Conv2d*>(proj_.get()) : nullptr;
    auto* bn = dynamic_cast<BatchNorm*>(proj_bn_.get());
    shortcut = conv && bn ? conv->infer_fused(x, bn, false) : proj_bn_->infer(proj_->infer(x));
  }
  PCHECK(main.shape() == shortcut.shape(), layer_where(*this) + ": branch output " + main.shape().str() +
                                               " does not match shortcut " + shortcut.shape().str());
  // The sum is a fresh tensor: add and activate it in place.
  Tensor sum = Tensor::empty(main.shape(), x.device());
  Backend& be = backend_for(x.device());
  const size_t n = static_cast<size_t>(sum.numel());
  be.add(main.data(), shortcut.data(), sum.data(), n);
  if (act_) be.activation_forward(act_->kind(), act_->slope(), sum.data(), sum.data(), n);
  return sum;
}

Tensor Residual::backward(const Tensor& dy) {
  Tensor ds = act_ ? act_->backward(dy) : dy;
  Tensor dshort = proj_ ? proj_->backward(proj_bn_->backward(ds)) : ds;
  Tensor dmain = ds;
  for (size_t i = branch_.size(); i-- > 1;) dmain = branch_[i]->backward(dmain);
  // A branch starting with a convolution adds the shortcut's gradient as it
  // writes its input gradient (one pass over dx instead of the sum's three).
  auto* first = training_fusion() ? dynamic_cast<Conv2d*>(branch_[0].get()) : nullptr;
  if (first) {
    Tensor dx = first->backward_adding(dmain, dshort);
    if (dx.defined()) return dx.in_channel_block(x_block_);
  }
  dmain = branch_[0]->backward(dmain);
  // Both in x's layout (a layer that took x as NCHW gave its gradient so).
  const int block = x_block_;
  dmain = dmain.in_channel_block(block);
  dshort = dshort.in_channel_block(block);
  Tensor dx = Tensor::empty(dmain.shape(), dy.device()).with_channel_block(block);
  backend_for(dy.device()).add(dmain.data(), dshort.data(), dx.data(), static_cast<size_t>(dx.numel()));
  return dx;
}

std::vector<Parameter*> Residual::parameters() {
  std::vector<Parameter*> all;
  for (Layer* l : children())
    for (Parameter* p : l->parameters()) all.push_back(p);
  return all;
}

std::vector<Layer*> Residual::children() {
  std::vector<Layer*> c;
  for (auto& l : branch_) c.push_back(l.get());
  if (proj_) {
    c.push_back(proj_.get());
    c.push_back(proj_bn_.get());
  }
  return c;
}

void Residual::to(Device device) {
  for (Layer* l : children()) l->to(device);
}

void Residual::reset_parameters(Rng& rng) {
  for (Layer* l : children()) l->reset_parameters(rng);
}

}  // namespace perceptra
