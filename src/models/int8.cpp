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

namespace {

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

Unit fold(const std::string& name, nn::Conv2dImpl& conv, nn::BatchNorm2dImpl& bn, bool relu) {
  torch::NoGradGuard no_grad;
  Unit u;
  u.name = name;
  const auto inv = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
  u.w = (conv.weight * inv.view({-1, 1, 1, 1})).contiguous().detach().clone();
  u.b = (bn.bias - bn.running_mean * inv).detach().clone();
  if (conv.bias.defined()) u.b = u.b + conv.bias * inv;
  u.stride = (*conv.options.stride())[0];
  u.padding = ((*conv.options.kernel_size())[0] - 1) / 2;  // ResNet's convolutions keep the size ("same" / stride)
  u.relu = relu;
  return u;
}

template <class M>
M& child(nn::Module& m, const std::string& name) {
  for (auto& item : m.named_children())
    if (item.key() == name)
      if (auto* typed = item.value()->template as<M>()) return *typed;
  throw Error("int8: the ResNet has no module '" + name + "' of the expected type");
}

}  // namespace

// One ResNet's stages in two modes: observing (the folded fp32 convolutions, every point's range
// recorded) and int8.
struct Int8Stages : public StageRunner {
  explicit Int8Stages(ResNetImpl& net) : first_stage(net.options().first_stage) {
    if (first_stage == 1)
      stem = std::make_unique<Unit>(
          fold("stem", child<nn::Conv2dImpl>(net, "conv1"), child<nn::BatchNorm2dImpl>(net, "bn1"), true));
    for (int s = std::max(first_stage, 1); s <= 4; ++s) {
      const std::string layer = "layer" + std::to_string(s);
      auto& seq = child<nn::SequentialImpl>(net, layer);
      std::vector<Block> blocks;
      for (size_t i = 0; i < seq.size(); ++i) {
        nn::Module& m = *seq.ptr(i);
        const std::string p = layer + "." + std::to_string(i) + ".";
        Block b;
        b.c1 = fold(p + "conv1", child<nn::Conv2dImpl>(m, "conv1"), child<nn::BatchNorm2dImpl>(m, "bn1"), true);
        b.c2 = fold(p + "conv2", child<nn::Conv2dImpl>(m, "conv2"), child<nn::BatchNorm2dImpl>(m, "bn2"), true);
        b.c3 = fold(p + "conv3", child<nn::Conv2dImpl>(m, "conv3"), child<nn::BatchNorm2dImpl>(m, "bn3"), false);
        for (auto& item : m.named_children())
          if (item.key() == "downsample")
            b.down = std::make_unique<Unit>(fold(p + "downsample", child<nn::Conv2dImpl>(*item.value(), "0"),
                                                 child<nn::BatchNorm2dImpl>(*item.value(), "1"), false));
        b.out_name = p + "out";
        blocks.push_back(std::move(b));
      }
      stages.push_back(std::move(blocks));
    }
  }

  torch::Tensor run(const torch::Tensor& x, int first, int last) override {
    return int8 ? run_int8(x, first, last) : run_observed(x, first, last);
  }

