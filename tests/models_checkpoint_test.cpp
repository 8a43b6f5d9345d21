// Checkpoints: exact fp32 round trip, fp16 within tolerance, damaged / truncated / foreign files
// and missing or misshapen tensors give FileErrors that say what is wrong.
#include <fstream>

#include "covscreen/core/container.h"
#include "covscreen/core/error.h"
#include "covscreen/models/checkpoint.h"
#include "covscreen/models/state_dict.h"
#include "covscreen/models/weights_io.h"
#include "test_util.h"

namespace covscreen {
namespace {

// A small Deep-CT-Net (64x64 input) with non-trivial BatchNorm statistics and metadata.
Checkpoint make_checkpoint() {
  torch::manual_seed(11);
  Checkpoint ck;
  ck.model.arch = "deep-ct-net";
  ck.model.num_classes = 3;
  ck.model.input_size = 64;
  ck.model.fpa_channels = 16;
  ck.classes = {"covid", "pneumonia", "normal"};
  ck.spec.stage1.size = 64;
  ck.spec.stage2.rotate_degrees = 10;
  ck.threshold = 0.37;
  ck.threshold_rule = "youden";
  ck.training = {{"seed", 7}, {"epoch", 3}, {"data_hash", "abc"}};
  ck.metrics = {{"auc", 0.91}};
  ck.extra = {{"note", "test"}};
  ck.optimizer_state = std::string("\0\x01opt-bytes\xff", 12);
  ck.net = make_model(ck.model);
  torch::NoGradGuard no_grad;
  for (auto& b : ck.net->named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.1);
    if (b.key().find("num_batches_tracked") != std::string::npos) b.value().fill_(123);
  }
  return ck;
}

class CheckpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ck_ = new Checkpoint(make_checkpoint()); }
  static void TearDownTestSuite() { delete ck_; }
  static Checkpoint* ck_;
  test::TempDir dir_;
};
Checkpoint* CheckpointTest::ck_ = nullptr;

void expect_same_meta(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(nlohmann::json(a.model), nlohmann::json(b.model));
  EXPECT_EQ(a.classes, b.classes);
  EXPECT_EQ(nlohmann::json(a.spec), nlohmann::json(b.spec));
  EXPECT_EQ(a.threshold, b.threshold);
  EXPECT_EQ(a.threshold_rule, b.threshold_rule);
  EXPECT_EQ(a.training, b.training);
  EXPECT_EQ(a.metrics, b.metrics);
  EXPECT_EQ(a.extra, b.extra);
  EXPECT_EQ(a.optimizer_state, b.optimizer_state);
}

TEST_F(CheckpointTest, Fp32RoundTripIsExact) {
  const std::string path = dir_.file("m.ckpt");
  save_checkpoint(path, *ck_);
  const Checkpoint back = load_checkpoint(path);
  expect_same_meta(*ck_, back);
  const auto a = module_tensors(*ck_->net), b = module_tensors(*back.net);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST_F(CheckpointTest, Fp16RoundTripIsWithinHalfPrecision) {
  save_checkpoint(dir_.file("full.ckpt"), *ck_, false);
  save_checkpoint(dir_.file("half.ckpt"), *ck_, true);
  const auto full = std::filesystem::file_size(dir_.file("full.ckpt"));
  const auto half = std::filesystem::file_size(dir_.file("half.ckpt"));
  EXPECT_LT(half, full * 0.55);
  const Checkpoint back = load_checkpoint(dir_.file("half.ckpt"));
  expect_same_meta(*ck_, back);
  const auto a = module_tensors(*ck_->net), b = module_tensors(*back.net);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& x = a[i].second;
    const auto& y = b[i].second;
    EXPECT_EQ(y.scalar_type(), x.scalar_type()) << a[i].first;  // restored to fp32 / int64
    if (!x.is_floating_point()) {
      EXPECT_TRUE(torch::equal(x, y)) << a[i].first;
      continue;
    }
    // fp16: 11-bit significand -> relative error <= 2^-11; tiny values lose more (subnormals).
    const auto err = (x - y).abs();
    const auto bound = x.abs() * (1.0 / 2048) + 6e-8;
    EXPECT_TRUE((err <= bound).all().item<bool>()) << a[i].first << " max err " << err.max().item<double>();
  }
}

