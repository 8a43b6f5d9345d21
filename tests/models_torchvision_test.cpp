// Parity with torchvision (which nobody here wrote): tests/python/torchvision_reference.py saves
// seeded random-init densenet121 / resnet50 state_dicts (BatchNorm statistics randomized) and
// their outputs; the C++ models must reproduce them, and what we export must be what
// Python's torch.load / torchvision's load_state_dict(strict=True) accept.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "covscreen/core/error.h"
#include "covscreen/models/deep_ct_net.h"
#include "covscreen/models/model.h"
#include "covscreen/models/state_dict.h"
#include "test_util.h"

namespace covscreen {
namespace {

const std::string kScript = std::string(COVSCREEN_SOURCE_DIR) + "/tests/python/torchvision_reference.py";

// Runs the reference script; returns its exit code (-1 when it could not run).
int run_python(const std::string& args) {
  const std::string py = test::debian_python();
  if (py.empty()) return -1;
  const int status = std::system((py + " " + kScript + " " + args).c_str());
  return (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
}

// The reference files are generated once per build tree and script version (ctest runs every
// test in its own process; torch imports slowly), into a temp dir renamed into place.
std::string reference_dir() {
  std::error_code ec;
  const auto size = std::filesystem::file_size(kScript, ec);
  if (ec) return "";
  const auto stamp = std::to_string(size) + "-" +
                     std::to_string(std::filesystem::last_write_time(kScript, ec).time_since_epoch().count());
  std::filesystem::path base = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();  // the build tree
  if (ec || base.empty()) base = std::filesystem::temp_directory_path();
  const std::filesystem::path dir = base / ("torchvision-ref-" + stamp);
  if (std::filesystem::exists(dir / "done")) return dir.string();
  for (const auto& old : std::filesystem::directory_iterator(base, ec))  // earlier script versions
    if (old.path().filename().string().rfind("torchvision-ref-", 0) == 0 &&
        old.path().filename().string().find(".tmp-") == std::string::npos)
      std::filesystem::remove_all(old.path(), ec);
  const std::filesystem::path tmp = dir.string() + ".tmp-" + std::to_string(::getpid());
  std::filesystem::create_directories(tmp);
  if (run_python("gen " + tmp.string()) != 0) {
    std::filesystem::remove_all(tmp);
    return "";
  }
  std::ofstream(tmp / "done") << "ok\n";
  std::filesystem::rename(tmp, dir, ec);
  if (ec) std::filesystem::remove_all(tmp);  // another process got there first
  return std::filesystem::exists(dir / "done") ? dir.string() : "";
}

class TorchvisionParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ref_ = new std::string(reference_dir()); }
  static void TearDownTestSuite() { delete ref_; }
  void SetUp() override {
    if (ref_->empty()) COVSCREEN_SKIP() << "/usr/bin/python3 with torch + torchvision not available";
  }
  static std::string file(const std::string& name) { return *ref_ + "/" + name; }
  std::string out(const std::string& name) const { return tmp_.file(name); }

  // A model of `arch` with the reference weights loaded strictly.
  static ScreenModel load_reference(const std::string& arch) {
    ModelConfig cfg;
    cfg.arch = arch;
    cfg.num_classes = 1000;
    auto model = make_model(cfg);
    load_module_state(*model, read_state_dict(file(arch + "_sd.pt")), file(arch + "_sd.pt"));
    model->eval();
    return model;
  }

  static std::string* ref_;
  test::TempDir tmp_;  // what a test writes
};
std::string* TorchvisionParity::ref_ = nullptr;

// max |a - b| <= tol * max(1, max |b|)
void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const double scale = std::max(1.0, b.abs().max().item<double>());
  const double diff = (a - b).abs().max().item<double>();
  std::cout << "  " << what << ": max abs diff " << diff << " (max |ref| " << b.abs().max().item<double>()
            << ", mean |ref| " << b.abs().mean().item<double>() << ")\n";
  EXPECT_LE(diff, tol * scale) << what << ": max abs diff " << diff << " (scale " << scale << ")";
}

