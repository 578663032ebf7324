#include "etcdctl_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dkv::testing {
namespace {

std::vector<std::string> etcdctl_args(const std::string& endpoints,
                                      const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--endpoints=" + endpoints, "--dial-timeout=5s"};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

}  // namespace

bool etcdctl_installed() { return ::access(kEtcdctl, X_OK) == 0; }

CommandResult run_etcdctl(const std::string& endpoints, const std::vector<std::string>& args,
                          const std::string& stdin_text) {
  return run_program(kEtcdctl, etcdctl_args(endpoints, args), {{"ETCDCTL_API", "3"}}, stdin_text);
}

pid_t spawn_etcdctl(const std::string& endpoints, const std::vector<std::string>& args,
                    const std::string& out_path) {
  std::vector<std::string> strings = etcdctl_args(endpoints, args);
  strings.insert(strings.begin(), kEtcdctl);
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string api = "ETCDCTL_API=3", path = "PATH=/usr/bin:/bin";
  char* envp[] = {api.data(), path.data(), nullptr};
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    ::execve(kEtcdctl, argv.data(), envp);
    ::_exit(127);
  }
  if (pid > 0) ::setpgid(pid, pid);  // Here too: a kill(-pid) right after cannot miss.
  ::close(out);
  return pid;
}

void kill_background(pid_t pid) {
  if (pid <= 0) return;
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace dkv::testing
