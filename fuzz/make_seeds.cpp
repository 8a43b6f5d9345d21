// Writes small synthetic seed inputs for the fuzz targets (scripts/fuzz/make_corpus.sh):
//   fuzz_make_seeds <out>   ->  <out>/<target>/<seed files>
// image: PNG (8/16-bit, gray/RGB/RGBA), JPEG, BMP, TIFF (8/16-bit, float); dicom: hand-written
// files (explicit/implicit VR, big endian, no preamble, MONOCHROME1, 8/16-bit, multi-frame);
// pack: write_pack() of a tiny pack; checkpoint: a small-model checkpoint with the large tensors
// dropped (the header and tensor table stay), and torch.save state_dicts from write_state_dict().
// CSV and HTTP seeds are text and written by make_corpus.sh itself.
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <string>
#include <vector>

#include "covscreen/core/container.h"
#include "covscreen/data/pack.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/state_dict.h"

namespace {

namespace fs = std::filesystem;
using namespace covscreen;

void put(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string encode(const std::string& ext, const cv::Mat& m, const std::vector<int>& params = {}) {
  std::vector<uchar> buf;
  cv::imencode(ext, m, buf, params);
  return std::string(buf.begin(), buf.end());
}

cv::Mat gradient(int rows, int cols, int type) {
  cv::Mat g(rows, cols, CV_32F);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x) g.at<float>(y, x) = float((x * 7 + y * 13) % 256) / 255.0f;
  cv::Mat out;
  const double scale = CV_MAT_DEPTH(type) == CV_16U ? 65535.0 : CV_MAT_DEPTH(type) == CV_32F ? 1.0 : 255.0;
  g.convertTo(out, CV_MAT_DEPTH(type), scale);
  if (CV_MAT_CN(type) > 1) {
    std::vector<cv::Mat> ch(CV_MAT_CN(type), out);
    cv::merge(ch, out);
  }
  return out;
}

void images(const fs::path& dir) {
  put(dir / "gray8.png", encode(".png", gradient(16, 12, CV_8UC1)));
  put(dir / "gray16.png", encode(".png", gradient(9, 7, CV_16UC1)));
  put(dir / "rgb.png", encode(".png", gradient(8, 8, CV_8UC3)));
  put(dir / "rgba.png", encode(".png", gradient(5, 6, CV_8UC4)));
  put(dir / "gray.jpg", encode(".jpg", gradient(16, 16, CV_8UC1), {cv::IMWRITE_JPEG_QUALITY, 50}));
  put(dir / "rgb-progressive.jpg", encode(".jpg", gradient(12, 20, CV_8UC3), {cv::IMWRITE_JPEG_PROGRESSIVE, 1}));
  put(dir / "gray.bmp", encode(".bmp", gradient(7, 5, CV_8UC1)));
  put(dir / "rgb.bmp", encode(".bmp", gradient(4, 9, CV_8UC3)));
  put(dir / "gray8.tif", encode(".tiff", gradient(8, 8, CV_8UC1)));
  put(dir / "gray16.tif", encode(".tiff", gradient(6, 10, CV_16UC1)));
  put(dir / "float.tif", encode(".tiff", gradient(4, 4, CV_32FC1)));
  put(dir / "rgb-lzw.tif", encode(".tiff", gradient(8, 4, CV_8UC3), {cv::IMWRITE_TIFF_COMPRESSION, 5}));
}

// A minimal DICOM writer: explicit or implicit VR, little or big endian, optional preamble.
class Dicom {
 public:
  Dicom(bool explicit_vr, bool big) : explicit_(explicit_vr), big_(big) {}
  void el(uint16_t g, uint16_t e, const char* vr, std::string v) {
    if (v.size() % 2) v.push_back(vr[0] == 'U' && vr[1] == 'I' ? '\0' : ' ');
    u16(g);
    u16(e);
    const std::string svr(vr);
    const bool long_form = svr == "OB" || svr == "OW" || svr == "SQ" || svr == "UN" || svr == "UT";
    if (explicit_) {
      out_ += svr;
      if (long_form) {
        u16(0);
        u32(uint32_t(v.size()));
      } else {
        u16(uint16_t(v.size()));
      }
    } else {
      u32(uint32_t(v.size()));
    }
    out_ += v;
  }
  void us(uint16_t g, uint16_t e, uint16_t v) {
    std::string s(2, '\0');
    s[big_ ? 1 : 0] = char(v & 0xff);
    s[big_ ? 0 : 1] = char(v >> 8);
    el(g, e, "US", s);
  }
  const std::string& bytes() const { return out_; }

