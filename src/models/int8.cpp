#include "covscreen/models/int8.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <set>

#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/densenet.h"  // count_parameters
#include "covscreen/models/resnet.h"

namespace covscreen {

namespace nn = torch::nn;

// The pieces of the stage runners (named, not anonymous: Int8Stages, declared in the header, holds them).
namespace int8_impl {

constexpr int kFormVersion = 1;
constexpr const char* kScheme =
    "weights int8 per output channel (symmetric, BN folded); activations uint8 per tensor (min/max on the calibration "
    "images)";

// --- LibTorch's quantized operators, through the dispatcher (no header of theirs is public) ---

c10::OperatorHandle qop(const char* name, const char* overload) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
}

c10::IValue call(const c10::OperatorHandle& op, torch::jit::Stack stack) {
  op.callBoxed(&stack);
  return std::move(stack.at(0));
}

bool has_onednn() {
  const auto& engines = at::globalContext().supportedQEngines();
  return std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) != engines.end();
}

// uint8 affine parameters covering [lo, hi] (and 0, which must be exact).
struct QParams {
  double scale = 1;
  int64_t zero_point = 0;
};
QParams qparams(double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  QParams q;
  q.scale = hi > lo ? (hi - lo) / 255.0 : 1.0;
  q.zero_point = std::clamp<int64_t>(std::llround(-lo / q.scale), 0, 255);
  return q;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  bool seen() const { return lo <= hi; }
};

// A convolution with its batch norm folded in, and optionally the ReLU after it.
struct Unit {
  std::string name;  // the point's name in the form: "stem", "layer2.0.conv1", ...
  torch::Tensor w, b;
  int64_t stride = 1, padding = 0;
  bool relu = false;
  c10::IValue packed;  // int8 weights, prepacked for the engine
  QParams out;
};

struct Block {
  Unit c1, c2, c3;
  std::unique_ptr<Unit> down;
  std::string out_name;  // "layerN.B.out": the add + ReLU
  QParams out;
};

// `bn` null: the convolution alone (a DenseNet's conv2 and transition conv, which no BN follows).
Unit fold(const std::string& name, nn::Conv2dImpl& conv, nn::BatchNorm2dImpl* bn, bool relu) {
  torch::NoGradGuard no_grad;
  Unit u;
  u.name = name;
  const auto out_channels = conv.weight.size(0);
  const auto inv = bn ? bn->weight / torch::sqrt(bn->running_var + bn->options.eps()) : torch::ones({out_channels});
  u.w = (conv.weight * inv.view({-1, 1, 1, 1})).contiguous().detach().clone();
  u.b = bn ? (bn->bias - bn->running_mean * inv).detach().clone() : torch::zeros({out_channels});
  if (conv.bias.defined()) u.b = u.b + conv.bias * inv;
  u.stride = (*conv.options.stride())[0];
  u.padding = ((*conv.options.kernel_size())[0] - 1) / 2;  // ResNet's and DenseNet's convolutions keep the size
  u.relu = relu;
  return u;
}

// A batch norm and the ReLU after it, unfolded: a DenseNet's pre-activation (norm1 + relu1 on the
// concatenated maps, a transition's norm + relu, norm5 + the final ReLU).
struct NormRelu {
  std::string name;
  torch::Tensor w, b, mean, var;
  double eps = 1e-5;
  QParams out;
};

NormRelu norm_relu(const std::string& name, nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  return {name,
          bn.weight.detach().clone(),
          bn.bias.detach().clone(),
          bn.running_mean.detach().clone(),
          bn.running_var.detach().clone(),
          bn.options.eps(),
          {}};
}

template <class M>
M& child(nn::Module& m, const std::string& name) {
  for (auto& item : m.named_children())
    if (item.key() == name)
      if (auto* typed = item.value()->template as<M>()) return *typed;
  throw Error("int8: the ResNet has no module '" + name + "' of the expected type");
}

}  // namespace int8_impl
using namespace int8_impl;

