#include "core/nn/model_cost.h"

#include <algorithm>

#include "core/nn/activation.h"
#include "core/nn/model.h"
#include "core/nn/residual.h"
#include "core/nn/train_fusion.h"

namespace perceptra {

namespace {

// The tensor flowing between layers and whether some layer already keeps it
// for backward (tensors are shared: a ReLU's output is the next conv's
// cached input, counted once).
struct Flow {
  Shape shape;  // batched, batch 1
  bool kept = false;
};

struct Walker {
  ModelCost& c;
  const bool fuse = training_fusion();

  void keep(Flow& f) {
    if (!f.kept) c.train_kept_floats += f.shape.numel();
    f.kept = true;
  }
  void alloc(int64_t floats) { c.train_alloc_floats += floats; }
  void transient(int64_t floats) { c.train_transient_floats = std::max(c.train_transient_floats, floats); }
  void infer(int64_t floats) { c.infer_peak_floats = std::max(c.infer_peak_floats, floats); }

  static int64_t weight_numel(Layer& l) {
    for (Parameter* p : l.parameters())
      if (p->name.size() >= 6 && p->name.compare(p->name.size() - 6, 6, "weight") == 0) return p->value.numel();
    return 0;
  }

  // One plain layer; `held` floats per sample are alive around it in an
  // inference pass (a residual block's input, waiting for the shortcut).
  // `next_is_relu`: a following ReLU fuses into a conv or linear in training.
  Flow layer(Layer& l, Flow in, bool next_is_relu, int64_t held, bool* fused_relu) {
    const std::string t = l.type();
    const Shape out = l.output_shape(in.shape);
    const int64_t ni = in.shape.numel(), no = out.numel();
    if (no > c.largest_activation_floats) {
      c.largest_activation_floats = no;
      c.largest_layer = l.name();
    }
    Flow o{out, false};
    if (t == "residual") return residual(static_cast<Residual&>(l), in, held);
    if (t == "conv2d") {
      const int64_t spatial = out.rank() == 4 ? out[2] * out[3] : 1;
      c.forward_flops += 2.0 * double(weight_numel(l)) * double(spatial);
      keep(in);
      // dy, dx and oneDNN's blocked-layout copies of both.
      transient(2 * (ni + no));
      // Forward: output + blocked input/output; backward: dx + blocked
      // dy/dx/x for the data and weight gradients.
      alloc(4 * ni + 4 * no);
      infer(held + 2 * (ni + no));
      if (fuse && next_is_relu) {
        // conv+ReLU in one pass: the ReLU keeps this output as its x and y.
        o.kept = true;
        c.train_kept_floats += no;
        *fused_relu = true;
      }
      return o;
    }
    alloc(ni + no);  // the output and the input's gradient
    if (t == "linear") {
      c.forward_flops += 2.0 * double(weight_numel(l));
      keep(in);
      if (fuse && next_is_relu) {
        // linear+ReLU in one matmul: the ReLU keeps this output and still
        // allocates its input's gradient.
        o.kept = true;
        c.train_kept_floats += no;
        alloc(no);
        *fused_relu = true;
      }
    } else if (t == "batchnorm2d" || t == "batchnorm1d" || t == "batchnorm") {
      c.forward_flops += 4.0 * double(no);
      keep(in);
    } else if (t == "maxpool2d") {
      c.train_kept_floats += no;  // argmaxes; the input is released
      alloc(no);
      c.forward_flops += double(ni);
    } else if (t == "avgpool2d") {
      keep(in);
      c.forward_flops += double(ni);
    } else if (t == "dropout") {
      c.train_kept_floats += ni;  // the mask
      alloc(ni);
    } else if (t == "flatten") {
      c.train_alloc_floats -= ni + no;  // a view: nothing allocated
      return Flow{out, in.kept};
    } else if (t == "global_avgpool") {
      c.forward_flops += double(ni);
    } else {
      // Activations keep their output, and their input where the gradient
      // needs it (ActivationLayer::keeps_input).
      auto* a = dynamic_cast<ActivationLayer*>(&l);
      if (!a || a->keeps_input()) keep(in);
      o.kept = true;
      c.train_kept_floats += no;
      c.forward_flops += double(no);
    }
    transient(ni + no);
    infer(held + ni + no);
    return o;
  }

  Flow sequence(const std::vector<Layer*>& layers, Flow f, int64_t held) {
    for (size_t i = 0; i < layers.size(); ++i) {
      const bool next_relu = i + 1 < layers.size() && layers[i + 1]->type() == "relu";
      bool fused = false;
      f = layer(*layers[i], f, next_relu, held, &fused);
      if (fused) ++i;  // the ReLU ran inside the convolution or matmul
    }
    return f;
  }

  Flow residual(Residual& r, Flow x, int64_t held) {
    const auto kids = r.children();
    const auto& names = r.child_local_names();
    std::vector<Layer*> branch, shortcut;
    for (size_t i = 0; i < kids.size(); ++i)
      (i < names.size() && names[i].rfind("shortcut", 0) == 0 ? shortcut : branch).push_back(kids[i]);
    const int64_t nx = x.shape.numel();
    Flow main = sequence(branch, x, held + nx);
    x.kept = x.kept || !branch.empty();  // the branch's first layer keeps x (a conv does)
    Flow sc = shortcut.empty() ? x : sequence(shortcut, x, held + nx + main.shape.numel());
    (void)sc;
    const int64_t no = main.shape.numel();
    // sum = main + shortcut, then the block's activation keeps sum and its output.
    const bool act = nlohmann::json(r.args()).value("activation", std::string("relu")) != "none";
    c.train_kept_floats += act ? 2 * no : no;
    alloc(act ? 5 * no : 3 * no);  // sum, act output; ds, dx of the sum, act's dx
    c.forward_flops += double(no) * (act ? 2 : 1);
    // Backward: ds, dmain and dshort together, with dx of the sum.
    transient(4 * no);
    infer(held + nx + 2 * no);
    return Flow{main.shape, true};
  }
};

}  // namespace

ModelCost model_cost(const nlohmann::json& spec) {
  ModelCost c;
  std::vector<LayerPtr> layers = Model::analyze_layers(spec);
  c.input = Shape(spec.at("input").get<std::vector<int64_t>>());
  c.classes = spec.at("classes").get<int>();
  std::vector<Layer*> raw;
  for (auto& l : layers) {
    raw.push_back(l.get());
    for (Parameter* p : l->parameters()) (p->grad.defined() ? c.parameters : c.buffers) += p->value.numel();
  }
  std::vector<int64_t> d = c.input.dims();
  d.insert(d.begin(), 1);
  Walker w{c};
  Flow in{Shape(d), false};
  w.sequence(raw, in, 0);
  // The logits and the loss's gradient of them.
  c.train_kept_floats += 2 * int64_t(c.classes);
  return c;
}

}  // namespace perceptra