 private:
  void u16(uint16_t v) {
    if (big_) {
      out_.push_back(char(v >> 8));
      out_.push_back(char(v & 0xff));
    } else {
      out_.push_back(char(v & 0xff));
      out_.push_back(char(v >> 8));
    }
  }
  void u32(uint32_t v) {
    if (big_) {
      u16(uint16_t(v >> 16));
      u16(uint16_t(v & 0xffff));
    } else {
      u16(uint16_t(v & 0xffff));
      u16(uint16_t(v >> 16));
    }
  }
  bool explicit_, big_;
  std::string out_;
};

std::string meta(const std::string& ts) {
  Dicom m(true, false);
  m.el(0x0002, 0x0001, "OB", std::string("\0\1", 2));
  m.el(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.2");
  m.el(0x0002, 0x0003, "UI", "1.2.3.4.5.6.7");
  m.el(0x0002, 0x0010, "UI", ts);
  Dicom g(true, false);
  g.el(0x0002, 0x0000, "UL", std::string("\0\0\0\0", 4));
  std::string len = g.bytes();
  const uint32_t n = uint32_t(m.bytes().size());
  len[8] = char(n & 0xff), len[9] = char((n >> 8) & 0xff), len[10] = char((n >> 16) & 0xff), len[11] = char(n >> 24);
  return len + m.bytes();
}

struct DicomSpec {
  std::string ts = "1.2.840.10008.1.2.1";
  bool preamble = true, mono1 = false, voi = true;
  int rows = 8, cols = 6, bits = 16, frames = 1;
};

std::string dicom(const DicomSpec& s) {
  const bool explicit_vr = s.ts != "1.2.840.10008.1.2", big = s.ts == "1.2.840.10008.1.2.2";
  Dicom d(explicit_vr, big);
  d.el(0x0008, 0x0060, "CS", "CT");
  d.el(0x0010, 0x0020, "LO", "FUZZ-1");
  d.us(0x0028, 0x0002, 1);
  d.el(0x0028, 0x0004, "CS", s.mono1 ? "MONOCHROME1" : "MONOCHROME2");
  if (s.frames > 1) d.el(0x0028, 0x0008, "IS", std::to_string(s.frames));
  d.us(0x0028, 0x0010, uint16_t(s.rows));
  d.us(0x0028, 0x0011, uint16_t(s.cols));
  d.us(0x0028, 0x0100, uint16_t(s.bits));
  d.us(0x0028, 0x0101, uint16_t(s.bits == 16 ? 12 : 8));
  d.us(0x0028, 0x0102, uint16_t(s.bits == 16 ? 11 : 7));
  d.us(0x0028, 0x0103, s.bits == 16 ? 1 : 0);
  if (s.voi) {
    d.el(0x0028, 0x1050, "DS", "-600");
    d.el(0x0028, 0x1051, "DS", "1500");
  }
  d.el(0x0028, 0x1052, "DS", "-1024");
  d.el(0x0028, 0x1053, "DS", "1");
  std::string px;
  for (int i = 0; i < s.rows * s.cols * s.frames; ++i) {
    const int v = (i * 37) % (s.bits == 16 ? 4096 : 256);
    if (s.bits == 16) {
      px.push_back(char(big ? v >> 8 : v & 0xff));
      px.push_back(char(big ? v & 0xff : v >> 8));
    } else {
      px.push_back(char(v));
    }
  }
  d.el(0x7FE0, 0x0010, s.bits == 16 ? "OW" : "OB", px);
  std::string out;
  if (s.preamble) out = std::string(128, '\0') + "DICM" + meta(s.ts);
  return out + d.bytes();
}

void dicoms(const fs::path& dir) {
  DicomSpec s;
  put(dir / "explicit-le.dcm", dicom(s));
  s.ts = "1.2.840.10008.1.2";
  put(dir / "implicit-le.dcm", dicom(s));
  s.ts = "1.2.840.10008.1.2.2";
  put(dir / "explicit-be.dcm", dicom(s));
  s = {};
  s.preamble = false;
  put(dir / "no-preamble.dcm", dicom(s));
  s = {};
  s.mono1 = true;
  s.bits = 8;
  s.voi = false;
  put(dir / "mono1-8bit.dcm", dicom(s));
  s = {};
  s.frames = 3;
  put(dir / "multiframe.dcm", dicom(s));
}

void pack(const fs::path& dir) {
  Pack p;
  p.classes = {"covid", "non-covid"};
  p.images = torch::arange(3 * 4 * 5, torch::kInt64).remainder(256).to(torch::kUInt8).view({3, 4, 5}).contiguous();
  p.labels = {0, 1, -1};
  p.patient_ids = {"p1", "p1", ""};
  p.paths = {"a/1.png", "a/2.png", "b,\"3\".png"};
  p.splits = {"train", "val", ""};
  p.spec.stage1.size = 5;
  p.provenance = {{"layout", "fuzz"}, {"skipped", 0}};
  fs::create_directories(dir);
  write_pack((dir / "tiny.pack").string(), p);
  Pack empty = p.select({});
  write_pack((dir / "empty.pack").string(), empty);
}

void checkpoints(const fs::path& dir) {
  fs::create_directories(dir);
  Checkpoint ck;
  ck.model.arch = "resnet50";
  ck.model.input_size = 32;
  ck.classes = {"covid", "non-covid"};
  ck.spec.stage1.size = 32;
  ck.threshold = 0.7;
  ck.threshold_rule = "youden";
  ck.training = {{"seed", 1}};
  ck.net = make_model(ck.model);
  const std::string full = (dir / "full.ckpt.tmp").string();
  save_checkpoint(full, ck, /*half=*/true);
  // Keep the header and tensor table; drop every blob over 1 KiB (the file would be ~50 MB).
  Container c = read_container(full, std::string(kCheckpointMagic, 8), kCheckpointVersion, "a checkpoint");
  fs::remove(full);
  for (auto it = c.blobs.begin(); it != c.blobs.end();) it = it->second.size() > 1024 ? c.blobs.erase(it) : ++it;
  write_container((dir / "resnet50-small-blobs.ckpt").string(), c);
  c.blobs.clear();
  c.header["tensors"] = nlohmann::json::array({c.header["tensors"][0]});
  write_container((dir / "one-tensor.ckpt").string(), c);
  c.header["tensors"] = nlohmann::json::array();
  write_container((dir / "no-tensors.ckpt").string(), c);

  NamedTensors sd = {{"features.conv0.weight", torch::arange(12, torch::kFloat32).view({2, 2, 3})},
                     {"features.norm0.running_mean", torch::zeros({4}, torch::kFloat16)},
                     {"features.norm0.num_batches_tracked", torch::tensor(int64_t(3))},
                     {"classifier.bias", torch::ones({2}, torch::kFloat64)}};
  write_state_dict((dir / "state_dict.pt").string(), sd);
  write_state_dict((dir / "one.pt").string(), NamedTensors{{"w", torch::zeros({1}, torch::kUInt8)}});
  // A view with an offset and non-contiguous strides.
  torch::Tensor base = torch::arange(24, torch::kFloat32).view({4, 6});
  write_state_dict((dir / "strided.pt").string(), NamedTensors{{"t", base.t().contiguous()}, {"b", base[1]}});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <out-folder>\n", argv[0]);
    return 1;
  }
  const fs::path out(argv[1]);
  try {
    images(out / "image");
    dicoms(out / "dicom");
    for (const char* f : {"explicit-le.dcm", "mono1-8bit.dcm"})
      fs::copy_file(out / "dicom" / f, out / "image" / f, fs::copy_options::overwrite_existing);
    pack(out / "pack");
    checkpoints(out / "checkpoint");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_make_seeds: %s\n", e.what());
    return 1;
  }
  return 0;
}
