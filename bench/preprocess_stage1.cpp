// Stage-1 throughput on one thread: decode (read_image) + histogram equalization + resize.
//   bench_preprocess_stage1            COVID-CT official train split (Data-split/*/train*.txt lists
//                                      over Images-processed/CT_COVID|CT_NonCOVID), 425 images
//   bench_preprocess_stage1 <folder>   every image under <folder>, recursively
// Prints one JSON object. Files are read into memory first, so disk/cache effects are excluded;
// "decode_only_per_s" times decode_image alone, "images_per_s" decode + stage1. Best of 3 passes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/io/image_reader.h"
#include "covscreen/preprocess/stage1.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> covid_ct_train() {
  const fs::path root = fs::path(covscreen::datasets_root()) / "COVID-CT";
  std::vector<std::string> out;
  const std::pair<const char*, const char*> lists[] = {{"COVID/trainCT_COVID.txt", "CT_COVID"},
                                                       {"NonCOVID/trainCT_NonCOVID.txt", "CT_NonCOVID"}};
  for (const auto& [list, folder] : lists) {
    std::ifstream in(root / "Data-split" / list);
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) out.push_back((root / "Images-processed" / folder / line).string());
    }
  }
  return out;
}

std::vector<std::string> folder_images(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && covscreen::has_image_extension(e.path().string())) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> paths = argc > 1 ? folder_images(argv[1]) : covid_ct_train();
  std::vector<std::pair<std::string, std::string>> files;  // name, bytes
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) continue;
    files.emplace_back(p, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }
  if (files.empty()) {
    std::cerr << "bench_preprocess_stage1: no images found (" << (argc > 1 ? argv[1] : covscreen::datasets_root())
              << ")\n";
    return 1;
  }
  const covscreen::Stage1Spec spec;  // 256 x 256, equalize
  double best_full = 1e30, best_decode = 1e30;
  int ok = 0, failed = 0;
  uint64_t checksum = 0;  // keeps the work observable
  for (int pass = 0; pass < 3; ++pass) {
    ok = failed = 0;
    Clock::time_point t0 = Clock::now();
    for (const auto& [name, bytes] : files) {
      try {
        checksum += covscreen::decode_image(bytes, name).gray.rows;
      } catch (const covscreen::FileError&) {
      }
    }
    best_decode = std::min(best_decode, seconds_since(t0));
    t0 = Clock::now();
    for (const auto& [name, bytes] : files) {
      try {
        const cv::Mat out = covscreen::stage1(covscreen::decode_image(bytes, name).gray, spec);
        checksum += out.at<uint8_t>(out.rows / 2, out.cols / 2);
        ++ok;
      } catch (const covscreen::FileError& e) {
        if (pass == 0) std::cerr << e.what() << "\n";
        ++failed;
      }
    }
    best_full = std::min(best_full, seconds_since(t0));
  }
  std::printf(
      "{\"bench\":\"stage1\",\"images\":%d,\"failed\":%d,\"seconds\":%.4f,\"images_per_s\":%.1f,"
      "\"decode_only_per_s\":%.1f,\"size\":%d,\"threads\":1,\"checksum\":%llu}\n",
      ok, failed, best_full, ok / best_full, (ok + failed) / best_decode, spec.size,
      static_cast<unsigned long long>(checksum % 1000003));
  return 0;
}
