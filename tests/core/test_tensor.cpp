#include <gtest/gtest.h>

#include "core/backend/backend.h"
#include "core/tensor/error.h"
#include "core/tensor/tensor.h"

using namespace perceptra;

TEST(Shape, NumelAndText) {
  Shape s{128, 1, 28, 28};
  EXPECT_EQ(s.numel(), 128 * 28 * 28);
  EXPECT_EQ(s.str(), "[128, 1, 28, 28]");
  EXPECT_EQ(s.sample(), (Shape{1, 28, 28}));
  EXPECT_EQ(s.with_batch(4)[0], 4);
  EXPECT_EQ(s[-1], 28);
}

TEST(Tensor, FromVectorRoundTripAndClone) {
  Tensor t = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(t.to_vector(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor c = t.clone();
  c.fill(0.f);
  EXPECT_EQ(t.to_vector()[0], 1.f) << "clone must not share storage";
  EXPECT_FALSE(c.shares_storage_with(t));
}

TEST(Tensor, ReshapeAndSliceShareStorage) {
  Tensor t = Tensor::from_vector({3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor r = t.reshape({6});
  EXPECT_TRUE(r.shares_storage_with(t));
  Tensor s = t.slice(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.to_vector(), (std::vector<float>{2, 3, 4, 5}));
  EXPECT_THROW(t.reshape({4}), Error);
  EXPECT_THROW(t.slice(2, 4), Error);
}

TEST(Tensor, CopyFromChecksSize) {
  Tensor a = Tensor::zeros({4});
  Tensor b = Tensor::full({4}, 2.5f);
  a.copy_from(b);
  EXPECT_EQ(a.to_vector(), (std::vector<float>(4, 2.5f)));
  Tensor c = Tensor::zeros({5});
  EXPECT_THROW(a.copy_from(c), Error);
}

TEST(Device, ParseRequests) {
  EXPECT_TRUE(DeviceRequest::parse("auto").automatic);
  EXPECT_TRUE(DeviceRequest::parse("cpu").device.is_cpu());
  EXPECT_EQ(DeviceRequest::parse("cuda:1").device.index, 1);
  EXPECT_THROW(DeviceRequest::parse("gpu"), InputError);
  EXPECT_THROW(DeviceRequest::parse("cuda:x"), InputError);
}

TEST(Device, CpuRequestNeverProbes) {
  std::string note;
  EXPECT_TRUE(resolve_device(DeviceRequest::parse("cpu"), &note).is_cpu());
  EXPECT_TRUE(note.empty());
}
