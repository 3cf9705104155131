#pragma once
// Transfer learning (fastai's fine_tune): start from a trained model, give it
// a new classifier head when the class count differs, train the head with
// the body frozen, then unfreeze everything with discriminative LRs.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/random.h"
#include "core/tensor/shape.h"

namespace perceptra {

class Model;
class Optimizer;
struct LoadedModel;

// Index of the last top-level "linear" layer of a spec (the head); Error
// naming the file when there is none.
int head_layer_index(const nlohmann::json& spec, const std::string& where);

// A model for `classes` classes from a loaded one: the same model when the
// count matches, else the spec with the head's out_features replaced, every
// other weight copied by name and the head freshly initialised from rng.
// The input shape must match `input` (InputError naming the file).
std::unique_ptr<Model> adapt_for_transfer(LoadedModel& loaded, const Shape& input, int classes, Rng& rng,
                                          const std::string& where);

// Parameter groups for discriminative LRs: the body's parameterised layers in
// two halves (groups 0 and 1), the head in group 2. Call before
// make_optimizer, then apply_lr_scales.
void assign_transfer_groups(Model& model, int head_index);
// Group scales 1/lr_mult, 1/sqrt(lr_mult), 1 (fastai's slice(lr/lr_mult, lr)).
void apply_lr_scales(Optimizer& optimizer, double lr_mult);
// Frozen: every parameter outside the head is not trainable, except
// BatchNorm's (fastai's train_bn). Unfrozen: all trainable.
void set_body_frozen(Model& model, int head_index, bool frozen);

}  // namespace perceptra