TEST_F(CheckpointTest, DamagedAndTruncatedFilesAreRefused) {
  const std::string path = dir_.file("m.ckpt");
  save_checkpoint(path, *ck_);
  const std::string bytes = read_file(path);
  auto write = [&](const std::string& name, const std::string& b) {
    std::ofstream(dir_.file(name), std::ios::binary) << b;
    return dir_.file(name);
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  EXPECT_THROW(load_checkpoint(write("flipped.ckpt", flipped)), FileError);
  EXPECT_THROW(load_checkpoint(write("cut.ckpt", bytes.substr(0, bytes.size() / 3))), FileError);
  EXPECT_THROW(load_checkpoint(write("cut2.ckpt", bytes.substr(0, 30))), FileError);
  EXPECT_THROW(load_checkpoint(write("empty.ckpt", "")), FileError);
  EXPECT_THROW(load_checkpoint(dir_.file("absent.ckpt")), FileError);
}

TEST_F(CheckpointTest, ForeignFilesSayWhatTheyAre) {
  auto message = [](const std::string& path) -> std::string {
    try {
      load_checkpoint(path);
    } catch (const FileError& e) {
      return e.what();
    }
    return "no error";
  };
  // A PyTorch zip (a state_dict) given as a checkpoint.
  write_state_dict(dir_.file("sd.pt"), StateDict{{"w", torch::zeros({2})}});
  EXPECT_NE(message(dir_.file("sd.pt")).find("PyTorch"), std::string::npos) << message(dir_.file("sd.pt"));
  // A pack given as a checkpoint.
  Container pack;
  pack.magic = std::string("CVSPACK\0", 8);
  pack.header = {{"kind", "pack"}};
  write_container(dir_.file("x.pack"), pack);
  EXPECT_NE(message(dir_.file("x.pack")).find("pack"), std::string::npos) << message(dir_.file("x.pack"));
  std::ofstream(dir_.file("img.png"), std::ios::binary) << "\x89PNG\r\n\x1a\n....";
  EXPECT_NE(message(dir_.file("img.png")).find("PNG"), std::string::npos);
}

// Rewrites a saved checkpoint's header with `edit` (checksum recomputed: a consistent file).
std::string edited(const std::string& src, const std::string& dst, const std::function<void(Container&)>& edit) {
  Container c = read_container(src, std::string(kCheckpointMagic, 8), kCheckpointVersion, "checkpoint");
  edit(c);
  write_container(dst, c);
  return dst;
}

TEST_F(CheckpointTest, MissingOrMisshapenTensorsAreNamed) {
  const std::string path = dir_.file("m.ckpt");
  save_checkpoint(path, *ck_);
  auto error_of = [](const std::string& p) -> std::string {
    try {
      load_checkpoint(p);
    } catch (const FileError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::string victim = "fpa.lat2.weight";
  auto missing = edited(path, dir_.file("missing.ckpt"), [&](Container& c) {
    auto& t = c.header["tensors"];
    for (size_t i = 0; i < t.size(); ++i)
      if (t[i]["name"] == victim) t.erase(i);
  });
  EXPECT_NE(error_of(missing).find(victim), std::string::npos) << error_of(missing);
  EXPECT_NE(error_of(missing).find("missing"), std::string::npos) << error_of(missing);

  auto shape = edited(path, dir_.file("shape.ckpt"), [&](Container& c) {
    for (auto& t : c.header["tensors"])
      if (t["name"] == "bn.running_mean") {
        t["shape"] = {512, 2};
      }
  });
  EXPECT_NE(error_of(shape).find("bn.running_mean"), std::string::npos) << error_of(shape);

  auto arch = edited(path, dir_.file("arch.ckpt"), [&](Container& c) { c.header["model"]["num_classes"] = 2; });
  EXPECT_NE(error_of(arch).find("fc."), std::string::npos) << error_of(arch);

  auto blob = edited(path, dir_.file("blob.ckpt"), [&](Container& c) {
    auto& t = c.header["tensors"][0];
    c.blobs[t["blob"].get<std::string>()].resize(3);
  });
  EXPECT_NE(error_of(blob).find(ck_->net->named_parameters()[0].key()), std::string::npos) << error_of(blob);

  auto header = edited(path, dir_.file("header.ckpt"), [&](Container& c) { c.header.erase("classes"); });
  EXPECT_THROW(load_checkpoint(header), FileError);
}

TEST_F(CheckpointTest, ModelCardListsPartsAndMetadata) {
  const auto card = model_card(*ck_);
  EXPECT_EQ(card["arch"], "deep-ct-net");
  ASSERT_EQ(card["parts"].size(), 3u);
  int64_t sum = 0;
  for (const auto& p : card["parts"]) sum += p["parameters"].get<int64_t>();
  int64_t total = 0;
  for (const auto& p : ck_->net->parameters()) total += p.numel();
  EXPECT_EQ(sum, total);
  EXPECT_EQ(card["total_parameters"].get<int64_t>(), total);
  EXPECT_EQ(card["classes"].size(), 3u);
  EXPECT_EQ(card["threshold"].get<double>(), 0.37);
  EXPECT_EQ(card["metrics"]["auc"].get<double>(), 0.91);
  const std::string text = format_model_card(card);
  EXPECT_NE(text.find("params fpa"), std::string::npos) << text;
  EXPECT_NE(text.find("covid, pneumonia, normal"), std::string::npos) << text;
}

TEST_F(CheckpointTest, ExportWritesEveryTensorUnderOurNames) {
  export_state_dict(*ck_, dir_.file("e.pt"));
  const StateDict sd = read_state_dict(dir_.file("e.pt"));
  const auto ours = module_tensors(*ck_->net);
  ASSERT_EQ(sd.size(), ours.size());
  for (const auto& [name, t] : ours) {
    ASSERT_TRUE(sd.count(name)) << name;
    EXPECT_TRUE(torch::equal(sd.at(name), t)) << name;
  }
}

}  // namespace
}  // namespace covscreen
