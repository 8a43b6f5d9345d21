#include "covscreen/models/keras_resnet.h"

#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/strings.h"
#include "covscreen/models/resnet.h"

namespace covscreen {

namespace fs = std::filesystem;

namespace {

constexpr double kTorchBnEps = 1e-5;
const int kBlocks[4] = {3, 4, 6, 3};  // ResNet-50's blocks per stage (Keras stages 2..5)

// The Keras tensors by name ("res2a_branch2a/kernel"), read from the shards of every
// weightsManifest group in manifest order. Each weight takes prod(shape) float32s.
std::map<std::string, torch::Tensor> read_tfjs_weights(const nlohmann::json& manifest, const fs::path& dir,
                                                       const std::string& model_json) {
  std::map<std::string, torch::Tensor> out;
  if (!manifest.is_array() || manifest.empty()) throw FileError(model_json, "has no weightsManifest");
  for (const auto& group : manifest) {
    std::string bytes;
    for (const auto& p : group.at("paths")) bytes += read_file((dir / p.get<std::string>()).string());
    size_t offset = 0;
    for (const auto& w : group.at("weights")) {
      const std::string name = w.at("name").get<std::string>();
      if (w.value("dtype", std::string("float32")) != "float32")
        throw FileError(model_json, "weight '" + name + "' is " + w.value("dtype", std::string()) +
                                        ", only float32 weights are converted (no quantized TF.js models)");
      if (w.contains("quantization")) throw FileError(model_json, "weight '" + name + "' is quantized");
      std::vector<int64_t> shape = w.at("shape").get<std::vector<int64_t>>();
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      const size_t size = static_cast<size_t>(n) * sizeof(float);
      if (offset + size > bytes.size())
        throw FileError(model_json, "the shards of its weightsManifest end inside weight '" + name + "' (" +
                                        std::to_string(bytes.size()) + " bytes): a shard is missing or truncated");
      auto t = torch::empty(shape, torch::kFloat32);
      std::memcpy(t.data_ptr<float>(), bytes.data() + offset, size);  // little-endian, as TF.js writes
      offset += size;
      if (!out.emplace(name, t).second) throw FileError(model_json, "weight '" + name + "' appears twice");
    }
    if (offset != bytes.size())
      throw FileError(model_json, "its shards hold " + std::to_string(bytes.size() - offset) +
                                      " bytes more than its weightsManifest describes");
  }
  return out;
}

struct Converter {
  std::string source;  // model.json, for errors
  std::map<std::string, torch::Tensor> keras;
  std::map<std::string, nlohmann::json> layers;  // Keras layer name -> config
  std::set<std::string> used;
  std::map<std::string, torch::Tensor> out;

  torch::Tensor take(const std::string& name) {
    auto it = keras.find(name);
    if (it == keras.end()) throw FileError(source, "has no weight '" + name + "' (not Keras' ResNet-50?)");
    used.insert(name);
    return it->second;
  }
  const nlohmann::json& layer(const std::string& name) const {
    auto it = layers.find(name);
    if (it == layers.end()) throw FileError(source, "its topology has no layer '" + name + "' (not Keras' ResNet-50?)");
    return it->second;
  }
  void expect_stride(const std::string& conv, int stride) const {
    const auto s = layer(conv).value("strides", std::vector<int>{1, 1});
    if (s != std::vector<int>{stride, stride})
      throw FileError(source, "layer '" + conv + "' has strides " + nlohmann::json(s).dump() + ", expected " +
                                  std::to_string(stride) + ": not the ResNet-50 v1 layout this converter knows");
  }