  // ---- observing: fp32, the same function as the modules (BN folded) ----
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
  torch::Tensor run_observed(const torch::Tensor& x, int first, int last) {
    torch::Tensor h = x.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast);
    for (int s = first; s <= last; ++s) h = stage_fp32(s, h, true);
    return h;
  }

  // ---- int8 ----
  // `fp32`: the stages that stay fp32 (folded), the others int8.
  void quantize(const nlohmann::json& points, const std::set<int>& fp32) {
    fp32_stages = fp32;
    const auto range = [&](const std::string& name) {
      auto it = points.find(name);
      if (it == points.end() || !it->is_array() || it->size() != 2)
        throw Error("int8 form: no range for '" + name + "'");
      return qparams(it->at(0).get<double>(), it->at(1).get<double>());
    };
    for (auto it = points.begin(); it != points.end(); ++it)
      if (it.key().rfind("input@", 0) == 0) inputs[std::stoi(it.key().substr(6))] = range(it.key());
    int entry = first_stage == 1 ? 0 : first_stage;  // the first int8 stage: its input is quantized on every run
    while (fp32.count(entry)) ++entry;
    if (entry <= 4) range(input_name(entry));
    static const c10::OperatorHandle prepack = qop("quantized::conv2d_prepack", "");
    const auto pack = [&](Unit& u) {
      u.out = range(u.name);
      torch::NoGradGuard no_grad;
      const auto w = u.w.to(torch::kFloat).contiguous();
      const auto scale = (w.abs().amax({1, 2, 3}) / 127.0).clamp_min(1e-12).to(torch::kDouble);
      const auto wq =
          torch::quantize_per_channel(w, scale, torch::zeros(scale.sizes(), torch::kLong), 0, torch::kQInt8);
      u.packed = call(prepack, {wq, u.b.to(torch::kFloat).contiguous(), std::vector<int64_t>{u.stride, u.stride},
                                std::vector<int64_t>{u.padding, u.padding}, std::vector<int64_t>{1, 1}, int64_t{1}});
    };
    if (stem && !fp32.count(0)) pack(*stem);
    for (int s = std::max(first_stage, 1); s <= 4; ++s)
      if (!fp32.count(s))
        for (auto& b : stage(s)) {
          for (Unit* u : {&b.c1, &b.c2, &b.c3, b.down.get()})
            if (u) pack(*u);
          b.out = range(b.out_name);
        }
    int8 = true;
  }
  static torch::Tensor conv_int8(const Unit& u, const torch::Tensor& q) {
    static const c10::OperatorHandle conv = qop("quantized::conv2d", "new"),
                                     conv_relu = qop("quantized::conv2d_relu", "new");
    try {
      return call(u.relu ? conv_relu : conv, {q, u.packed, u.out.scale, u.out.zero_point}).toTensor();
    } catch (const c10::Error& e) {
      throw Error("int8 " + u.name + " on " + c10::str(q.sizes()) + " strides " + c10::str(q.strides()) + ": " +
                  e.what_without_backtrace());
    }
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
  torch::Tensor run_int8(const torch::Tensor& x, int first, int last) {
    torch::Tensor h = x.to(torch::kFloat).contiguous(torch::MemoryFormat::ChannelsLast);
    for (int s = first; s <= last; ++s) {
      if (fp32_stages.count(s)) {
        h = stage_fp32(s, h.is_quantized() ? h.dequantize() : h, false);
        continue;
      }
      if (!h.is_quantized()) {
        auto in = inputs.find(s);
        if (in == inputs.end()) throw Error("int8: the input of stage " + std::to_string(s) + " was not calibrated");
        h = torch::quantize_per_tensor(h, in->second.scale, in->second.zero_point, torch::kQUInt8);
      }
      h = stage_int8(s, h);
    }
    return h.is_quantized() ? h.dequantize() : h;
  }

  std::vector<Block>& stage(int s) { return stages.at(static_cast<size_t>(s - std::max(first_stage, 1))); }
  const std::vector<Block>& stage(int s) const { return stages.at(static_cast<size_t>(s - std::max(first_stage, 1))); }
  static std::string input_name(int stage) { return "input@" + std::to_string(stage); }

  int first_stage;
  std::unique_ptr<Unit> stem;
  std::vector<std::vector<Block>> stages;  // layer max(first_stage, 1) .. layer4
  bool int8 = false;
  std::set<int> fp32_stages;  // int8: stages kept in fp32
  std::mutex mutex;
  std::map<std::string, Range> ranges;  // observing: the range each point took
  std::map<int, QParams> inputs;        // int8: per stage a run may start at
};

namespace {

// Every ResNet in the model with its path in named_modules().
std::vector<std::pair<std::string, ResNetImpl*>> resnets(const ScreenModelImpl& net) {
  std::vector<std::pair<std::string, ResNetImpl*>> out;
  for (const auto& item : net.named_modules("", /*include_self=*/true))
    if (auto* r = dynamic_cast<ResNetImpl*>(item.value().get())) out.emplace_back(item.key(), r);
  return out;
}

}  // namespace

int lowest_stage(const ResNetImpl& r) { return r.options().first_stage == 1 ? 0 : r.options().first_stage; }

// The form's "fp32": {path: [stages]} for each ResNet found (empty sets for the others); Error for
// a path that is no ResNet of the model or a stage it lacks.
std::map<std::string, std::set<int>> fp32_stages(const nlohmann::json& form,
                                                 const std::vector<std::pair<std::string, ResNetImpl*>>& found) {
  std::map<std::string, std::set<int>> out;
  for (const auto& [path, r] : found) out[path];
  if (!form.is_object() || !form.contains("fp32")) return out;
  const auto& keep = form.at("fp32");
  if (!keep.is_object()) throw Error("int8 form: \"fp32\" is not an object");
  for (auto it = keep.begin(); it != keep.end(); ++it) {
    auto net = std::find_if(found.begin(), found.end(), [&](const auto& f) { return f.first == it.key(); });
    if (net == found.end()) throw Error("int8 form: '" + it.key() + "' (kept in fp32) is no ResNet of the model");
    for (const auto& st : *it) {
      const int s = st.get<int>();
      if (s < lowest_stage(*net->second) || s > 4)
        throw Error("int8 form: the ResNet at '" + it.key() + "' has no stage " + std::to_string(s));
      out[it.key()].insert(s);
    }
  }
  return out;
}

