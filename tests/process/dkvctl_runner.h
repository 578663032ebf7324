// Runs the real ./build/dkvctl (or any program) for process tests: fork/exec with the given
// arguments and environment, stdout and stderr captured, the exit code
// returned. A run that outlives its timeout is SIGKILLed (exit code -1).
// Threading: any thread; each call is independent.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace dkv::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal if killed by one; -1 on timeout or exec failure.
  std::string out;
  std::string err;
};

// Path of the dkvctl binary under test (set by CMake).
std::string dkvctl_binary();

// Runs `binary` with `args`, `stdin_text` on its standard input; its
// environment holds only `env` (and PATH).
CommandResult run_program(const std::string& binary, const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env,
                          const std::string& stdin_text,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60),
                          std::chrono::milliseconds quiet_stop = std::chrono::milliseconds(0));
// quiet_stop > 0: a program that runs until stopped (a watch) is also
// SIGKILLed (exit code -1) once it has written to stdout and then written
// nothing more for this long.

// Runs dkvctl with `args`; its environment holds only `env` (and PATH).
CommandResult run_dkvctl(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace dkv::testing
