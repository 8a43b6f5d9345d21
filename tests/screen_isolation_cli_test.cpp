// `covscreen screen` with decoders that abort, segfault, hang and run out of memory on chosen
// files (the decoder's fault-injection hook, COVSCREEN_DECODER_FAULTS): each of those files gets
// its error naming it, every other file is screened, the process survives and exits 2.
#include <gtest/gtest.h>

#include <map>
#include <opencv2/imgcodecs.hpp>

#include "cli_util.h"
#include "decoder_faults.h"

namespace covscreen {
namespace {

namespace fs = std::filesystem;

TEST(ScreenIsolationCli, DecoderFaultsCostOneFileEach) {
  if (!test::have_cli()) COVSCREEN_SKIP() << "the covscreen binary is not built";
  test::TempDir dir;
  const fs::path in = dir.path() / "in";
  fs::create_directories(in);
  const auto faults = test::decoder_faults("3");
  std::map<std::string, std::string> says;  // file -> what its error must say
  std::vector<std::string> names;
  for (const auto& [kind, text] : faults) {
    names.push_back("fault-" + kind + ".png");
    says[names.back()] = text;
  }
  for (int i = 0; i < 5; ++i) names.push_back("good-" + std::to_string(i) + ".png");
  for (size_t i = 0; i < names.size(); ++i) {
    cv::Mat m(72, 64, CV_8UC1);
    cv::randu(m, 0, 255);
    cv::imwrite((in / names[i]).string(), m);
  }
  const std::string model = test::small_checkpoint(dir, 3);
  const test::CliRun r =
      test::run_cli("screen --model '" + model + "' --format json --workers 2 --batch 2 '" + in.string() + "'", dir,
                    "COVSCREEN_DECODER_FAULTS='" + test::decoder_faults_env(faults) +
                        "' COVSCREEN_DECODE_TIMEOUT_S=3 COVSCREEN_DECODER_MEMORY_MB=1024 timeout -k 10 240");
  ASSERT_EQ(r.rc, 2) << "expected 2 (some files failed); stderr:\n" << r.err;
  const nlohmann::json items = test::parse_json_lines(r.out);
  ASSERT_EQ(items.size(), names.size()) << r.out;
  for (const auto& it : items) {
    const std::string name = fs::path(it["file"].get<std::string>()).filename().string();
    SCOPED_TRACE(name);
    if (says.count(name)) {
      EXPECT_FALSE(it["ok"].get<bool>());
      EXPECT_NE(it.value("error", "").find(says.at(name)), std::string::npos) << it.dump();
      EXPECT_NE(r.err.find(name), std::string::npos) << "stderr must name " << name;
    } else {
      EXPECT_TRUE(it["ok"].get<bool>()) << it.dump();
    }
  }
  EXPECT_NE(r.err.find("5 screened"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace covscreen
