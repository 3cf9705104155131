#pragma once
// Batch upload to a CUDA device (CUDA builds only: PERCEPTRA_WITH_CUDA).
#include "core/tensor/tensor.h"

namespace perceptra::cuda {

// Uploads a host batch into a new tensor on a CUDA device on the device's
// dedicated copy stream, through pinned staging buffers. Returns once `host`
// may be reused. The copy does not wait for the compute stream's queued work,
// so a loader thread uploading the next batch overlaps the current batch's
// kernels; every kernel queued on the device after this call waits for the
// copy. (Plain Tensor::from_vector/copy_from to a CUDA tensor copies on the
// compute stream instead: always safe, no overlap.)
Tensor upload_batch(const float* host, const Shape& shape, Device device);

}  // namespace perceptra::cuda