// A backbone's stages in two modes: observing (the folded fp32 function, every point's range
// recorded) and int8. The points' names are the form's: "input@S", "stem", "layer2.0.conv1", ...
struct Int8Stages : public StageRunner {
  torch::Tensor run(const torch::Tensor& x, int first, int last) override {
    return int8 ? run_int8(x, first, last) : run_observed(x, first, last);
  }
  virtual torch::Tensor run_observed(const torch::Tensor& x, int first, int last) = 0;
  virtual torch::Tensor run_int8(const torch::Tensor& x, int first, int last) = 0;
  // Packs the int8 weights and sets every point's parameters from the form's ranges; `fp32`: the
  // stages that stay fp32. Error naming a point the form lacks.
  virtual void quantize(const nlohmann::json& points, const std::set<int>& fp32) = 0;

  void see(const std::string& point, const torch::Tensor& t) {
    const auto mm = torch::aminmax(t.detach());
    const double lo = std::get<0>(mm).item<double>(), hi = std::get<1>(mm).item<double>();
    std::lock_guard<std::mutex> lock(mutex);  // the pipeline's workers share the model
    Range& r = ranges[point];
    r.lo = std::min(r.lo, lo);
    r.hi = std::max(r.hi, hi);
  }
  torch::Tensor conv_fp32(const Unit& u, const torch::Tensor& x, bool observe) {
    auto y = torch::conv2d(x, u.w.to(x.scalar_type()), u.b.to(x.scalar_type()), u.stride, u.padding);
    if (u.relu) y = y.relu_();
    if (observe) see(u.name, y);
    return y;
  }
  torch::Tensor norm_relu_fp32(const NormRelu& n, const torch::Tensor& x, bool observe) {
    auto y = torch::batch_norm(x, n.w, n.b, n.mean, n.var, false, 0.0, n.eps, false).relu_();
    if (observe) see(n.name, y);
    return y;
  }
  static QParams range_of(const nlohmann::json& points, const std::string& name) {
    auto it = points.find(name);
    if (it == points.end() || !it->is_array() || it->size() != 2) throw Error("int8 form: no range for '" + name + "'");
    return qparams(it->at(0).get<double>(), it->at(1).get<double>());
  }
  static void pack(Unit& u, const nlohmann::json& points) {
    static const c10::OperatorHandle prepack = qop("quantized::conv2d_prepack", "");
    u.out = range_of(points, u.name);
    torch::NoGradGuard no_grad;
    const auto w = u.w.to(torch::kFloat).contiguous();
    const auto scale = (w.abs().amax({1, 2, 3}) / 127.0).clamp_min(1e-12).to(torch::kDouble);
    const auto wq = torch::quantize_per_channel(w, scale, torch::zeros(scale.sizes(), torch::kLong), 0, torch::kQInt8);
    u.packed = call(prepack, {wq, u.b.to(torch::kFloat).contiguous(), std::vector<int64_t>{u.stride, u.stride},
                              std::vector<int64_t>{u.padding, u.padding}, std::vector<int64_t>{1, 1}, int64_t{1}});
  }
  static torch::Tensor conv_int8(const Unit& u, const torch::Tensor& q) {
    static const c10::OperatorHandle conv = qop("quantized::conv2d", "new"),
                                     conv_relu = qop("quantized::conv2d_relu", "new");
    try {
      return call(u.relu ? conv_relu : conv, {q, u.packed, u.out.scale, u.out.zero_point}).toTensor();
    } catch (const c10::Error& e) {
      throw Error("int8 " + u.name + " on " + c10::str(q.sizes()) + ": " + e.what_without_backtrace());
    }
  }
  static torch::Tensor norm_relu_int8(const NormRelu& n, const torch::Tensor& q) {
    static const c10::OperatorHandle op = qop("quantized::batch_norm2d_relu", "");
    return call(op, {q, n.w, n.b, n.mean, n.var, n.eps, n.out.scale, n.out.zero_point}).toTensor();
  }
  // x as uint8 with the range observed at input@stage.
  torch::Tensor quantize_input(const torch::Tensor& x, int stage) const {
    auto in = inputs.find(stage);
    if (in == inputs.end()) throw Error("int8: the input of stage " + std::to_string(stage) + " was not calibrated");
    return torch::quantize_per_tensor(x.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast),
                                      in->second.scale, in->second.zero_point, torch::kQUInt8);
  }
  void read_inputs(const nlohmann::json& points) {
    for (auto it = points.begin(); it != points.end(); ++it)
      if (it.key().rfind("input@", 0) == 0) inputs[std::stoi(it.key().substr(6))] = range_of(points, it.key());
  }
  static std::string input_name(int stage) { return "input@" + std::to_string(stage); }

  bool int8 = false;
  std::mutex mutex;
  std::map<std::string, Range> ranges;  // observing: the range each point took
  std::map<int, QParams> inputs;        // int8: per stage a run may start at
};

