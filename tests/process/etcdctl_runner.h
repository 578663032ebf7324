// Debian's etcdctl 3.4 (/usr/bin/etcdctl, ETCDCTL_API=3) for process tests:
// a command run to its end with its output captured (through run_program),
// or started in the background in its own process group with its output in
// a file, for the commands that run until stopped (watch, lock, elect,
// lease keep-alive).
// Threading: any thread; each call is independent.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "dkvctl_runner.h"

namespace dkv::testing {

inline constexpr char kEtcdctl[] = "/usr/bin/etcdctl";

bool etcdctl_installed();

// Runs `etcdctl --endpoints=ENDPOINTS --dial-timeout=5s ARGS...` (60 s at
// most), `stdin_text` on its standard input.
CommandResult run_etcdctl(const std::string& endpoints, const std::vector<std::string>& args,
                          const std::string& stdin_text = "");

// Starts the same in the background, in a new process group led by etcdctl
// itself (kill(-pid, ...) reaches what it runs), stdout and stderr
// appended to `out_path`. The pid, or -1.
pid_t spawn_etcdctl(const std::string& endpoints, const std::vector<std::string>& args,
                    const std::string& out_path);

// SIGKILLs the process group `pid` leads and reaps its leader.
void kill_background(pid_t pid);

}  // namespace dkv::testing
