#include "covscreen/models/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/core/keyed_hash.h"
#include "covscreen/models/int8.h"
#include "covscreen/models/state_dict.h"

namespace covscreen {

namespace {

const std::string kMagic(kCheckpointMagic, 8);  // the constant holds an embedded NUL
const char* kKindName = "a covscreen checkpoint";
const char* kOptimizerBlob = "optimizer";
const char* kTensorBlobPrefix = "t/";
const char* kTypicalityBlobs[] = {"typicality/mean", "typicality/basis", "typicality/variances"};

// The float32 blob `name` as a tensor of `shape`, its size checked.
torch::Tensor float_blob(const Container& c, const std::string& name, std::vector<int64_t> shape,
                         const std::string& path) {
  const auto it = c.blobs.find(name);
  if (it == c.blobs.end()) throw FileError(path, "damaged checkpoint (no '" + name + "' data)");
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0 || d > (int64_t(1) << 24)) throw FileError(path, "damaged checkpoint ('" + name + "' shape)");
    n *= uint64_t(d);
  }
  if (it->second.size() != n * sizeof(float))
    throw FileError(path, "damaged checkpoint ('" + name + "' is " + std::to_string(it->second.size()) +
                              " bytes, its shape needs " + std::to_string(n * sizeof(float)) + ")");
  torch::Tensor t = torch::empty(shape, torch::kFloat32);
  std::memcpy(t.data_ptr(), it->second.data(), it->second.size());
  return t;
}

Typicality read_typicality(const Container& c, const nlohmann::json& h, const std::string& path) {
  Typicality t;
  const int64_t d = h.at("dim").get<int64_t>(), k = h.at("components").get<int64_t>();
  t.mean = float_blob(c, kTypicalityBlobs[0], {d}, path);
  t.basis = float_blob(c, kTypicalityBlobs[1], {k, d}, path);
  t.variances = float_blob(c, kTypicalityBlobs[2], {k}, path);
  t.residual_variance = h.at("residual_variance").get<double>();
  t.flag_below = h.at("flag_below").get<double>();
  t.reference = h.at("reference").get<std::vector<double>>();
  t.info = h.value("info", nlohmann::json::object());
  if (!(t.residual_variance > 0) || !std::is_sorted(t.reference.begin(), t.reference.end()) ||
      !(torch::isfinite(t.mean).all().item<bool>() && (t.variances > 0).all().item<bool>()))
    throw FileError(path, "damaged checkpoint (typicality reference out of range)");
  return t;
}

void put_float_blob(Container& c, const std::string& name, const torch::Tensor& t) {
  const torch::Tensor f = t.to(torch::kCPU, torch::kFloat32).contiguous();
  c.blobs[name] = std::string(static_cast<const char*>(f.data_ptr()), size_t(f.numel()) * sizeof(float));
}

struct DtypeName {
  torch::ScalarType type;
  const char* name;
};
const DtypeName kDtypes[] = {{torch::kFloat32, "float32"},   {torch::kFloat16, "float16"}, {torch::kFloat64, "float64"},
                             {torch::kBFloat16, "bfloat16"}, {torch::kInt64, "int64"},     {torch::kInt32, "int32"},
                             {torch::kUInt8, "uint8"},       {torch::kInt8, "int8"},       {torch::kBool, "bool"}};

std::string dtype_name(torch::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw Error(std::string("checkpoint: unsupported tensor dtype ") + c10::toString(t));
}

bool dtype_from_name(const std::string& n, torch::ScalarType* t) {
  for (const auto& d : kDtypes)
    if (n == d.name) {
      *t = d.type;
      return true;
    }
  return false;
}

// The tensor as stored: fp16 for floating tensors when `half` (kept fp32 where fp16 overflows).
torch::Tensor storage_form(const torch::Tensor& live, bool half) {
  torch::Tensor t = live.detach().to(torch::kCPU).contiguous();
  if (half && t.is_floating_point() && t.scalar_type() != torch::kFloat16) {
    torch::Tensor h = t.to(torch::kFloat16);
    if (t.numel() == 0 || torch::isfinite(h).all().item<bool>() == torch::isfinite(t).all().item<bool>()) return h;
  }
  return t;
}