namespace {

// ResNet-50 (models/resnet.h): stem, then layer1..4 of bottlenecks; any stage may be kept fp32.
struct ResNetStages : Int8Stages {
  explicit ResNetStages(ResNetImpl& net) : first_stage(net.options().first_stage) {
    if (first_stage == 1)
      stem = std::make_unique<Unit>(
          fold("stem", child<nn::Conv2dImpl>(net, "conv1"), &child<nn::BatchNorm2dImpl>(net, "bn1"), true));
    for (int s = std::max(first_stage, 1); s <= 4; ++s) {
      const std::string layer = "layer" + std::to_string(s);
      auto& seq = child<nn::SequentialImpl>(net, layer);
      std::vector<Block> blocks;
      for (size_t i = 0; i < seq.size(); ++i) {
        nn::Module& m = *seq.ptr(i);
        const std::string p = layer + "." + std::to_string(i) + ".";
        Block b;
        b.c1 = fold(p + "conv1", child<nn::Conv2dImpl>(m, "conv1"), &child<nn::BatchNorm2dImpl>(m, "bn1"), true);
        b.c2 = fold(p + "conv2", child<nn::Conv2dImpl>(m, "conv2"), &child<nn::BatchNorm2dImpl>(m, "bn2"), true);
        b.c3 = fold(p + "conv3", child<nn::Conv2dImpl>(m, "conv3"), &child<nn::BatchNorm2dImpl>(m, "bn3"), false);
        for (auto& item : m.named_children())
          if (item.key() == "downsample")
            b.down = std::make_unique<Unit>(fold(p + "downsample", child<nn::Conv2dImpl>(*item.value(), "0"),
                                                 &child<nn::BatchNorm2dImpl>(*item.value(), "1"), false));
        b.out_name = p + "out";
        blocks.push_back(std::move(b));
      }
      stages.push_back(std::move(blocks));
    }
  }

  // Stage s in fp32 (folded), observing every point when `observe`.
  torch::Tensor stage_fp32(int s, torch::Tensor h, bool observe) {
    if (observe) see(input_name(s), h);
    if (s == 0) return torch::max_pool2d(conv_fp32(*stem, h, observe), {3, 3}, {2, 2}, {1, 1}, {1, 1});
    for (auto& b : stage(s)) {
      auto y = conv_fp32(b.c3, conv_fp32(b.c2, conv_fp32(b.c1, h, observe), observe), observe);
      y = (y + (b.down ? conv_fp32(*b.down, h, observe) : h)).relu_();
      if (observe) see(b.out_name, y);
      h = y;
    }
    return h;
  }
  torch::Tensor run_observed(const torch::Tensor& x, int first, int last) override {
    torch::Tensor h = x.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast);
    for (int s = first; s <= last; ++s) h = stage_fp32(s, h, true);
    return h;
  }

  void quantize(const nlohmann::json& points, const std::set<int>& fp32) override {
    fp32_stages = fp32;
    read_inputs(points);
    int entry = first_stage == 1 ? 0 : first_stage;  // the first int8 stage: its input is quantized on every run
    while (fp32.count(entry)) ++entry;
    if (entry <= 4) range_of(points, input_name(entry));
    if (stem && !fp32.count(0)) pack(*stem, points);
    for (int s = std::max(first_stage, 1); s <= 4; ++s)
      if (!fp32.count(s))
        for (auto& b : stage(s)) {
          for (Unit* u : {&b.c1, &b.c2, &b.c3, b.down.get()})
            if (u) pack(*u, points);
          b.out = range_of(points, b.out_name);
        }
    int8 = true;
  }
  torch::Tensor stage_int8(int s, torch::Tensor q) const {
    static const c10::OperatorHandle add_relu = qop("quantized::add_relu", "");
    if (s == 0) return torch::max_pool2d(conv_int8(*stem, q), {3, 3}, {2, 2}, {1, 1}, {1, 1});
    for (const auto& b : stage(s)) {
      const auto y = conv_int8(b.c3, conv_int8(b.c2, conv_int8(b.c1, q)));
      const auto id = b.down ? conv_int8(*b.down, q) : q;
      q = call(add_relu, {y, id, b.out.scale, b.out.zero_point}).toTensor();
    }
    return q;
  }
  torch::Tensor run_int8(const torch::Tensor& x, int first, int last) override {
    torch::Tensor h = x.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast);
    for (int s = first; s <= last; ++s) {
      if (fp32_stages.count(s)) {
        h = stage_fp32(s, h.is_quantized() ? h.dequantize() : h, false);
        continue;
      }
      if (!h.is_quantized()) h = quantize_input(h, s);
      h = stage_int8(s, h);
    }
    return h.is_quantized() ? h.dequantize() : h;
  }

  std::vector<Block>& stage(int s) { return stages.at(static_cast<size_t>(s - std::max(first_stage, 1))); }
  const std::vector<Block>& stage(int s) const { return stages.at(static_cast<size_t>(s - std::max(first_stage, 1))); }

  int first_stage;
  std::unique_ptr<Unit> stem;
  std::vector<std::vector<Block>> stages;  // layer max(first_stage, 1) .. layer4
  std::set<int> fp32_stages;               // int8: stages kept in fp32
};

