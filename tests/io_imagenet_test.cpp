// The ImageNet ResNet-50 converted from Keras (scripts/get-imagenet-resnet50, models/keras_resnet.h)
// classifies natural images as Keras does: Debian's python3-skimage ships a cat (chelsea.png) and a
// cup of coffee (coffee.png), whose Keras top-1 classes are Egyptian cat and espresso. A wrong
// stride placement, channel order, transpose or BN fold breaks this.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "covscreen/models/keras_resnet.h"
#include "covscreen/models/resnet.h"
#include "covscreen/models/state_dict.h"
#include "test_util.h"

namespace covscreen {
namespace {

const std::string kSkimageData = "/usr/lib/python3/dist-packages/skimage/data";

// Keras' preprocessing at 224 x 224 (area-averaged resize), in the converted network's convention
// (RGB, caffe mean, scale). Measured: P(Egyptian cat) 0.946, P(espresso) 0.987.
torch::Tensor keras_input(const std::string& path) {
  cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  if (bgr.empty()) throw std::runtime_error("cannot read " + path);
  cv::resize(bgr, bgr, cv::Size(224, 224), 0, 0, cv::INTER_AREA);
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  auto x = torch::from_blob(rgb.data, {224, 224, 3}, torch::kUInt8).to(torch::kFloat32).permute({2, 0, 1});
  const auto mean = torch::tensor({kCaffeMeanRgb[0], kCaffeMeanRgb[1], kCaffeMeanRgb[2]}).to(torch::kFloat32);
  return ((x - mean.view({3, 1, 1})) / kKerasInputScale).unsqueeze(0).contiguous();
}

TEST(ImageNetResNet50, ClassifiesNaturalImagesAsKerasDoes) {
  const std::string w = test::imagenet_weights();
  if (w.empty()) COVSCREEN_SKIP() << "no converted ImageNet ResNet-50: run scripts/get-imagenet-resnet50";
  if (!test::fs::exists(kSkimageData + "/chelsea.png"))
    COVSCREEN_SKIP() << kSkimageData << " is absent (python3-skimage)";
  StateDict sd = read_state_dict(w);
  sd.erase(kStrideOn1x1Key);
  ResNet net(ResNetOptions::resnet50(1000, /*stride_on_1x1=*/true));
  load_module_state(*net, sd, w);
  net->eval();
  torch::NoGradGuard ng;
  struct Case {
    const char* file;
    int64_t cls;
    const char* name;
  };
  for (const Case& c : {Case{"chelsea.png", 285, "Egyptian cat"}, Case{"coffee.png", 967, "espresso"}}) {
    const auto p = torch::softmax(net->forward(keras_input(kSkimageData + "/" + c.file)), 1)[0];
    const int64_t top = p.argmax().item<int64_t>();
    std::cout << c.file << ": top-1 " << top << " p " << p[top].item<float>() << "\n";
    EXPECT_EQ(top, c.cls) << c.file << " should be " << c.name;
    EXPECT_GT(p[c.cls].item<float>(), 0.9) << c.file;
  }
}

}  // namespace
}  // namespace covscreen
