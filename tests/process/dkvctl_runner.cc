#include "dkvctl_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace dkv::testing {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string dkvctl_binary() { return DKVCTL_BINARY_PATH; }

CommandResult run_program(const std::string& binary, const std::vector<std::string>& args,
                          const std::map<std::string, std::string>& env,
                          const std::string& stdin_text, std::chrono::milliseconds timeout,
                          std::chrono::milliseconds quiet_stop) {
  CommandResult result;
  char in_tmpl[] = "/tmp/dkv_test_in_XXXXXX";
  char out_tmpl[] = "/tmp/dkv_test_out_XXXXXX";
  char err_tmpl[] = "/tmp/dkv_test_err_XXXXXX";
  const int in_fd = ::mkstemp(in_tmpl);
  const int out_fd = ::mkstemp(out_tmpl);
  const int err_fd = ::mkstemp(err_tmpl);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) return result;
  if (::write(in_fd, stdin_text.data(), stdin_text.size()) !=
      static_cast<ssize_t>(stdin_text.size())) {
    return result;
  }
  ::lseek(in_fd, 0, SEEK_SET);
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = {"PATH=/usr/bin:/bin"};
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(binary.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  if (pid > 0) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    off_t out_size = 0;
    auto out_changed = std::chrono::steady_clock::now();
    for (;;) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      struct stat st {};
      if (quiet_stop.count() > 0 && ::stat(out_tmpl, &st) == 0 && st.st_size != out_size) {
        out_size = st.st_size;
        out_changed = now;
      }
      const bool quiet = quiet_stop.count() > 0 && out_size > 0 && now - out_changed >= quiet_stop;
      if (now >= until || quiet) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // Poll interval.
    }
  }
  result.out = slurp(out_tmpl);
  result.err = slurp(err_tmpl);
  ::unlink(in_tmpl);
  ::unlink(out_tmpl);
  ::unlink(err_tmpl);
  return result;
}

CommandResult run_dkvctl(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout) {
  return run_program(dkvctl_binary(), args, env, "", timeout);
}

}  // namespace dkv::testing