// DenseNet (models/densenet.h), the whole graph in int8 as PyTorch's FX does it: the stem's
// conv0 + norm0 + relu0 folded, each layer's norm1 + relu1 as quantized batch_norm2d_relu, its conv1 +
// norm2 + relu2 folded, its conv2; every map a block concatenates shares one scale (the block's
// "denseblockN.maps" point: the stem or transition output and each conv2 output), so concatenation
// is a copy; transitions' norm + relu, conv, average pool; norm5 + the final ReLU, dequantized.
// (Mixing int8 convolutions with fp32 BN-ReLU and concatenation ran slower than fp32: docs/performance.md.)
struct DenseNetStages : Int8Stages {
  struct Layer {
    NormRelu pre;  // norm1 + relu1
    Unit c1, c2;   // conv1 + norm2 + relu2; conv2 (-> the block's maps)
  };
  struct Transition {
    NormRelu pre;
    Unit conv;  // -> the next block's maps (average pooling keeps the scale)
  };

  explicit DenseNetStages(DenseNetImpl& net) {
    auto& f = child<nn::SequentialImpl>(net, "features");
    stem = fold("denseblock1.maps", child<nn::Conv2dImpl>(f, "conv0"), &child<nn::BatchNorm2dImpl>(f, "norm0"), true);
    for (size_t b = 1;; ++b) {
      const std::string block = "denseblock" + std::to_string(b), maps = block + ".maps";
      nn::Module* found = nullptr;
      for (auto& item : f.named_children())
        if (item.key() == block) found = item.value().get();
      if (!found) break;
      std::vector<Layer> layers;
      for (auto& item : found->named_children()) {
        nn::Module& l = *item.value();
        const std::string p = block + "." + item.key() + ".";
        layers.push_back(
            {norm_relu(p + "norm1", child<nn::BatchNorm2dImpl>(l, "norm1")),
             fold(p + "conv1", child<nn::Conv2dImpl>(l, "conv1"), &child<nn::BatchNorm2dImpl>(l, "norm2"), true),
             fold(maps, child<nn::Conv2dImpl>(l, "conv2"), nullptr, false)});
      }
      blocks.push_back(std::move(layers));
      const std::string t = "transition" + std::to_string(b);
      for (auto& item : f.named_children())
        if (item.key() == t)
          transitions.push_back({norm_relu(t + ".norm", child<nn::BatchNorm2dImpl>(*item.value(), "norm")),
                                 fold("denseblock" + std::to_string(b + 1) + ".maps",
                                      child<nn::Conv2dImpl>(*item.value(), "conv"), nullptr, false)});
    }
    if (blocks.empty() || transitions.size() + 1 != blocks.size()) throw Error("int8: an unexpected DenseNet layout");
    final_norm = norm_relu("norm5", child<nn::BatchNorm2dImpl>(f, "norm5"));
  }