void check_forward(const ScreenModel& model, const StateDict& io) {
  torch::NoGradGuard no_grad;
  const auto x = io.at("input");
  const auto f = model->features(x);
  expect_close(f, io.at("features"), 1e-4, "features");
  expect_close(model->classify(f), io.at("output"), 1e-4, "logits");
  expect_close(model->forward(x), io.at("output"), 1e-4, "forward");
}

TEST_F(TorchvisionParity, DenseNet121MatchesTorchvision) {
  auto model = load_reference("densenet121");
  check_forward(model, read_state_dict(file("densenet121_io.pt")));
}

TEST_F(TorchvisionParity, ResNet50MatchesTorchvision) {
  auto model = load_reference("resnet50");
  check_forward(model, read_state_dict(file("resnet50_io.pt")));
}

TEST_F(TorchvisionParity, StateDictNamesMatchBothWays) {
  for (const std::string arch : {"densenet121", "resnet50"}) {
    const StateDict sd = read_state_dict(file(arch + "_sd.pt"));
    ModelConfig cfg;
    cfg.arch = arch;
    cfg.num_classes = 1000;
    auto model = make_model(cfg);
    const auto ours = module_tensors(*model);
    EXPECT_EQ(ours.size(), sd.size()) << arch;
    for (const auto& [name, t] : ours) {
      auto it = sd.find(name);
      ASSERT_NE(it, sd.end()) << arch << ": torchvision has no " << name;
      EXPECT_EQ(it->second.sizes(), t.sizes()) << name;
      EXPECT_EQ(it->second.scalar_type(), t.scalar_type()) << name;
    }
  }
}

TEST_F(TorchvisionParity, ExportIsReadByTorchLoadAndTorchvision) {
  std::vector<std::string> specs;
  for (const std::string arch : {"densenet121", "resnet50"}) {
    auto model = load_reference(arch);
    const std::string exported = out(arch + "_export.pt");
    write_state_dict(exported, module_tensors(*model));
    specs.push_back("compare:" + exported + ":" + file(arch + "_sd.pt"));
    specs.push_back("load:" + arch + ":" + exported);
  }
  // A negative control: the Python comparer must fail on one changed weight.
  auto model = load_reference("densenet121");
  auto tensors = module_tensors(*model);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : tensors)
      if (name == "features.denseblock2.denselayer3.conv1.weight") t.view(-1)[5] += 1e-3;
  }
  write_state_dict(out("changed.pt"), tensors);
  specs.push_back("compare:" + out("changed.pt") + ":" + file("densenet121_sd.pt"));

  std::string args = "check " + out("results.json");
  for (const auto& s : specs) args += " " + s;
  ASSERT_EQ(run_python(args), 0);
  std::ifstream in(out("results.json"));
  const auto codes = nlohmann::json::parse(in).get<std::vector<int>>();
  EXPECT_EQ(codes, (std::vector<int>{0, 0, 0, 0, 1})) << "compare d121, load d121, compare r50, load r50, changed";
}

TEST_F(TorchvisionParity, ImportsTorchxrayvisionStyleDenseNet) {
  // module.-prefixed keys, a 1-channel conv0, op_threshs and an 18-way classifier.
  ModelConfig cfg;
  cfg.arch = "densenet121";
  cfg.num_classes = 2;
  torch::manual_seed(0);
  auto model = make_model(cfg);
  const ImportReport rep = import_backbone(*model, cfg, read_state_dict(file("xrv_sd.pt")), "xrv_sd.pt");
  EXPECT_TRUE(rep.missing.empty());
  EXPECT_TRUE(rep.complete());
  const auto& ig = rep.ignored;
  EXPECT_NE(std::find(ig.begin(), ig.end(), "module.op_threshs"), ig.end());
  EXPECT_NE(std::find(ig.begin(), ig.end(), "module.classifier.weight"), ig.end());
  EXPECT_EQ(ig.size(), 3u);
  ASSERT_EQ(rep.notes.size(), 1u);
  EXPECT_EQ(rep.loaded.size(), module_tensors(*model).size() - 2);  // all but classifier
  model->eval();
  const StateDict io = read_state_dict(file("xrv_io.pt"));
  torch::NoGradGuard no_grad;
  const auto gray = io.at("input");
  expect_close(model->features(gray.expand({-1, 3, -1, -1})), io.at("features"), 1e-4, "xrv features");
}

