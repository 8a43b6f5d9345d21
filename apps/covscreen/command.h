#pragma once
// Subcommands register themselves: each apps/covscreen/cmd_*.cpp defines a static
// CommandRegistrar that adds its CLI11 subcommand; main.cpp stays fixed.
#include <functional>
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

// Thrown by a subcommand callback to end with an exit code without an error message.
struct ExitCode {
  int code;
};

}  // namespace covscreen::app
