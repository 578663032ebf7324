#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "netns.h"

namespace dkv::testing {

namespace beast = boost::beast;
namespace http_ns = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// The kernel's range of ephemeral ports (outgoing connections' local ports).
std::pair<int, int> ephemeral_port_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int lo = 32768;
  int hi = 60999;
  in >> lo >> hi;
  return {lo, hi};
}

bool can_bind(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // As servers do.
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

// A port below the ephemeral range: one the kernel hands out for outgoing
// connections could be taken by a peer's or a client's connect() between
// this check and the node's bind (seen in CI). Ports are not reused within
// a process, and the start differs per process, so serial test binaries
// rarely meet either.
std::uint16_t free_port() {
  static std::mutex mu;
  static std::set<std::uint16_t> handed_out;
  static std::uint32_t next = 0;
  std::lock_guard lock(mu);
  const auto [ephemeral_lo, ephemeral_hi] = ephemeral_port_range();
  (void)ephemeral_hi;
  const std::uint32_t lo = 10000;
  const std::uint32_t span =
      ephemeral_lo > 12000 ? static_cast<std::uint32_t>(ephemeral_lo) - lo : 2000;
  if (next == 0) next = static_cast<std::uint32_t>(::getpid()) * 7919u;
  for (std::uint32_t tries = 0; tries < span; ++tries) {
    const auto port = static_cast<std::uint16_t>(lo + (next++ % span));
    if (handed_out.count(port) == 0 && can_bind(port)) {
      handed_out.insert(port);
      return port;
    }
  }
  throw std::runtime_error("free_port: no free port below the ephemeral range");
}

TempDir::TempDir(const std::string& name) {
  path_ = (std::filesystem::path(::testing::TempDir()) /
           ("dkv_" + name + "_" + std::to_string(::getpid())))
              .string();
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

HttpResponse http(const std::string& method, std::uint16_t port, const std::string& target,
                  const std::string& body, const std::string& content_type) {
  return http_at("127.0.0.1", method, port, target, body, std::chrono::seconds(30), content_type);
}

HttpResponse http_at(const std::string& host, const std::string& method, std::uint16_t port,
                     const std::string& target, const std::string& body,
                     std::chrono::milliseconds timeout, const std::string& content_type) {
  HttpResponse out;
  try {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout);
    stream.connect(tcp::endpoint(boost::asio::ip::make_address(host), port));
    http_ns::request<http_ns::string_body> req(http_ns::string_to_verb(method), target, 11);
    req.set(http_ns::field::host, host);
    if (!body.empty()) req.set(http_ns::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    http_ns::write(stream, req);
    beast::flat_buffer buffer;
    http_ns::response_parser<http_ns::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http_ns::read(stream, buffer, parser);
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string(field.value());
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

DkvProcess::DkvProcess(std::string binary, std::map<std::string, std::string> env,
                       std::string log_path)
    : binary_(std::move(binary)), env_(std::move(env)), log_path_(std::move(log_path)) {}

DkvProcess::~DkvProcess() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
}

bool DkvProcess::start() {
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
  env_strings.push_back("PATH=/usr/bin:/bin");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return false;
  int netns_fd = -1;
  if (!netns_.empty()) {
    netns_fd = ::open(("/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      ::close(log_fd);
      return false;
    }
  }
  exit_code_ = -1;
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    if (netns_fd >= 0) ::close(netns_fd);
    return false;
  }
  if (pid_ == 0) {
    // Only async-signal-safe calls here: the parent may have threads.
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // The parent (a test) may block signals; the server must start clean.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    char* argv[] = {binary_.data(), nullptr};
    ::execve(binary_.c_str(), argv, envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (netns_fd >= 0) ::close(netns_fd);
  return true;
}

bool DkvProcess::wait_ready(std::uint16_t rest_port, std::chrono::milliseconds timeout) {
  return wait_ready("127.0.0.1", rest_port, timeout);
}

bool DkvProcess::wait_ready(const std::string& host, std::uint16_t rest_port,
                            std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (!running()) return false;
    if (http_at(host, "GET", rest_port, "/readyz").status == 200) {
      return true;
    }
    // Polling interval of a condition wait, not a synchronisation sleep.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void DkvProcess::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

bool DkvProcess::running() {
  if (pid_ <= 0 || exit_code_ >= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  return false;
}

int DkvProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= until) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

std::string DkvProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string dkv_binary() { return DKV_BINARY_PATH; }

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (bytes.size() - i == 1) {
    const unsigned v = at(i) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (bytes.size() - i == 2) {
    const unsigned v = at(i) << 16 | at(i + 1) << 8;
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace dkv::testing

namespace dkv::testing {

LocalCluster::LocalCluster(const std::string& name, int size,
                           std::map<std::string, std::string> extra_env, const TestNetwork* network)
    : dir_(std::make_unique<TempDir>(name)), extra_env_(std::move(extra_env)) {
  if (network != nullptr && network->size() < size) {
    throw std::invalid_argument("LocalCluster: the test network has fewer nodes than the cluster");
  }
  for (int i = 0; i < size; ++i) {
    ids_.push_back(std::string(1, static_cast<char>('a' + i)));
    const bool netns = network != nullptr;
    hosts_.push_back(netns ? network->address(i) : "127.0.0.1");
    namespaces_.push_back(netns ? network->ns(i) : "");
    rpc_ports_.push_back(free_port());
    rest_ports_.push_back(free_port());
  }
  processes_.resize(size);
}

LocalCluster::~LocalCluster() = default;

bool LocalCluster::start(int i, const std::map<std::string, std::string>& more_env) {
  std::string cluster;
  for (int k = 0; k < size(); ++k) {
    if (k > 0) cluster += ",";
    cluster += ids_[k] + "@" + hosts_[k] + ":" + std::to_string(rpc_ports_[k]);
  }
  std::map<std::string, std::string> env = {{"DKV_LOG_LEVEL", "info"},
                                            {"DKV_RPC_PORT", std::to_string(rpc_ports_[i])},
                                            {"DKV_REST_PORT", std::to_string(rest_ports_[i])},
                                            {"DKV_DB_PATH", db_path(i)},
                                            {"DKV_NODE_ID", ids_[i]},
                                            {"DKV_CLUSTER", cluster},
                                            {"DKV_LISTEN_HOST", hosts_[i]}};
  for (const auto& [k, v] : extra_env_) env[k] = v;
  for (const auto& [k, v] : node_env_[i]) env[k] = v;
  for (const auto& [k, v] : more_env) env[k] = v;
  processes_[i] =
      std::make_unique<DkvProcess>(dkv_binary(), env, dir_->path() + "/" + ids_[i] + ".log");
  processes_[i]->set_netns(namespaces_[i]);
  return processes_[i]->start();
}

int LocalCluster::add_node(std::uint16_t rpc_port) {
  if (!namespaces_.empty() && !namespaces_.front().empty()) {
    throw std::invalid_argument("LocalCluster::add_node: loopback clusters only");
  }
  ids_.push_back(std::string(1, static_cast<char>('a' + ids_.size())));
  hosts_.push_back("127.0.0.1");
  namespaces_.push_back("");
  rpc_ports_.push_back(rpc_port != 0 ? rpc_port : free_port());
  rest_ports_.push_back(free_port());
  processes_.resize(ids_.size());
  return size() - 1;
}

void LocalCluster::set_env(int i, const std::string& name, const std::string& value) {
  node_env_[i][name] = value;
}

void LocalCluster::unset_env(int i, const std::string& name) { node_env_[i].erase(name); }

bool LocalCluster::start_all(std::chrono::milliseconds timeout) {
  for (int i = 0; i < size(); ++i) {
    if (!start(i)) return false;
  }
  for (int i = 0; i < size(); ++i) {
    if (!wait_ready(i, timeout)) return false;
  }
  return true;
}

bool LocalCluster::wait_ready(int i, std::chrono::milliseconds timeout) {
  return processes_[i]->wait_ready(hosts_[i], rest_ports_[i], timeout);
}

std::string LocalCluster::status_field(int i, const std::string& field) {
  return json_field(http_at(hosts_[i], "GET", rest_ports_[i], "/v0/status").body, field);
}

int await_leader_among(const std::vector<std::string>& ids,
                       const std::function<std::string()>& leader_id,
                       std::chrono::milliseconds timeout) {
  for (const auto until = std::chrono::steady_clock::now() + timeout;
       std::chrono::steady_clock::now() < until;) {
    const std::string l = leader_id();
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!l.empty() && ids[i] == l) return static_cast<int>(i);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // Poll interval.
  }
  return -1;
}

std::string json_field(const std::string& body, const std::string& field) {
  const std::string key = "\"" + field + "\":";
  auto at = body.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  if (body[at] == '"') {
    const auto end = body.find('"', at + 1);
    return body.substr(at + 1, end - at - 1);
  }
  return body.substr(at, body.find_first_of(",}", at) - at);
}

int LocalCluster::wait_for_leader(const std::vector<int>& among, std::chrono::milliseconds timeout,
                                  int not_this) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    std::string leader;
    bool agree = true;
    for (int i : among) {
      const std::string l = status_field(i, "leaderId");
      if (l.empty() || (!leader.empty() && l != leader)) {
        agree = false;
        break;
      }
      leader = l;
    }
    if (agree && !leader.empty()) {
      for (int i = 0; i < size(); ++i) {
        if (ids_[i] == leader && i != not_this) return i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // Poll interval.
  }
  return -1;
}

}  // namespace dkv::testing