  // conv (+ bias) -> BN, folded: running_mean -= bias, running_var += eps_keras - eps_torch.
  void conv_bn(const std::string& kconv, const std::string& kbn, const std::string& tconv, const std::string& tbn,
               double input_scale = 1.0, bool bgr_to_rgb = false) {
    const nlohmann::json& conv = layer(kconv);
    const torch::Tensor kernel = take(kconv + "/kernel");
    if (kernel.dim() != 4)
      throw FileError(source, "weight '" + kconv + "/kernel' has " + std::to_string(kernel.dim()) +
                                  " dimensions; a convolution kernel has 4 [kh, kw, in, out]");
    auto w = kernel.permute({3, 2, 0, 1}).contiguous();  // [out, in, kh, kw]
    if (bgr_to_rgb) w = w.flip({1});
    out[tconv + ".weight"] = (w * input_scale).contiguous();
    torch::Tensor bias = conv.value("use_bias", true) ? take(kconv + "/bias") : torch::zeros({w.size(0)});
    const nlohmann::json& bn = layer(kbn);
    const double eps = bn.value("epsilon", 1e-3);
    out[tbn + ".weight"] = bn.value("scale", true) ? take(kbn + "/gamma") : torch::ones_like(bias);
    out[tbn + ".bias"] = bn.value("center", true) ? take(kbn + "/beta") : torch::zeros_like(bias);
    out[tbn + ".running_mean"] = take(kbn + "/moving_mean") - bias;
    out[tbn + ".running_var"] = take(kbn + "/moving_variance") + (eps - kTorchBnEps);
  }
};

}  // namespace

StateDict convert_keras_resnet50(const std::string& model_json) {
  const nlohmann::json j = read_json_file(model_json, "TensorFlow.js model");
  Converter c;
  c.source = model_json;
  try {
    if (j.value("format", std::string()) != "layers-model")
      throw FileError(model_json,
                      "is not a TensorFlow.js layers model (format '" + j.value("format", std::string()) + "')");
    for (const auto& l : j.at("modelTopology").at("model_config").at("config").at("layers"))
      c.layers[l.at("config").at("name").get<std::string>()] = l.at("config");
    c.keras = read_tfjs_weights(j.at("weightsManifest"), fs::path(model_json).parent_path(), model_json);
  } catch (const nlohmann::json::exception& e) {
    throw FileError(model_json, std::string("is not a TensorFlow.js layers model: ") + e.what());
  }

  c.conv_bn("conv1", "bn_conv1", "conv1", "bn1", kKerasInputScale, /*bgr_to_rgb=*/true);
  c.expect_stride("conv1", 2);
  for (int s = 0; s < 4; ++s) {
    const std::string stage = std::to_string(s + 2);
    for (int b = 0; b < kBlocks[s]; ++b) {
      const std::string k = stage + std::string(1, static_cast<char>('a' + b));
      const std::string t = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      const int stride = (b == 0 && s > 0) ? 2 : 1;
      c.expect_stride("res" + k + "_branch2a", stride);  // Keras: the stride on the first 1x1
      c.expect_stride("res" + k + "_branch2b", 1);
      c.conv_bn("res" + k + "_branch2a", "bn" + k + "_branch2a", t + ".conv1", t + ".bn1");
      c.conv_bn("res" + k + "_branch2b", "bn" + k + "_branch2b", t + ".conv2", t + ".bn2");
      c.conv_bn("res" + k + "_branch2c", "bn" + k + "_branch2c", t + ".conv3", t + ".bn3");
      if (b == 0) {
        c.expect_stride("res" + k + "_branch1", stride);
        c.conv_bn("res" + k + "_branch1", "bn" + k + "_branch1", t + ".downsample.0", t + ".downsample.1");
      }
    }
  }
  c.out["fc.weight"] = c.take("fc1000/kernel").t().contiguous();
  c.out["fc.bias"] = c.take("fc1000/bias");
  for (const auto& [name, t] : c.keras)
    if (!c.used.count(name)) throw FileError(model_json, "weight '" + name + "' has no place in ResNet-50");

  // Checked against the model itself: every tensor of resnet50v1 (fc 1000) present with its shape,
  // and no other (load_module_state); the BN step counters start at zero.
  ResNet net(ResNetOptions::resnet50(1000, /*stride_on_1x1=*/true));
  for (const auto& [name, t] : module_tensors(*net))
    if (ends_with(name, "num_batches_tracked")) c.out[name] = torch::zeros_like(t);
  load_module_state(*net, c.out, model_json);
  StateDict sd = std::move(c.out);
  sd[kStrideOn1x1Key] = torch::ones({1});
  return sd;
}

}  // namespace covscreen