  // The whole network; `conv`, `norm` and `pools` are the fp32 or the int8 operations.
  template <class Conv, class Norm>
  torch::Tensor forward(torch::Tensor h, Conv conv, Norm norm) {
    h = torch::max_pool2d(conv(stem, h), {3, 3}, {2, 2}, {1, 1}, {1, 1});
    for (size_t b = 0; b < blocks.size(); ++b) {
      std::vector<torch::Tensor> maps{h};
      for (const Layer& l : blocks[b]) {
        const auto cat = maps.size() == 1 ? maps[0] : torch::cat(maps, 1);
        maps.push_back(conv(l.c2, conv(l.c1, norm(l.pre, cat))));
      }
      h = torch::cat(maps, 1);
      if (b < transitions.size())
        h = torch::avg_pool2d(conv(transitions[b].conv, norm(transitions[b].pre, h)), {2, 2}, {2, 2}, {0, 0});
    }
    return norm(final_norm, h);
  }
  torch::Tensor run_observed(const torch::Tensor& x, int, int) override {
    const auto h = x.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast);
    see(input_name(0), h);
    return forward(
        h, [&](const Unit& u, const torch::Tensor& t) { return conv_fp32(u, t, true); },
        [&](const NormRelu& n, const torch::Tensor& t) { return norm_relu_fp32(n, t, true); });
  }
  torch::Tensor run_int8(const torch::Tensor& x, int, int) override {
    return forward(quantize_input(x, 0), conv_int8, norm_relu_int8).dequantize();
  }
  void quantize(const nlohmann::json& points, const std::set<int>& fp32) override {
    if (!fp32.empty()) throw Error("int8 form: a DenseNet runs all in int8 or all in fp32, not by stage");
    read_inputs(points);
    range_of(points, input_name(0));
    pack(stem, points);
    for (auto& layers : blocks)
      for (Layer& l : layers) {
        l.pre.out = range_of(points, l.pre.name);
        pack(l.c1, points);
        pack(l.c2, points);
      }
    for (Transition& t : transitions) {
      t.pre.out = range_of(points, t.pre.name);
      pack(t.conv, points);
    }
    final_norm.out = range_of(points, final_norm.name);
    int8 = true;
  }

  Unit stem;
  std::vector<std::vector<Layer>> blocks;
  std::vector<Transition> transitions;
  NormRelu final_norm;
};

// The backbones covscreen runs in int8, with their paths in named_modules().
struct Quantizable {
  std::string path;
  ResNetImpl* resnet = nullptr;
  DenseNetImpl* densenet = nullptr;
  const nn::Module& module() const {
    return resnet ? static_cast<const nn::Module&>(*resnet) : static_cast<const nn::Module&>(*densenet);
  }
  int lowest_stage() const { return resnet && resnet->options().first_stage > 1 ? resnet->options().first_stage : 0; }
  const char* kind() const { return resnet ? "ResNet" : "DenseNet"; }
  StageRunner* runner() const { return resnet ? resnet->stage_runner() : densenet->stage_runner(); }
  void set_runner(std::shared_ptr<StageRunner> r) const {
    resnet ? resnet->set_stage_runner(std::move(r)) : densenet->set_stage_runner(std::move(r));
  }
  std::shared_ptr<Int8Stages> make_stages() const {
    if (resnet) return std::make_shared<ResNetStages>(*resnet);
    return std::make_shared<DenseNetStages>(*densenet);
  }
};

// `m` as a backbone (neither pointer set when it is none).
Quantizable as_backbone(const std::string& path, nn::Module* m) {
  return {path, dynamic_cast<ResNetImpl*>(m), dynamic_cast<DenseNetImpl*>(m)};
}

std::vector<Quantizable> backbones(const ScreenModelImpl& net) {
  std::vector<Quantizable> out;
  for (const auto& item : net.named_modules("", /*include_self=*/true))
    if (Quantizable b = as_backbone(item.key(), item.value().get()); b.resnet || b.densenet) out.push_back(b);
  return out;
}