Int8Calibration::Int8Calibration(ScreenModelImpl& net) {
  for (const auto& [path, r] : resnets(net)) {
    auto stages = std::make_shared<Int8Stages>(*r);
    r->set_stage_runner(stages);
    networks_.push_back({path, r, stages});
  }
  if (networks_.empty()) {
    std::string parts;
    for (const auto& [name, n] : net.part_sizes()) parts += (parts.empty() ? "" : ", ") + name;
    throw UsageError("int8: this model (" + parts +
                     ") holds no ResNet-50, the only network covscreen runs in int8 (a DenseNet's batch norm and ReLU "
                     "come before each convolution and cannot be folded into it)");
  }
}

Int8Calibration::~Int8Calibration() {
  for (auto& n : networks_)
    if (n.net->stage_runner() == n.stages.get()) n.net->set_stage_runner(nullptr);
}

nlohmann::json Int8Calibration::finish() const {
  nlohmann::json networks = nlohmann::json::object();
  for (const auto& n : networks_) {
    nlohmann::json points = nlohmann::json::object();
    std::lock_guard<std::mutex> lock(n.stages->mutex);
    for (const auto& [name, range] : n.stages->ranges)
      if (range.seen()) points[name] = {range.lo, range.hi};
    if (points.empty()) throw Error("int8 calibration: the ResNet at '" + n.path + "' saw no input");
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
  const auto found = resnets(net);
  if (found.size() != networks.size())
    throw Error("int8 form: it holds " + std::to_string(networks.size()) + " networks, the model " +
                std::to_string(found.size()) + " ResNets");
  // Prepacking uses the current engine: oneDNN's (VNNI / AMX int8 kernels; Debian's LibTorch has no FBGEMM).
  at::globalContext().setQEngine(at::QEngine::ONEDNN);
  const auto fp32 = fp32_stages(form, found);
  std::vector<std::shared_ptr<Int8Stages>> ready;  // all built before any is attached
  for (const auto& [path, r] : found) {
    auto it = networks.find(path);
    if (it == networks.end()) throw Error("int8 form: no ranges for the ResNet at '" + path + "'");
    const std::set<int>& keep = fp32.at(path);
    if (static_cast<int>(keep.size()) == 5 - lowest_stage(*r)) {  // all of it fp32: the modules themselves
      ready.push_back(nullptr);
      continue;
    }
    auto stages = std::make_shared<Int8Stages>(*r);
    stages->quantize(*it, keep);
    ready.push_back(stages);
  }
  for (size_t i = 0; i < found.size(); ++i) found[i].second->set_stage_runner(ready[i]);
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
  for (const auto& [path, r] : resnets(net)) r->set_stage_runner(nullptr);
}

bool runs_int8(const ScreenModelImpl& net) {
  for (const auto& [path, r] : resnets(net))
    if (auto* s = dynamic_cast<Int8Stages*>(r->stage_runner()); s && s->int8) return true;
  return false;
}

nlohmann::json int8_parts(const ScreenModelImpl& net, const nlohmann::json& form) {
  nlohmann::json int8 = nlohmann::json::array(), fp32 = nlohmann::json::array();
  int64_t n_int8 = 0, n_fp32 = 0;
  const auto found = resnets(net);
  const auto keep = fp32_stages(form, found);
  const auto holds_resnet = [&](const std::string& path) {
    for (const auto& [p, r] : found)
      if (p == path || path.empty() || p.rfind(path + ".", 0) == 0) return true;
    return false;
  };
  const auto add = [](nlohmann::json& list, int64_t& count, const std::string& name, int64_t n) {
    list.push_back(name.empty() ? "(the whole network)" : name);
    count += n;
  };
  // Depth first: a ResNet's stages are int8 unless kept fp32, its fc fp32; a module holding no
  // ResNet is fp32; the others are split.
  std::function<void(const std::string&, const nn::Module&)> walk = [&](const std::string& path, const nn::Module& m) {
    if (const auto* r = dynamic_cast<const ResNetImpl*>(&m)) {
      const std::set<int>& fp32_here = keep.at(path);
      const std::string dot = path.empty() ? "" : path + ".";
      if (fp32_here.empty()) {
        int64_t n = 0;
        for (int s = lowest_stage(*r); s <= 4; ++s)
          for (const auto& mod : r->stage_modules(s)) n += count_parameters(*mod);
        add(int8, n_int8, path, n);
      } else {
        for (int s = lowest_stage(*r); s <= 4; ++s) {
          int64_t n = 0;
          for (const auto& mod : r->stage_modules(s)) n += count_parameters(*mod);
          const std::string name = dot + (s == 0 ? "stem" : "layer" + std::to_string(s));
          fp32_here.count(s) ? add(fp32, n_fp32, name, n) : add(int8, n_int8, name, n);
        }
      }
      for (const auto& item : m.named_children())
        if (item.key() == "fc") add(fp32, n_fp32, dot + "fc", count_parameters(*item.value()));
      return;
    }
    if (!holds_resnet(path)) {
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
