#pragma once
// Saliency maps for one input image, the size of the image, ready to overlay
// (image.h overlay_heatmap):
// - Grad-CAM (Selvaraju et al. 2017): gradients of the target class score
//   (the logit, before softmax) at a chosen layer's 4-D output A [1,K,h,w];
//   channel weights a_k = spatial mean of the gradient; map = ReLU(sum_k a_k A_k),
//   bilinearly upsampled to the input size (half-pixel centres, as PyTorch's
//   align_corners=False and OpenCV's INTER_LINEAR), divided by its maximum.
// - Input gradient (Simonyan et al. 2014): |d score / d x|, max over
//   channels, divided by its maximum.
//
// Both run on the model they are given, in eval mode (BatchNorm running
// stats, no dropout), and SAVE AND RESTORE every parameter gradient, so they
// are safe on the training model between batches: parameter values, buffers
// and gradients are bit-identical afterwards. Use clone_model() to inspect
// while another thread keeps training the original.
#include <memory>
#include <string>
#include <vector>

#include "core/tensor/tensor.h"

namespace perceptra {

class Model;

struct HeatMap {
  int width = 0, height = 0;
  std::vector<float> values;  // [height * width], in [0,1]; all 0 when nothing is salient
  // Grad-CAM only: the map at the layer's resolution before upsampling and
  // normalisation (ReLU already applied), and the channel weights a_k.
  int coarse_width = 0, coarse_height = 0;
  std::vector<float> coarse;
  std::vector<float> channel_weights;
  int layer_index = -1;  // Grad-CAM layer (-1 for input gradients)
  std::string layer_name;
  int target_class = 0;
  float score = 0;                   // logit of the target class
  std::vector<float> probabilities;  // softmax of the logits
};

// The last top-level layer whose output is 4-D [N,C,H,W], or -1 when none is.
int default_gradcam_layer(Model& model);

// image: one normalised input [1, C, H, W] (any device). target_class -1 means
// the predicted class; layer_index -1 means default_gradcam_layer. Throws
// InputError for a bad shape, class or layer (not 4-D, or the last layer).
HeatMap grad_cam(Model& model, const Tensor& image, int target_class = -1, int layer_index = -1);
HeatMap input_gradient_saliency(Model& model, const Tensor& image, int target_class = -1);

// Bilinear resize of a single-channel map (half-pixel centres, edge clamp).
std::vector<float> upsample_bilinear(const std::vector<float>& src, int src_w, int src_h, int dst_w, int dst_h);

// A copy of a model (same spec, weights and buffers copied) on device, for
// inspection while the original keeps training. Gradients start at zero.
std::unique_ptr<Model> clone_model(Model& model, Device device);

}  // namespace perceptra