TEST_F(TorchvisionParity, ImportsResNetIntoDeepCTNetWithDataParallelPrefix) {
  StateDict sd;
  for (const auto& [k, v] : read_state_dict(file("resnet50_sd.pt"))) sd["module." + k] = v;
  ModelConfig cfg;
  cfg.arch = "deep-ct-net";
  cfg.backbone = "resnet50";
  cfg.input_size = 64;
  auto model = make_model(cfg);
  const ImportReport rep = import_backbone(*model, cfg, sd, "resnet50_sd.pt");
  EXPECT_TRUE(rep.missing.empty());
  EXPECT_EQ(rep.ignored, (std::vector<std::string>{"module.fc.bias", "module.fc.weight"}));
  EXPECT_EQ(rep.loaded.size(), sd.size() - 2);
  for (const auto& [name, t] : module_tensors(*model)) {
    if (name.rfind("backbone.", 0) != 0) continue;
    EXPECT_TRUE(torch::equal(t, sd.at("module." + name.substr(9)))) << name;
  }
}

TEST_F(TorchvisionParity, ImportIntoTheWrongArchitectureFails) {
  ModelConfig cfg;
  cfg.arch = "densenet169";
  auto model = make_model(cfg);
  // densenet121 keys exist in densenet169 but block 3 has other shapes -> a named error.
  try {
    import_backbone(*model, cfg, read_state_dict(file("densenet121_sd.pt")), "d121.pt");
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("features."), std::string::npos) << e.what();
  }
  cfg.arch = "densenet121";
  auto d121 = make_model(cfg);
  EXPECT_THROW(import_backbone(*d121, cfg, read_state_dict(file("resnet50_sd.pt")), "r50.pt"), FileError);
}

TEST_F(TorchvisionParity, LegacyFormatGivesAClearError) {
  try {
    read_state_dict(file("legacy.pt"));
    FAIL() << "no error";
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("legacy"), std::string::npos) << e.what();
  }
}

TEST(StateDictFiles, ForeignFilesGiveFileErrors) {
  test::TempDir dir;
  const std::string junk = dir.file("junk.pt");
  std::ofstream(junk) << "this is not a torch file";
  EXPECT_THROW(read_state_dict(junk), FileError);
  EXPECT_THROW(read_state_dict(dir.file("absent.pt")), FileError);
  const std::string zip = dir.file("broken.pt");
  std::ofstream(zip) << "PK\x03\x04 truncated zip";
  EXPECT_THROW(read_state_dict(zip), FileError);
}

TEST(StateDictFiles, WriteReadRoundTrip) {
  test::TempDir dir;
  torch::manual_seed(3);
  StateDict sd{{"a.weight", torch::randn({3, 4})},
               {"b.num_batches_tracked", torch::tensor(int64_t(7))},
               {"c.half", torch::randn({5}).to(torch::kFloat16)}};
  write_state_dict(dir.file("x.pt"), sd);
  const StateDict back = read_state_dict(dir.file("x.pt"));
  ASSERT_EQ(back.size(), sd.size());
  for (const auto& [k, v] : sd) {
    ASSERT_TRUE(back.count(k)) << k;
    EXPECT_EQ(back.at(k).scalar_type(), v.scalar_type()) << k;
    EXPECT_TRUE(torch::equal(back.at(k), v)) << k;
  }
}

TEST(StateDictFiles, NormalizesOldTorchvisionAndDataParallelKeys) {
  EXPECT_EQ(normalize_torchvision_key("features.denseblock1.denselayer1.norm.1.weight"),
            "features.denseblock1.denselayer1.norm1.weight");
  EXPECT_EQ(normalize_torchvision_key("module.features.denseblock4.denselayer16.conv.2.weight"),
            "features.denseblock4.denselayer16.conv2.weight");
  EXPECT_EQ(normalize_torchvision_key("module.layer1.0.bn1.running_var"), "layer1.0.bn1.running_var");
  EXPECT_EQ(normalize_torchvision_key("features.transition1.norm.weight"), "features.transition1.norm.weight");
}

}  // namespace
}  // namespace covscreen
