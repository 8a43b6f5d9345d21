#pragma once
// A real PACS for tests: Debian's Orthanc (/usr/sbin/Orthanc) with its DICOMweb plugin, started on
// 127.0.0.1 with a temporary configuration (free HTTP port, DICOM port off, no remote access, no
// authentication, storage in a folder the test owns) and stopped with SIGTERM, then SIGKILL.
// It can be stopped and started again on the same storage and port (an archive going down and
// coming back).
//
//   TEST_F(OrthancTest, Something) {          // skips when Orthanc or the plugin is absent
//     start_orthanc();                        // orthanc().dicomweb() == "http://127.0.0.1:<port>/dicom-web"
//     orthanc().stop(); orthanc().start();    // same storage, same port
//   }
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace covscreen::test {

inline const char* kOrthancBinary = "/usr/sbin/Orthanc";
inline const char* kOrthancDicomWebPlugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

// Why Orthanc cannot be used here ("" when it can).
inline std::string orthanc_missing() {
  if (!fs::exists(kOrthancBinary)) return std::string(kOrthancBinary) + " not found (apt-get install orthanc)";
  if (!fs::exists(kOrthancDicomWebPlugin))
    return std::string(kOrthancDicomWebPlugin) + " not found (apt-get install orthanc-dicomweb)";
  return "";
}

// A TCP port that was free a moment ago on 127.0.0.1 (bound to port 0, then released).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

struct OrthancOptions {
  bool overwrite_instances = false;  // Orthanc's "OverwriteInstances" (default false, as shipped)
};

class Orthanc {
 public:
  // `dir` holds the configuration, the log and the storage (kept across stop()/start()).
  explicit Orthanc(fs::path dir, OrthancOptions opt = {}) : dir_(std::move(dir)), opt_(opt) {
    fs::create_directories(dir_ / "storage");
  }
  ~Orthanc() { stop(); }
  Orthanc(const Orthanc&) = delete;
  Orthanc& operator=(const Orthanc&) = delete;

  // Starts Orthanc and waits until GET /system answers. The first start picks a free port; later
  // starts reuse it. Returns "" or what went wrong (with the end of Orthanc's log).
  std::string start(double timeout_s = 60) {
    if (running()) return "";
    if (port_ == 0) port_ = free_port();
    if (port_ == 0) return "no free TCP port";
    write_config();
    const std::string config = (dir_ / "orthanc.json").string(), log = log_path();
    pid_ = ::fork();
    if (pid_ < 0) return "fork failed";
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execl(kOrthancBinary, "Orthanc", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return "Orthanc exited at start; log:\n" + log_tail();
      }
      httplib::Client c("127.0.0.1", port_);
      c.set_connection_timeout(1, 0);
      c.set_read_timeout(5, 0);
      auto r = c.Get("/system");
      if (r && r->status == 200) return "";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop();
    return "Orthanc did not answer on port " + std::to_string(port_) + " within " + std::to_string(int(timeout_s)) +
           " s; log:\n" + log_tail();
  }

  // SIGTERM, then SIGKILL after `grace_s`. Idempotent.
  void stop(double grace_s = 15) {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
    int st = 0;
    while (::waitpid(pid_, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string dicomweb() const { return url() + "/dicom-web"; }
  std::string log_path() const { return (dir_ / "orthanc.log").string(); }
  std::string log_tail(size_t n = 3000) const {
    std::ifstream f(log_path(), std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    const std::string all = s.str();
    return all.size() > n ? all.substr(all.size() - n) : all;
  }

  // Orthanc's own REST API (test checks only; covscreen speaks DICOMweb).
  nlohmann::json rest(const std::string& path) const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    auto r = c.Get(path.c_str());
    if (!r || r->status != 200) return nullptr;
    return nlohmann::json::parse(r->body, nullptr, false);
  }
  int count_instances() const {
    const auto s = rest("/statistics");
    return s.is_object() ? s.value("CountInstances", -1) : -1;
  }

 private:
  void write_config() const {
    const nlohmann::json cfg = {
        {"Name", "covscreen-test"},
        {"HttpPort", port_},
        {"DicomServerEnabled", false},
        {"RemoteAccessAllowed", false},
        {"AuthenticationEnabled", false},
        {"StorageDirectory", (dir_ / "storage").string()},
        {"IndexDirectory", (dir_ / "storage").string()},
        {"OverwriteInstances", opt_.overwrite_instances},
        {"Plugins", {kOrthancDicomWebPlugin}},
        {"DicomWeb", {{"Enable", true}, {"Root", "/dicom-web/"}}},
    };
    std::ofstream(dir_ / "orthanc.json") << cfg.dump(1);
  }

  fs::path dir_;
  OrthancOptions opt_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// The studies tests/python/make_pacs_studies.py writes (real CT from COVID-CT-MD, a two-view X-ray,
// a corrupt CT study), generated once per test process into a temporary folder. `missing` says why
// they could not be (no python3/pydicom, no data sets); `index` is its studies.json.
struct PacsStudies {
  std::string dir, missing;
  nlohmann::json index;
  std::vector<std::string> files(const std::string& study) const {
    return index.at(study).at("files").get<std::vector<std::string>>();
  }
  std::string uid(const std::string& study) const { return index.at(study).at("study_uid").get<std::string>(); }
};

inline const PacsStudies& pacs_studies() {
  static const TempDir dir;
  static const PacsStudies studies = [] {
    PacsStudies s;
    s.dir = dir.file("studies");
    const std::string py = debian_python();
    for (const char* rel : {"COVID-CT-MD", "covid-chestxray-dataset"})
      if (dataset(rel).empty())
        s.missing += std::string(s.missing.empty() ? "" : "; ") + "data set '" + rel + "' not found under " +
                     datasets_root() + " (set COVSCREEN_DATA)";
    if (py.empty()) s.missing = "/usr/bin/python3 not found";
    if (!s.missing.empty()) return s;
    if (std::system((py + " -c 'import pydicom, numpy, PIL' 2>/dev/null").c_str()) != 0) {
      s.missing = "python3 lacks pydicom, numpy or PIL (apt-get install python3-pydicom python3-pil)";
      return s;
    }
    const std::string cmd = py + " '" + std::string(COVSCREEN_SOURCE_DIR) + "/tests/python/make_pacs_studies.py' '" +
                            datasets_root() + "' '" + COVSCREEN_SOURCE_DIR + "' '" + s.dir + "' > '" +
                            dir.file("make.log") + "' 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream f(dir.file("make.log"));
      std::stringstream log;
      log << f.rdbuf();
      s.missing = "make_pacs_studies.py failed: " + log.str();
      return s;
    }
    std::ifstream f(s.dir + "/studies.json");
    s.index = nlohmann::json::parse(f);
    return s;
  }();
  return studies;
}

// A test fixture owning one Orthanc in a temporary folder: SetUp skips when Orthanc or its DICOMweb
// plugin is absent, TearDown stops it.
class OrthancTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = orthanc_missing();
    if (!missing.empty()) COVSCREEN_SKIP() << "no PACS to test against: " << missing;
  }
  void TearDown() override {
    if (orthanc_) orthanc_->stop();
  }
  // Creates (once) and starts Orthanc; fails the test when it does not come up.
  void start_orthanc(OrthancOptions opt = {}) {
    if (!orthanc_) orthanc_ = std::make_unique<Orthanc>(dir_.path() / "orthanc", opt);
    const std::string problem = orthanc_->start();
    ASSERT_EQ(problem, "");
  }
  Orthanc& orthanc() { return *orthanc_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::unique_ptr<Orthanc> orthanc_;
};

}  // namespace covscreen::test
