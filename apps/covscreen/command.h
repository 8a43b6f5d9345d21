#pragma once
// Subcommands register themselves: each apps/covscreen/cmd_*.cpp defines a static
// CommandRegistrar that adds its CLI11 subcommand; main.cpp stays fixed.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace covscreen::app {

using CommandAdder = std::function<void(CLI::App&)>;
std::vector<std::pair<int, CommandAdder>>& command_adders();  // (order, adder)

struct CommandRegistrar {
  CommandRegistrar(int order, CommandAdder add) { command_adders().emplace_back(order, std::move(add)); }
};

// Exit codes: 0 ok, 1 usage/model/fatal error, 2 some inputs failed (the rest was done).
inline constexpr int kExitOk = 0, kExitError = 1, kExitPartial = 2;

// "a,b,,c" -> {"a", "b", "c"}: a comma-separated option value, empty items dropped.
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return out;
}

// Thrown by a subcommand callback to end with an exit code without an error message.
struct ExitCode {
  int code;
};

}  // namespace covscreen::app
