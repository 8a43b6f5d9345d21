// covscreen serve: the screening REST API and web page (library: serve/server.h).
#ifdef COVSCREEN_HAVE_SERVE
#include <pthread.h>
#include <signal.h>
#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "command.h"
#include "covscreen/core/error.h"
#include "covscreen/core/paths.h"
#include "covscreen/serve/server.h"

namespace covscreen::app {
namespace {

struct ServeArgs {
  ServeOptions opt;
  std::string model;
  double max_body_mb = 64, max_mpx = 64;
  int threads = 0;
};

void run(ServeArgs& a) {
  // SIGINT/SIGTERM end the server cleanly: blocked before any thread starts (threads inherit
  // the mask), then awaited by one thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  const std::string model = a.model.empty() ? default_model_path() : a.model;
  if (!std::filesystem::exists(model))
    throw UsageError("model file " + model + " not found (pass --model M or set COVSCREEN_MODEL)");
  if (a.max_body_mb <= 0 || a.max_mpx <= 0) throw UsageError("--max-body-mb and --max-mpx must be positive");
  a.opt.max_body_bytes = static_cast<int64_t>(a.max_body_mb * 1024 * 1024);
  a.opt.max_pixels = static_cast<int64_t>(a.max_mpx * 1024 * 1024);
  a.opt.validate();
  if (a.threads > 0) torch::set_num_threads(a.threads);

  ScreenServer server(load_checkpoint(model), model_id_for_file(model), a.opt);
  const int port = server.bind();
  std::thread waiter([&server, set] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGINT || sig == SIGTERM) server.stop();
  });
  std::cerr << "covscreen serve: model " << server.model_id() << " on http://" << a.opt.host << ":" << port << "/ ("
            << (a.opt.token.empty() ? "no token" : "bearer token required") << ", queue " << a.opt.queue_capacity
            << ", batch " << a.opt.batch << "). Research use only, not a medical device. Ctrl-C stops.\n";
  if (a.opt.host != "127.0.0.1" && a.opt.host != "localhost" && a.opt.host != "::1" && a.opt.token.empty())
    std::cerr << "covscreen serve: warning: listening beyond loopback without --token\n";
  server.listen();
  // listen() returned: stop() ran (signal) or the socket failed; wake the waiter if needed.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  server.stop();
  std::cerr << "covscreen serve: stopped after " << server.metrics().requests_total() << " requests\n";
}

const CommandRegistrar serve_command(60, [](CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* c = app.add_subcommand("serve", "Serve screening over HTTP: REST API (/v1/screen) and a web page");
  c->add_option("--model", a->model, "Checkpoint (default: the shipped model)");
  c->add_option("--host", a->opt.host, "Address to bind (loopback unless you mean otherwise)")->capture_default_str();
  c->add_option("--port", a->opt.port, "TCP port (0 = any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  c->add_option("--token", a->opt.token, "Require 'Authorization: Bearer <token>' on /v1/* and /metrics");
  c->add_option("--max-body-mb", a->max_body_mb, "Largest request body, MiB (413 above)")->capture_default_str();
  c->add_option("--max-mpx", a->max_mpx, "Largest image, mebipixels (decompression bombs: 413)")->capture_default_str();
  c->add_option("--max-files", a->opt.max_files, "Most files in one multipart request")->capture_default_str();
  c->add_option("--queue", a->opt.queue_capacity, "Images waiting for the model (503 when full)")
      ->capture_default_str();
  c->add_option("--batch", a->opt.batch, "Largest micro-batch across requests")->capture_default_str();
  c->add_option("--workers", a->opt.workers,
                "Model workers sharing the CPUs (0 = one per CPU in bf16, one per two in fp32)")
      ->capture_default_str();
  c->add_option("--batch-wait-ms", a->opt.batch_wait_ms, "Wait this long to fill a batch")->capture_default_str();
  c->add_option("--http-threads", a->opt.http_threads, "Connections served at once")->capture_default_str();
  c->add_option("--timeout", a->opt.request_timeout_s, "Seconds a request may wait for the model (504)")
      ->capture_default_str();
  c->add_option("--threads", a->threads, "Intra-op threads for the model (0 = default)");
  add_enum_option(c, "--device", a->opt.inference.device, device_names(), "Device");
  add_enum_option(c, "--precision", a->opt.inference.precision, precision_names(), "Precision");
  add_tta_option(c, &a->opt.inference);
  add_input_check_option(c, &a->opt.input_check);
  c->add_flag("!--no-log", a->opt.log_requests, "Do not log one line per request");
  c->callback([a] { run(*a); });
});

}  // namespace
}  // namespace covscreen::app
#endif  // COVSCREEN_HAVE_SERVE
