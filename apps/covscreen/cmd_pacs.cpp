// covscreen pacs: screen the studies of a DICOMweb archive (QIDO-RS, WADO-RS) and store the results
// back into it as DICOM SR + Secondary Capture (STOW-RS). Library: pacs/monitor.h.
#ifdef COVSCREEN_HAVE_SERVE
#include <pthread.h>
#include <signal.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/pacs/monitor.h"

namespace covscreen::app {
namespace {

// The archive stayed unreachable (--once): nothing is wrong with the studies, try again later.
inline constexpr int kExitUnreachable = 3;

enum class PacsFormat { kTable, kJson };
const EnumNames<PacsFormat>& pacs_format_names() {
  static const EnumNames<PacsFormat> n{"format", {{PacsFormat::kTable, "table"}, {PacsFormat::kJson, "json"}}};
  return n;
}

struct PacsArgs {
  PacsOptions opt;
  std::string model;
  PacsFormat format = PacsFormat::kTable;
  int threads = 0;
};

void print_row(PacsFormat f, const PacsStudyOutcome& o) {
  if (f == PacsFormat::kJson) {
    std::printf("%s\n", to_json(o).dump().c_str());
  } else if (o.status == "screened") {
    std::printf("%s  screened  P(covid) %.3f  %s  SR %s%s\n", o.study_uid.c_str(), o.covid_probability,
                o.positive ? "covid" : "not-covid", o.sr_uid.c_str(),
                o.sc_uid.empty() ? "" : ("  SC " + o.sc_uid).c_str());
  } else if (o.status == "failed") {
    std::printf("%s  failed  %s\n", o.study_uid.c_str(), o.reason.c_str());
  } else {
    std::printf("%s  not-screened  %s\n", o.study_uid.c_str(), o.reason.c_str());
  }
  std::fflush(stdout);
}

void run(PacsArgs& a) {
  // SIGINT/SIGTERM stop the monitor cleanly: blocked before any thread starts (threads inherit the
  // mask), then awaited by one thread. A second signal ends the process at once (the state file is
  // always whole: it is replaced atomically).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  a.opt.model_path = a.model.empty() ? default_model_path() : a.model;
  if (!std::filesystem::exists(a.opt.model_path))
    throw UsageError("model file " + a.opt.model_path + " not found (pass --model M or set COVSCREEN_MODEL)");
  if (a.opt.state_path.empty()) {
    // systemd's StateDirectory= sets STATE_DIRECTORY (packaging/covscreen-pacs.service).
    const char* dir = std::getenv("STATE_DIRECTORY");
    const std::string name = "covscreen-pacs-" + std::filesystem::path(a.opt.model_path).stem().string() + ".json";
    a.opt.state_path = dir && *dir ? (std::filesystem::path(dir) / name).string() : name;
  }
  if (a.threads > 0) torch::set_num_threads(a.threads);

  PacsMonitor monitor(a.opt, std::cerr);
  std::atomic<bool> done{false};
  std::thread waiter([&monitor, &done, set] {
    for (int signals = 0;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0 || done) return;
      if (++signals > 1) {
        std::fprintf(stderr, "covscreen pacs: second signal, quitting now\n");
        std::_Exit(130);
      }
      std::fprintf(stderr, "covscreen pacs: %s: stopping after the current step (again to quit now)\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      monitor.request_stop();
    }
  });
  auto end_waiter = [&] {
    done = true;
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  };
  PacsMonitor::Summary sum;
  try {
    sum = monitor.run([&](const PacsStudyOutcome& o) { print_row(a.format, o); });
  } catch (const ArchiveUnreachable& e) {
    end_waiter();
    std::cerr << "covscreen pacs: " << e.what() << "\n";
    throw ExitCode{kExitUnreachable};
  } catch (...) {
    end_waiter();
    throw;
  }
  end_waiter();
  std::cerr << "covscreen pacs: " << sum.screened << " screened, " << sum.no_series << " without a screenable series, "
            << sum.failed << " failed" << (sum.stopped ? " (stopped)" : "")
            << ". Research use only, not a medical device.\n";
  if (sum.failed) throw ExitCode{kExitPartial};
}

const CommandRegistrar pacs_command(65, [](CLI::App& app) {
  auto a = std::make_shared<PacsArgs>();
  a->opt.pipeline.inference.batch_size = 4;
  a->opt.pipeline.inference.device = DeviceKind::kCpu;
  auto* c = app.add_subcommand(
      "pacs",
      "Screen the studies of a DICOMweb archive (PACS) and store the results back (DICOM SR + Secondary Capture)");
  c->footer(
      "Polls the archive (QIDO-RS) for studies not in the state file, picks each study's series with the rules of\n"
      "`screen --by study` from its metadata (WADO-RS), downloads only that series, screens it and stores a DICOM\n"
      "SR and a Secondary Capture with the CAM overlay into the same study (STOW-RS). Nothing is sent anywhere but\n"
      "--url. Results carry deterministic UIDs (same study, series and model: same UIDs), so storing them again\n"
      "never duplicates them.\n"
      "A study that fails is retried on later polls (--max-failures); while the archive is unreachable the request\n"
      "is retried after 1, 2, 4 ... s (at most 60 s). SIGINT/SIGTERM stop after the current step.\n"
      "Exit status: 0 every study of this run was screened or had nothing to screen; 2 some studies failed (the\n"
      "others were done); 3 --once and the archive stayed unreachable (--retries); 1 usage, model or state error.\n"
      "Research use only, not a medical device.");
  c->add_option("--url", a->opt.archive.url, "DICOMweb base URL, e.g. http://127.0.0.1:8042/dicom-web")->required();
  c->add_option("--token", a->opt.archive.token, "Send 'Authorization: Bearer <token>'");
  c->add_option("--model", a->model, "Checkpoint (default: the shipped CT model)");
  c->add_option("--rules", a->opt.rules_path, "Study rules JSON (screen/study.h; default: built-in rules)");
  add_enum_option(c, "--kind", a->opt.kind, study_kind_names(),
                  "Studies to screen (auto: the rules' kind, else from the model)");
  c->add_option("--state", a->opt.state_path,
                "State file: studies done, failed or without a screenable series (default: "
                "covscreen-pacs-<model>.json in $STATE_DIRECTORY when systemd sets it, else in the current folder)");
  c->add_flag("--once", a->opt.once, "Poll once, screen what is new, then exit");
  c->add_option("--since", a->opt.since, "Only studies from this date on (YYYYMMDD)");
  c->add_option("--poll", a->opt.poll_s, "Seconds between polls")->capture_default_str();
  c->add_option("--work-dir", a->opt.work_dir, "Folder for the temporary downloads (default: the system's)");
  c->add_option("--max-failures", a->opt.max_failures, "Tries per failing study before it is given up")
      ->capture_default_str();
  c->add_option("--retries", a->opt.max_tries, "With --once: tries of a request while the archive is unreachable")
      ->capture_default_str();
  c->add_option("--timeout", a->opt.archive.read_timeout_s, "Seconds to wait for the archive to answer")
      ->capture_default_str();
  add_enum_option(c, "--format", a->format, pacs_format_names(), "Summary on stdout (json: one object per study)");
  c->add_option("--batch", a->opt.pipeline.inference.batch_size, "Batch size per worker")->capture_default_str();
  c->add_option("--workers", a->opt.pipeline.workers, "Parallel batch workers (0 = default)")->capture_default_str();
  add_enum_option(c, "--device", a->opt.pipeline.inference.device, device_names(), "Device");
  add_enum_option(c, "--precision", a->opt.pipeline.inference.precision, precision_names(), "Precision");
  add_tta_option(c, &a->opt.pipeline.inference);
  add_input_check_option(c, &a->opt.pipeline.input_check);
  c->add_option("--threads", a->threads, "Intra-op threads (0 = usable CPUs)");
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
#endif  // COVSCREEN_HAVE_SERVE