// The form's "fp32": {path: [stages] or "all"} for each backbone found (empty sets for the others); Error
// for a path that is no backbone of the model or a stage it lacks.
std::map<std::string, std::set<int>> fp32_stages(const nlohmann::json& form, const std::vector<Quantizable>& found) {
  std::map<std::string, std::set<int>> out;
  for (const auto& b : found) out[b.path];
  if (!form.is_object() || !form.contains("fp32")) return out;
  const auto& keep = form.at("fp32");
  if (!keep.is_object()) throw Error("int8 form: \"fp32\" is not an object");
  for (auto it = keep.begin(); it != keep.end(); ++it) {
    auto b = std::find_if(found.begin(), found.end(), [&](const Quantizable& f) { return f.path == it.key(); });
    if (b == found.end()) throw Error("int8 form: '" + it.key() + "' (kept in fp32) is no backbone of the model");
    if (*it == "all") {
      for (int s = b->lowest_stage(); s <= 4; ++s) out[it.key()].insert(s);
      continue;
    }
    for (const auto& st : *it) {
      const int s = st.get<int>();
      if (s < b->lowest_stage() || s > 4)
        throw Error("int8 form: the " + std::string(b->kind()) + " at '" + it.key() + "' has no stage " +
                    std::to_string(s));
      out[it.key()].insert(s);
    }
  }
  return out;
}

}  // namespace

Int8Calibration::Int8Calibration(ScreenModelImpl& net) {
  for (const auto& b : backbones(net)) {
    auto stages = b.make_stages();
    b.set_runner(stages);
    networks_.push_back({b.path, const_cast<nn::Module*>(&b.module()), stages});
  }
  if (networks_.empty()) {
    std::string parts;
    for (const auto& [name, n] : net.part_sizes()) parts += (parts.empty() ? "" : ", ") + name;
    throw UsageError("int8: this model (" + parts +
                     ") holds no ResNet-50 or DenseNet, the networks covscreen runs in int8");
  }
}

Int8Calibration::~Int8Calibration() {
  for (auto& n : networks_)
    if (const Quantizable b = as_backbone(n.path, n.net); b.runner() == n.stages.get()) b.set_runner(nullptr);
}

nlohmann::json Int8Calibration::finish() const {
  nlohmann::json networks = nlohmann::json::object();
  for (const auto& n : networks_) {
    nlohmann::json points = nlohmann::json::object();
    std::lock_guard<std::mutex> lock(n.stages->mutex);
    for (const auto& [name, range] : n.stages->ranges)
      if (range.seen()) points[name] = {range.lo, range.hi};
    if (points.empty()) throw Error("int8 calibration: the network at '" + n.path + "' saw no input");
    networks[n.path] = points;
  }
  return {{"version", kFormVersion}, {"engine", "onednn"}, {"scheme", kScheme}, {"networks", networks}};
}

bool int8_available() { return has_onednn(); }

void attach_int8(ScreenModelImpl& net, const nlohmann::json& form) {
  if (!has_onednn()) throw Error("int8: this LibTorch has no oneDNN quantized engine");
  if (!form.is_object() || form.value("version", 0) != kFormVersion || !form.contains("networks") ||
      !form.at("networks").is_object())
    throw Error("int8 form: not a version-" + std::to_string(kFormVersion) + " form");
  const auto& networks = form.at("networks");
  const auto found = backbones(net);
  if (found.size() != networks.size())
    throw Error("int8 form: it holds " + std::to_string(networks.size()) + " networks, the model " +
                std::to_string(found.size()));
  // Prepacking uses the current engine: oneDNN's (VNNI / AMX int8 kernels; Debian's LibTorch has no FBGEMM).
  at::globalContext().setQEngine(at::QEngine::ONEDNN);
  const auto fp32 = fp32_stages(form, found);
  std::vector<std::shared_ptr<Int8Stages>> ready;  // all built before any is attached
  for (const auto& b : found) {
    auto it = networks.find(b.path);
    if (it == networks.end())
      throw Error("int8 form: no ranges for the " + std::string(b.kind()) + " at '" + b.path + "'");
    const std::set<int>& keep = fp32.at(b.path);
    if (static_cast<int>(keep.size()) == 5 - b.lowest_stage()) {  // all of it fp32: the modules themselves
      ready.push_back(nullptr);
      continue;
    }
    auto stages = b.make_stages();
    stages->quantize(*it, keep);
    ready.push_back(stages);
  }
  for (size_t i = 0; i < found.size(); ++i) found[i].set_runner(ready[i]);
}

const nlohmann::json* int8_record(const Checkpoint& ck) {
  if (!ck.extra.is_object()) return nullptr;
  auto it = ck.extra.find("int8");
  return it != ck.extra.end() && it->is_object() ? &*it : nullptr;
}

bool int8_agreed(const Checkpoint& ck) {
  const nlohmann::json* r = int8_record(ck);
  if (!r || !r->contains("agreement")) return false;
  const auto& a = r->at("agreement");
  return a.is_object() && a.value("met", false);
}

