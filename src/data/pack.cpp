// Pack file = core/container.h with magic "CVSPACK\0", version kPackVersion,
// header JSON {"classes","n","h","w","labels","patient_ids","paths","splits","sources" (optional),"spec","provenance"}
// and one blob "images": N*H*W bytes, uint8, row-major [N, H, W]; multi-label packs add a blob
// "targets": N*K float32 (little-endian), row-major [N, K], and "multilabel": true in the header.
#include "covscreen/data/pack.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"

namespace covscreen {
namespace {

constexpr const char* kKind = "a covscreen pack";
constexpr int64_t kMaxSide = 1 << 16;

std::string magic() { return std::string(kPackMagic, 8); }

template <class T>
std::vector<T> get_array(const nlohmann::json& h, const char* key, const std::string& path, size_t n) {
  auto it = h.find(key);
  if (it == h.end() || !it->is_array())
    throw FileError(path, std::string("damaged pack: header field '") + key + "' is missing or not an array");
  if (it->size() != n)
    throw FileError(path, std::string("damaged pack: '") + key + "' has " + std::to_string(it->size()) +
                              " entries, expected " + std::to_string(n));
  try {
    return it->get<std::vector<T>>();
  } catch (const std::exception& e) {
    throw FileError(path, std::string("damaged pack: '") + key + "' has entries of the wrong type");
  }
}

int64_t get_int(const nlohmann::json& h, const char* key, const std::string& path) {
  auto it = h.find(key);
  if (it == h.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
    throw FileError(path, std::string("damaged pack: header field '") + key + "' is missing or not a count");
  return it->get<int64_t>();
}

}  // namespace

std::string Pack::content_hash() const {
  uint64_t h = 1469598103934665603ull;
  if (images.defined()) {
    const torch::Tensor c = images.contiguous();
    const int64_t shape[3] = {c.dim() > 0 ? c.size(0) : 0, c.dim() > 1 ? c.size(1) : 0, c.dim() > 2 ? c.size(2) : 0};
    h = fnv1a64(shape, sizeof(shape), h);
    h = fnv1a64(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size(), h);
  }
  h = fnv1a64(labels.data(), labels.size() * sizeof(int64_t), h);  // little-endian hosts only
  if (targets.defined()) {
    const torch::Tensor t = targets.contiguous();
    h = fnv1a64(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size(), h);
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Pack Pack::select(const std::vector<int64_t>& idx) const {
  const int64_t n = size();
  for (int64_t i : idx)
    if (i < 0 || i >= n)
      throw Error("Pack::select: index " + std::to_string(i) + " out of range [0, " + std::to_string(n) + ")");
  Pack out;
  out.classes = classes;
  out.spec = spec;
  out.provenance = provenance;
  const auto t = torch::tensor(idx.empty() ? std::vector<int64_t>{} : idx, torch::kLong);
  out.images = images.defined() ? images.index_select(0, t).contiguous() : torch::empty({0, 0, 0}, torch::kUInt8);
  if (targets.defined()) out.targets = targets.index_select(0, t).contiguous();
  for (int64_t i : idx) {
    out.labels.push_back(labels[i]);
    out.patient_ids.push_back(patient_ids[i]);
    out.paths.push_back(paths[i]);
    out.splits.push_back(splits[i]);
    if (!sources.empty()) out.sources.push_back(sources[i]);
  }
  return out;
}

void Pack::validate(const std::string& where) const {
  if (!images.defined()) throw FileError(where, "pack has no image tensor");
  if (images.dim() != 3)
    throw FileError(where, "pack images must be [N, H, W], got " + std::to_string(images.dim()) + " dims");
  if (images.scalar_type() != torch::kUInt8) throw FileError(where, "pack images must be uint8");
  if (!images.device().is_cpu()) throw FileError(where, "pack images must be on the CPU");
  const size_t n = static_cast<size_t>(images.size(0));
  auto check_len = [&](size_t len, const char* what) {
    if (len != n)
      throw FileError(
          where, std::string("pack has ") + std::to_string(len) + " " + what + " for " + std::to_string(n) + " images");
  };
  check_len(labels.size(), "labels");
  check_len(patient_ids.size(), "patient ids");
  check_len(paths.size(), "paths");
  check_len(splits.size(), "splits");
  if (!sources.empty()) check_len(sources.size(), "sources");
  const int64_t k = static_cast<int64_t>(classes.size());
  if (targets.defined()) {
    if (targets.dim() != 2 || targets.size(0) != images.size(0) || targets.size(1) != k ||
        targets.scalar_type() != torch::kFloat32 || !targets.device().is_cpu())
      throw FileError(where, "pack targets must be float32 [N, K] on the CPU with K = " + std::to_string(k) +
                                 " classes and N = " + std::to_string(n) + " images");
    if (n > 0 && !(targets.min().item<float>() >= 0.0f && targets.max().item<float>() <= 1.0f))
      throw FileError(where, "pack targets must lie in [0, 1]");
  }
  for (size_t i = 0; i < n; ++i)
    if (labels[i] < -1 || labels[i] >= k)
      throw FileError(where, "label " + std::to_string(labels[i]) + " of image " + std::to_string(i) + " (" + paths[i] +
                                 ") is outside [-1, " + std::to_string(k) + ")");
}

void write_pack(const std::string& path, const Pack& p) {
  p.validate(path);
  const torch::Tensor img = p.images.contiguous();
  Container c;
  c.magic = magic();
  c.version = kPackVersion;
  c.header = {{"classes", p.classes}, {"n", img.size(0)},
              {"h", img.size(1)},     {"w", img.size(2)},
              {"labels", p.labels},   {"patient_ids", p.patient_ids},
              {"paths", p.paths},     {"splits", p.splits},
              {"spec", p.spec},       {"provenance", p.provenance.is_null() ? nlohmann::json::object() : p.provenance}};
  if (!p.sources.empty()) c.header["sources"] = p.sources;
  c.blobs["images"] = std::string(static_cast<const char*>(img.data_ptr()), static_cast<size_t>(img.numel()));
  if (p.targets.defined()) {
    const torch::Tensor t = p.targets.contiguous();
    c.header["multilabel"] = true;
    c.blobs["targets"] = std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.nbytes()));
  }
  write_container(path, c);
}

bool is_pack_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  return in.read(head, sizeof head) && std::string(head, sizeof head) == magic();
}

Pack read_pack(const std::string& path) {
  Container c = read_container(path, magic(), kPackVersion, kKind);
  const nlohmann::json& h = c.header;
  if (!h.is_object()) throw FileError(path, "damaged pack: header is not a JSON object");
  const int64_t n = get_int(h, "n", path), hh = get_int(h, "h", path), ww = get_int(h, "w", path);
  if (hh > kMaxSide || ww > kMaxSide || (n > 0 && (hh == 0 || ww == 0)))
    throw FileError(path, "damaged pack: implausible image size " + std::to_string(hh) + "x" + std::to_string(ww));
  auto blob = c.blobs.find("images");
  if (blob == c.blobs.end()) throw FileError(path, "damaged pack: no 'images' blob");
  const uint64_t want = static_cast<uint64_t>(hh) * static_cast<uint64_t>(ww);
  if (want != 0 && static_cast<uint64_t>(n) > std::numeric_limits<uint64_t>::max() / want)
    throw FileError(path, "damaged pack: image count overflows");
  if (static_cast<uint64_t>(n) * want != blob->second.size())
    throw FileError(path, "damaged pack: header says " + std::to_string(n) + " images of " + std::to_string(hh) + "x" +
                              std::to_string(ww) + " (" + std::to_string(static_cast<uint64_t>(n) * want) +
                              " bytes) but the images blob has " + std::to_string(blob->second.size()) + " bytes");
  Pack p;
  const size_t un = static_cast<size_t>(n);
  auto cls = h.find("classes");
  if (cls == h.end() || !cls->is_array()) throw FileError(path, "damaged pack: 'classes' is missing");
  p.classes = get_array<std::string>(h, "classes", path, cls->size());
  p.labels = get_array<int64_t>(h, "labels", path, un);
  p.patient_ids = get_array<std::string>(h, "patient_ids", path, un);
  p.paths = get_array<std::string>(h, "paths", path, un);
  p.splits = get_array<std::string>(h, "splits", path, un);
  if (h.contains("sources")) p.sources = get_array<std::string>(h, "sources", path, un);
  try {
    p.spec = h.at("spec").get<PreprocessSpec>();
  } catch (const std::exception& e) {
    throw FileError(path, std::string("damaged pack: bad preprocessing spec: ") + e.what());
  }
  p.provenance = h.value("provenance", nlohmann::json::object());
  p.images = torch::empty({n, hh, ww}, torch::kUInt8);
  if (!blob->second.empty()) std::memcpy(p.images.data_ptr(), blob->second.data(), blob->second.size());
  if (h.value("multilabel", false)) {
    auto tb = c.blobs.find("targets");
    const uint64_t k = p.classes.size();
    if (tb == c.blobs.end() || tb->second.size() != static_cast<uint64_t>(n) * k * sizeof(float))
      throw FileError(path, "damaged pack: multi-label pack without a targets blob of " + std::to_string(n) + "x" +
                                std::to_string(k) + " floats");
    p.targets = torch::empty({n, static_cast<int64_t>(k)}, torch::kFloat32);
    if (!tb->second.empty()) std::memcpy(p.targets.data_ptr(), tb->second.data(), tb->second.size());
  }
  p.validate(path);
  return p;
}

}  // namespace covscreen