// Symmetric 8-bit form of a weight, one scale per output channel (dim 0): q = round(w / s),
// s = max |w| / 127 over the channel (1 for an all-zero channel).
std::pair<torch::Tensor, torch::Tensor> int8_form(const torch::Tensor& w) {
  const torch::Tensor f = w.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  torch::Tensor s = f.abs().flatten(1).amax(1) / 127.0;
  s = torch::where(s > 0, s, torch::ones_like(s));
  const auto bshape = [&] {
    std::vector<int64_t> b(static_cast<size_t>(f.dim()), 1);
    b[0] = f.size(0);
    return b;
  }();
  torch::Tensor q = (f / s.view(bshape)).round().clamp(-127, 127).to(torch::kInt8);
  return {q.contiguous(), s.contiguous()};
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& ck, bool half, bool int8_frozen) {
  if (!ck.net) throw Error("save_checkpoint: the checkpoint has no model");
  ck.model.validate();
  Container c;
  c.magic = kMagic;
  c.version = kCheckpointVersion;
  nlohmann::json tensors = nlohmann::json::array();
  int index = 0;
  std::set<std::string> frozen;
  if (int8_frozen)
    for (const auto& p : ck.net->named_parameters(true))
      if (!p.value().requires_grad() && p.value().dim() >= 2 && p.value().is_floating_point()) frozen.insert(p.key());
  for (const auto& [name, live] : module_tensors(*ck.net)) {
    const std::string blob = kTensorBlobPrefix + std::to_string(index++);
    if (frozen.count(name)) {
      const auto [q, scale] = int8_form(live);
      c.blobs[blob] = std::string(static_cast<const char*>(q.data_ptr()), size_t(q.numel()));
      put_float_blob(c, blob + ".scale", scale);
      tensors.push_back({{"name", name},
                         {"dtype", "int8"},
                         {"shape", q.sizes().vec()},
                         {"blob", blob},
                         {"scale_blob", blob + ".scale"}});
      continue;
    }
    torch::Tensor t = storage_form(live, half);
    c.blobs[blob] = std::string(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
    tensors.push_back(
        {{"name", name}, {"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"blob", blob}});
  }
  if (!ck.optimizer_state.empty()) c.blobs[kOptimizerBlob] = ck.optimizer_state;
  c.header = {{"kind", "covscreen-checkpoint"},
              {"covscreen_version", COVSCREEN_VERSION},
              {"model", ck.model},
              {"classes", ck.classes},
              {"spec", ck.spec},
              {"threshold", ck.threshold},
              {"threshold_rule", ck.threshold_rule},
              {"training", ck.training},
              {"metrics", ck.metrics},
              {"extra", ck.extra},
              {"weights_dtype", half ? "float16" : "float32"},
              {"frozen_weights", int8_frozen ? "int8, one scale per output channel" : "as weights_dtype"},
              {"byte_order", "little"},
              {"tensors", tensors}};
  if (const Typicality& typ = ck.typicality; !typ.empty()) {
    put_float_blob(c, kTypicalityBlobs[0], typ.mean);
    put_float_blob(c, kTypicalityBlobs[1], typ.basis);
    put_float_blob(c, kTypicalityBlobs[2], typ.variances);
    c.header["typicality"] = typicality_header(typ);
  }
  write_container(path, c);
}

Checkpoint load_checkpoint(const std::string& path) {
  Container c = read_container(path, kMagic, kCheckpointVersion, kKindName);
  Checkpoint ck;
  const nlohmann::json& h = c.header;
  nlohmann::json table;
  try {
    ck.model = h.at("model").get<ModelConfig>();
    ck.classes = h.at("classes").get<std::vector<std::string>>();
    ck.spec = h.at("spec").get<PreprocessSpec>();
    ck.threshold = h.at("threshold").get<double>();
    ck.threshold_rule = h.at("threshold_rule").get<std::string>();
    ck.training = h.value("training", nlohmann::json::object());
    ck.metrics = h.value("metrics", nlohmann::json::object());
    ck.extra = h.value("extra", nlohmann::json::object());
    table = h.at("tensors");
    if (h.contains("typicality")) ck.typicality = read_typicality(c, h.at("typicality"), path);
    if (!table.is_array()) throw FileError(path, "damaged checkpoint (tensor table is not a list)");
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, std::string("damaged checkpoint header: ") + e.what());
  } catch (const UsageError& e) {
    throw FileError(path, std::string("checkpoint header: ") + e.what());
  }
  try {
    ck.model.validate();
  } catch (const UsageError& e) {
    throw FileError(path, std::string("checkpoint header: ") + e.what());
  }
  ck.net = make_model(ck.model);
  ck.net->eval();

  StateDict stored;
  try {
    for (const auto& e : table) {
      const std::string name = e.at("name").get<std::string>();
      torch::ScalarType type;
      if (!dtype_from_name(e.at("dtype").get<std::string>(), &type))
        throw FileError(path, "tensor '" + name + "' has an unknown dtype " + e.at("dtype").dump());
      const auto shape = e.at("shape").get<std::vector<int64_t>>();
      auto blob = c.blobs.find(e.at("blob").get<std::string>());
      if (blob == c.blobs.end()) throw FileError(path, "tensor '" + name + "' has no data blob");
      // The shape's byte size, checked against the blob before anything is allocated (a
      // damaged shape must not ask for terabytes or overflow).
      const uint64_t have = blob->second.size();
      uint64_t nbytes = c10::elementSize(type);
      for (int64_t d : shape) {
        if (d < 0) throw FileError(path, "tensor '" + name + "' has a negative dimension");
        if (d != 0 && nbytes > have / static_cast<uint64_t>(d))
          throw FileError(
              path, "tensor '" + name + "' has a shape larger than its " + std::to_string(have) + " bytes of data");
        nbytes *= static_cast<uint64_t>(d);
      }
      if (have != nbytes)
        throw FileError(path, "tensor '" + name + "' data is " + std::to_string(have) + " bytes, its shape needs " +
                                  std::to_string(nbytes));
      auto t = torch::empty(shape, torch::TensorOptions().dtype(type));
      if (nbytes) std::memcpy(t.data_ptr(), blob->second.data(), nbytes);
      if (e.contains("scale_blob")) {  // 8-bit storage: one fp32 scale per output channel
        auto sb = c.blobs.find(e.at("scale_blob").get<std::string>());
        if (type != torch::kInt8 || shape.empty() || sb == c.blobs.end() ||
            sb->second.size() != static_cast<uint64_t>(shape[0]) * sizeof(float))
          throw FileError(path, "tensor '" + name + "' has a damaged 8-bit scale");
        auto scale = torch::empty({shape[0]}, torch::kFloat32);
        std::memcpy(scale.data_ptr(), sb->second.data(), sb->second.size());
        std::vector<int64_t> b(shape.size(), 1);
        b[0] = shape[0];
        t = t.to(torch::kFloat32) * scale.view(b);
      }
      if (!stored.emplace(name, t).second) throw FileError(path, "tensor '" + name + "' appears twice");
    }
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, std::string("damaged checkpoint tensor table: ") + e.what());
  }
  load_module_state(*ck.net, stored, path);
  auto opt = c.blobs.find(kOptimizerBlob);
  if (opt != c.blobs.end()) ck.optimizer_state = std::move(opt->second);
  return ck;
}

nlohmann::json model_card(const Checkpoint& ck) {
  nlohmann::json parts = nlohmann::json::array();
  int64_t total = 0;
  if (ck.net) {
    for (const auto& [name, n] : ck.net->part_sizes()) {
      parts.push_back({{"name", name}, {"parameters", n}});
      total += n;
    }
  }
  nlohmann::json card = {{"arch", ck.model.arch},     {"model", ck.model},
                         {"classes", ck.classes},     {"parts", parts},
                         {"total_parameters", total}, {"spec", ck.spec},
                         {"threshold", ck.threshold}, {"threshold_rule", ck.threshold_rule},
                         {"training", ck.training},   {"metrics", ck.metrics}};
  if (!ck.typicality.empty()) {
    nlohmann::json t = typicality_header(ck.typicality);
    t.erase("reference");
    card["typicality"] = t;
  }
  for (const char* key : {"evaluations", "calibration"})
    if (ck.extra.is_object() && ck.extra.contains(key)) card[key] = ck.extra.at(key);
  if (const nlohmann::json* record = int8_record(ck)) {
    nlohmann::json q = *record;  // what runs in int8 and how well it agrees; not the ranges
    q.erase("form");
    card["int8"] = q;
  }
  return card;
}

nlohmann::json checkpoint_identity(const std::string& path) {
  const Container c = read_container(path, kMagic, kCheckpointVersion, kKindName);
  const nlohmann::json& h = c.header;
  try {
    const nlohmann::json& model = h.at("model");
    const nlohmann::json& training = h.value("training", nlohmann::json::object());
    return {{"path", path},
            {"arch", model.at("arch")},
            {"classes", h.at("classes")},
            {"threshold", h.at("threshold")},
            {"saved", training.is_object() ? training.value("saved", "") : ""},
            {"sha256", to_hex(sha256(read_file(path)))}};
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, std::string("damaged checkpoint header: ") + e.what());
  }
}

}  // namespace covscreen
