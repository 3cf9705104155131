#include "core/tensor/cuda_upload.h"

#include "core/backend/cuda/cuda_device.h"
#include "core/tensor/error.h"

namespace perceptra::cuda {

Tensor upload_batch(const float* host, const Shape& shape, Device device) {
  PCHECK(device.is_cuda(), "upload_batch: target device " + device.str() + " is not a CUDA device");
  Tensor t;
  {
    UploadPoolScope pool;  // the flag is reset even when allocation throws
    t = Tensor::empty(shape, device);
  }
  upload_async(device, t.data(), host, static_cast<size_t>(t.numel()));
  return t;
}

}  // namespace perceptra::cuda