void attach_int8(const Checkpoint& ck) {
  const nlohmann::json* r = int8_record(ck);
  if (!r || !r->contains("form"))
    throw UsageError(
        "precision int8: this model has no int8 form; make one with `covscreen model quantize MODEL "
        "--calibration DATA --out M.ckpt` (DATA: images it was validated on)");
  attach_int8(*ck.net, r->at("form"));
}

void detach_int8(ScreenModelImpl& net) {
  for (const auto& b : backbones(net)) b.set_runner(nullptr);
}

bool runs_int8(const ScreenModelImpl& net) {
  for (const auto& b : backbones(net))
    if (auto* s = dynamic_cast<Int8Stages*>(b.runner()); s && s->int8) return true;
  return false;
}

bool fp32_convolutions_left(const ScreenModelImpl& net) {
  const auto found = backbones(net);
  for (const auto& item : net.named_modules("", /*include_self=*/true)) {
    if (!item.value()->as<nn::Conv2d>()) continue;
    const bool in_int8 = std::any_of(found.begin(), found.end(), [&](const Quantizable& b) {
      auto* s = dynamic_cast<Int8Stages*>(b.runner());
      return s && s->int8 && (b.path.empty() || item.key().rfind(b.path + ".", 0) == 0);
    });
    if (!in_int8) return true;
  }
  return false;
}

nlohmann::json int8_parts(const ScreenModelImpl& net, const nlohmann::json& form) {
  nlohmann::json int8 = nlohmann::json::array(), fp32 = nlohmann::json::array();
  int64_t n_int8 = 0, n_fp32 = 0;
  const auto found = backbones(net);
  const auto keep = fp32_stages(form, found);
  const auto holds_backbone = [&](const std::string& path) {
    for (const auto& b : found)
      if (b.path == path || path.empty() || b.path.rfind(path + ".", 0) == 0) return true;
    return false;
  };
  const auto add = [](nlohmann::json& list, int64_t& count, const std::string& name, int64_t n) {
    list.push_back(name.empty() ? "(the whole network)" : name);
    count += n;
  };
  // Depth first: a backbone's stages are int8 unless kept fp32, its classifier fp32; a module
  // holding no backbone is fp32; the others are split.
  std::function<void(const std::string&, const nn::Module&)> walk = [&](const std::string& path, const nn::Module& m) {
    auto b = std::find_if(found.begin(), found.end(), [&](const Quantizable& f) { return &f.module() == &m; });
    if (b != found.end()) {
      const std::set<int>& fp32_here = keep.at(path);
      const std::string dot = path.empty() ? "" : path + ".";
      if (b->densenet) {
        add(int8, n_int8, dot + "features", count_parameters(m));  // less its classifier, below
      } else if (fp32_here.empty()) {
        int64_t n = 0;
        for (int s = b->lowest_stage(); s <= 4; ++s)
          for (const auto& mod : b->resnet->stage_modules(s)) n += count_parameters(*mod);
        add(int8, n_int8, path, n);
      } else {
        for (int s = b->lowest_stage(); s <= 4; ++s) {
          int64_t n = 0;
          for (const auto& mod : b->resnet->stage_modules(s)) n += count_parameters(*mod);
          const std::string name = dot + (s == 0 ? "stem" : "layer" + std::to_string(s));
          fp32_here.count(s) ? add(fp32, n_fp32, name, n) : add(int8, n_int8, name, n);
        }
      }
      for (const auto& item : m.named_children())
        if (item.key() == "fc" || item.key() == "classifier") {
          const int64_t n = count_parameters(*item.value());
          add(fp32, n_fp32, dot + item.key(), n);
          if (b->densenet) n_int8 -= n;  // counted with the features above
        }
      return;
    }
    if (!holds_backbone(path)) {
      if (const int64_t n = count_parameters(m); n > 0) add(fp32, n_fp32, path, n);
      return;
    }
    for (const auto& item : m.named_children())
      walk(path.empty() ? item.key() : path + "." + item.key(), *item.value());
  };
  walk("", net);
  return {{"int8", int8}, {"fp32", fp32}, {"int8_parameters", n_int8}, {"fp32_parameters", n_fp32}};
}

}  // namespace covscreen
