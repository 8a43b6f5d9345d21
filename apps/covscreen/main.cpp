// covscreen: screen chest CT slices and chest X-rays for COVID-19. Research use, not a medical device.
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "command.h"
#include "covscreen/core/cpu.h"
#include "covscreen/core/error.h"

namespace covscreen::app {
std::vector<std::pair<int, CommandAdder>>& command_adders() {
  static std::vector<std::pair<int, CommandAdder>> adders;
  return adders;
}
}  // namespace covscreen::app

int main(int argc, char** argv) {
  using namespace covscreen;
  CLI::App app{"covscreen " COVSCREEN_VERSION
               ": screen chest CT slices and X-rays for COVID-19 (research use only, not a medical device)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", app::version_text, "Print the version and the installed models, then exit");
  // Options from a file: one [section] per subcommand, keys are the long option names
  // (`port = 8080` under [serve]). The systemd units run `covscreen --config
  // /etc/covscreen/covscreen.conf serve|pacs` (packaging/covscreen.conf). Unknown keys are errors.
  app.set_config("--config", "", "Read options from this file ([serve], [pacs], ... sections; TOML/INI)");
  app.allow_config_extras(CLI::config_extras_mode::error);
  auto& adders = app::command_adders();
  std::sort(adders.begin(), adders.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [order, add] : adders) add(app);
  // Every usable CPU for intra-op work unless OMP_NUM_THREADS says otherwise (commands' --threads
  // override both).
  if (!std::getenv("OMP_NUM_THREADS")) torch::set_num_threads(usable_cpus());
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : app::kExitError;
  } catch (const app::ExitCode& e) {
    return e.code;
  } catch (const Error& e) {
    std::cerr << "covscreen: error: " << e.what() << "\n";
    return app::kExitError;
  } catch (const c10::Error& e) {
    std::cerr << "covscreen: error (torch): " << e.what_without_backtrace() << "\n";
    return app::kExitError;
  } catch (const std::exception& e) {
    std::cerr << "covscreen: error: " << e.what() << "\n";
    return app::kExitError;
  }
  return 0;
}
