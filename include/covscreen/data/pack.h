#pragma once
// A pack: stage-1 images (uint8, N x H x W) + labels + patient ids + source paths + splits + sources +
// the preprocessing spec, in one versioned, checksummed container file (core/container.h)
// written atomically. Training and evaluation read packs, so they need only LibTorch.
#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "covscreen/core/preprocess_spec.h"

namespace covscreen {

inline constexpr const char* kPackMagic = "CVSPACK\0";  // 8 bytes with the NUL
inline constexpr uint32_t kPackVersion = 1;

struct Pack {
  std::vector<std::string> classes;  // canonical class names; labels index into this
  torch::Tensor images;              // uint8 [N, H, W], contiguous, CPU
  std::vector<int64_t> labels;       // N entries, index into classes, -1 = unlabelled
  // Multi-label packs only (e.g. CheXpert findings, data/chexpert.h): float [N, K] targets in
  // [0, 1], column k = classes[k]; labels are then all -1. Undefined for single-label packs.
  torch::Tensor targets;
  std::vector<std::string> patient_ids;  // N entries (may be empty strings)
  std::vector<std::string> paths;        // N entries: source files
  std::vector<std::string> splits;       // N entries (may be empty strings)
  // N entries, or none: the data set each image came from (the manifest's `source` column, e.g.
  // "COVID-CT"; none for packs written before this field). Training's
  // source-balanced sampler (train/train_config.h, Sampler) reads it.
  std::vector<std::string> sources;
  PreprocessSpec spec;
  nlohmann::json provenance;  // free-form: manifest, layout, counts of skipped files

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  bool multilabel() const { return targets.defined(); }
  // Hash of images + labels + targets (hex), recorded in checkpoints as the training data's identity.
  std::string content_hash() const;
  // The subset with the given indices (copies the rows).
  Pack select(const std::vector<int64_t>& idx) const;
  void validate(const std::string& where) const;  // sizes agree, labels in range; throws FileError
};

void write_pack(const std::string& path, const Pack& p);  // atomic
Pack read_pack(const std::string& path);                  // throws FileError on corrupt/foreign
// A regular file that starts with the 8-byte kPackMagic (cheap: reads 8 bytes, never throws).
bool is_pack_file(const std::string& path);

}  // namespace covscreen
