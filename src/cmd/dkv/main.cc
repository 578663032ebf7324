// dkv: one node of the replicated key-value store. Reads DKV_* variables (or
// the same-named flags), opens the node, serves gRPC and REST until SIGTERM or
// SIGINT, then shuts down cleanly (cmd/dkv/server.h). Wiring only: the logic
// lives in modules.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "cmd/dkv/server.h"
#include "node/config.h"
#include "tls/credentials.h"
#include "util/version.h"

extern char** environ;

namespace {

using dkv::cmd::kExitBadConfig;

std::map<std::string, std::string> dkv_environment() {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string::npos || entry.rfind("DKV_", 0) != 0) continue;
    vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return vars;
}

// Reads the TLS files the configuration names: each must load, and each key
// match its certificate.
dkv::util::Status check_tls(const dkv::node::TlsConfig& t) {
  if (t.client_tls()) {
    auto s = dkv::tls::check_key_pair("DKV_CERT_FILE", t.cert_file, "DKV_KEY_FILE", t.key_file);
    if (!s.is_ok()) return s;
  }
  if (!t.trusted_ca_file.empty()) {
    auto s = dkv::tls::check_ca_file("DKV_TRUSTED_CA_FILE", t.trusted_ca_file);
    if (!s.is_ok()) return s;
  }
  if (t.peer_tls()) {
    auto s = dkv::tls::check_key_pair("DKV_PEER_CERT_FILE", t.peer_cert_file, "DKV_PEER_KEY_FILE",
                                      t.peer_key_file);
    if (s.is_ok()) s = dkv::tls::check_ca_file("DKV_PEER_TRUSTED_CA_FILE", t.peer_trusted_ca_file);
    if (!s.is_ok()) return s;
  }
  return dkv::util::Status::ok();
}

// Environment first; flags of the same names override it.
int load_config(int argc, char** argv, dkv::node::Config* config) {
  CLI::App app{"dkv: a strongly consistent, replicated key-value store node"};
  std::map<std::string, std::string> flags;
  for (const auto& v : dkv::node::config_variables()) {
    app.add_option(v.flag, flags[v.name], std::string(v.help) + " [env " + v.name + "]");
  }
  app.set_version_flag("--version", "dkv " + std::string(dkv::util::version()));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? -1 : kExitBadConfig;  // -1: --help/--version printed.
  }
  const auto env = dkv_environment();
  auto vars = env;
  for (const auto& v : dkv::node::config_variables()) {
    if (app.get_option(v.flag)->count() > 0) vars[v.name] = flags[v.name];
  }
  if (auto s = dkv::node::parse_config(vars, config); !s.is_ok()) {
    std::cerr << "dkv: " << s.message() << "\n";
    return kExitBadConfig;
  }
  if (auto s = check_tls(config->tls); !s.is_ok()) {
    std::cerr << "dkv: " << s.message() << "\n";
    return kExitBadConfig;
  }
  for (const auto& name : dkv::node::unknown_variables(env)) {
    std::cerr << "dkv: warning: unknown variable " << name << " ignored\n";
  }
  return 0;
}

// LMDB writes its pages in a shared map (kv/store.h, MDB_WRITEMAP): a page
// the file system cannot write or read back (an I/O error, a file cut short
// underneath, a disk that filled past the store's reserve) faults with
// SIGBUS. Say so in one line and stop, as for an fsync error;
// acknowledged writes are in the WAL, which a restart replays.
void on_sigbus(int) {
  static const char kMessage[] =
      "dkv: SIGBUS: a memory-mapped file (LMDB's data.mdb) could not be written or read "
      "(disk full or I/O error); stopping\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  std::_Exit(1);
}

void block_stop_signals() {
  // Blocked in every thread; main waits for them with sigtimedwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGBUS, on_sigbus);
}

}  // namespace

int main(int argc, char** argv) {
  block_stop_signals();
  dkv::node::Config config;
  if (const int rc = load_config(argc, argv, &config); rc != 0) return rc < 0 ? 0 : rc;
  // One line per event: time, level, node id, message.
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ node=" + config.node_id + " %v");
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  dkv::cmd::Server server(config);
  if (const int rc = server.start(); rc != 0) return rc;
  return server.serve_until_signal();
}
