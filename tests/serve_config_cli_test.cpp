// `covscreen --config FILE serve|pacs`: the configuration file of the systemd units
// (packaging/covscreen.conf), one [section] per subcommand. Runs the built binary.
#include <fstream>
#include <regex>
#include <sstream>

#include "cli_util.h"
#include "test_util.h"

namespace covscreen {
namespace {

class ConfigCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_cli()) COVSCREEN_SKIP() << "covscreen CLI not built in " << test::bin_dir();
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.file(name)) << text;
    return dir_.file(name);
  }
  test::CliRun run(const std::string& args) { return test::run_cli(args, dir_); }
  test::TempDir dir_;
};

// The shipped file parses for both services as it is, and with every commented default turned on
// (`#key = value` lines): its keys stay the options' names.
TEST_F(ConfigCli, TheShippedFileParsesWithEveryDefault) {
  const std::string shipped = std::string(COVSCREEN_SOURCE_DIR) + "/packaging/covscreen.conf";
  std::stringstream all;
  std::ifstream in(shipped);
  ASSERT_TRUE(in) << shipped;
  int defaults = 0;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, std::regex("#[a-z-]+ = .*"))) {
      line = line.substr(1);
      ++defaults;
    }
    all << line << "\n";
  }
  EXPECT_GE(defaults, 15);
  const std::string every = write("every.conf", all.str());
  for (const std::string& file : {shipped, every}) {
    for (const char* cmd : {"serve", "pacs"}) {
      const auto r = run("--config '" + file + "' " + cmd + " --help");
      EXPECT_EQ(r.rc, 0) << file << " " << cmd << ": " << r.err;
    }
  }
}

TEST_F(ConfigCli, SectionsReachTheirSubcommandAndTheCommandLineWins) {
  const std::string conf = write("c.conf",
                                 "# comment\n[serve]\nmodel = \"/nonexistent/serve.ckpt\"\nport = 0\n\n"
                                 "[pacs]\nurl = \"http://127.0.0.1:9/dicom-web\"\nmodel = /nonexistent/pacs.ckpt\n");
  auto r = run("--config '" + conf + "' serve");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("/nonexistent/serve.ckpt not found"), std::string::npos) << r.err;
  r = run("--config '" + conf + "' pacs --once");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("/nonexistent/pacs.ckpt not found"), std::string::npos) << r.err;
  r = run("--config '" + conf + "' serve --model /nonexistent/cli.ckpt");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("/nonexistent/cli.ckpt not found"), std::string::npos) << r.err;
}

TEST_F(ConfigCli, UnknownKeysAndMissingFilesAreErrors) {
  auto r = run("--config '" + write("typo.conf", "[serve]\nprot = 8081\n") + "' serve --help");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("prot"), std::string::npos) << r.err;
  r = run("--config '" + write("top.conf", "port = 8081\n") + "' serve --help");
  EXPECT_EQ(r.rc, 1);
  // (CLI11 checks the file's presence after --help: run a command that fails fast without it.)
  r = run("--config '" + dir_.file("missing.conf") +
          "' pacs --once --url http://127.0.0.1:9 --model /nonexistent/x.ckpt");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("missing.conf"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("/nonexistent/x.ckpt"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace covscreen
