// Client TLS end to end (DKV_CERT_FILE, DKV_KEY_FILE, DKV_TRUSTED_CA_FILE,
// DKV_CLIENT_CERT_AUTH), with certificates made at test time by `openssl`:
// HTTPS on the REST port and TLS gRPC on the RPC port; client certificate
// authentication refuses a client without one; a replaced certificate is
// served to new connections within 10 s; a 3-node TLS cluster fails over
// after its leader is killed. HTTPS requests go through `curl`.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dkv/v0/kv.grpc.pb.h"
#include "dkvctl_runner.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs a shell command; its stdout.
std::string run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

class Pki {
 public:
  explicit Pki(const std::string& dir) : dir_(dir) {
    std::ofstream(path("san.cnf")) << "subjectAltName=IP:127.0.0.1\n";
    ok_ = openssl("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=dkv-test-ca -keyout " +
                  path("ca.key") + " -out " + path("ca.crt")) &&
          sign("server", "127.0.0.1", true) && sign("server2", "127.0.0.1", true) &&
          sign("client", "client", false);
  }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  // The serial of a certificate file, as `openssl x509 -serial` prints it.
  std::string serial(const std::string& crt) const {
    return run("openssl x509 -noout -serial -in " + path(crt));
  }

 private:
  static bool openssl(const std::string& args) {
    return std::system(("openssl " + args + " >/dev/null 2>&1").c_str()) == 0;
  }
  bool sign(const std::string& name, const std::string& cn, bool san) {
    return openssl("req -newkey rsa:2048 -nodes -subj /CN=" + cn + " -keyout " +
                   path(name + ".key") + " -out " + path(name + ".csr")) &&
           openssl("x509 -req -days 1 -in " + path(name + ".csr") + " -CA " + path("ca.crt") +
                   " -CAkey " + path("ca.key") + " -CAcreateserial -out " + path(name + ".crt") +
                   (san ? " -extfile " + path("san.cnf") : ""));
  }
  std::string dir_;
  bool ok_ = false;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("tls");
    pki_ = std::make_unique<Pki>(dir_->path());
    ASSERT_TRUE(pki_->ok());
  }

  // curl over HTTPS to 127.0.0.1:port; "--cert" args added with_cert.
  std::string https(std::uint16_t port, const std::string& target, bool with_cert,
                    const std::string& extra = "") {
    std::string cmd = "curl -s --max-time 10 --cacert " + pki_->path("ca.crt");
    if (with_cert) {
      cmd += " --cert " + pki_->path("client.crt") + " --key " + pki_->path("client.key");
    }
    return run(cmd + " " + extra + " https://127.0.0.1:" + std::to_string(port) + target);
  }

  std::shared_ptr<grpc::Channel> tls_channel(std::uint16_t port, bool with_cert) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = read_file(pki_->path("ca.crt"));
    if (with_cert) {
      o.pem_cert_chain = read_file(pki_->path("client.crt"));
      o.pem_private_key = read_file(pki_->path("client.key"));
    }
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o));
  }

  // Waits until HTTPS /readyz answers ok.
  bool wait_ready(std::uint16_t rest_port, bool with_cert, std::chrono::seconds timeout = 30s) {
    for (const auto until = Clock::now() + timeout; Clock::now() < until;) {
      if (https(rest_port, "/readyz", with_cert) == "ok\n") return true;
      std::this_thread::sleep_for(100ms);  // Poll interval.
    }
    return false;
  }

  std::map<std::string, std::string> node_env(const std::string& id, const std::string& cluster,
                                              std::uint16_t rpc, std::uint16_t rest,
                                              bool client_auth) {
    std::map<std::string, std::string> e = {{"DKV_NODE_ID", id},
                                            {"DKV_CLUSTER", cluster},
                                            {"DKV_RPC_PORT", std::to_string(rpc)},
                                            {"DKV_REST_PORT", std::to_string(rest)},
                                            {"DKV_DB_PATH", dir_->path() + "/" + id + ".db"},
                                            {"DKV_CERT_FILE", pki_->path("server.crt")},
                                            {"DKV_KEY_FILE", pki_->path("server.key")}};
    if (client_auth) {
      e["DKV_TRUSTED_CA_FILE"] = pki_->path("ca.crt");
      e["DKV_CLIENT_CERT_AUTH"] = "true";
    }
    return e;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Pki> pki_;
};

TEST_F(TlsTest, HttpsAndTlsGrpcWorkAndClientCertAuthRefusesClientsWithoutOne) {
  const std::uint16_t rpc = free_port(), rest = free_port();
  DkvProcess node(dkv_binary(),
                  node_env("a", "a@127.0.0.1:" + std::to_string(rpc), rpc, rest, true),
                  dir_->path() + "/a.log");
  ASSERT_TRUE(node.start());
  ASSERT_TRUE(wait_ready(rest, true)) << node.log();

  // HTTPS with a client certificate: write, then read back.
  const std::string put =
      https(rest, "/v0/kv", true,
            "-X POST -d '{\"key\":\"" + base64("k") + "\",\"value\":\"" + base64("v1") + "\"}'");
  EXPECT_EQ(put, "{}") << node.log();
  EXPECT_NE(https(rest, "/v0/kv/key/" + base64("k"), true).find(base64("v1")), std::string::npos);
  // Without one (or in plain HTTP) nothing is answered.
  EXPECT_EQ(https(rest, "/v0/kv/key/" + base64("k"), false), "");
  // The dashboard (issue 20) is served and refused the same way.
  EXPECT_NE(https(rest, "/", true).find("/dashboard/assets/app.js"), std::string::npos);
  EXPECT_NE(https(rest, "/dashboard/v0/cluster", true).find(R"("role":"leader")"),
            std::string::npos);
  EXPECT_EQ(https(rest, "/", false), "");
  EXPECT_EQ(run("curl -s --max-time 5 http://127.0.0.1:" + std::to_string(rest) + "/readyz"), "");
  // Nor does the gateway behind the TLS terminator answer anyone on the
  // host but the terminator: its loopback port is found with ss.
  const std::string listening =
      run("ss -ltnpH | grep 'pid=" + std::to_string(node.pid()) + ",' | awk '{print $4}'");
  int backends = 0;
  std::istringstream lines(listening);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("127.0.0.1:", 0) != 0) continue;
    const std::string port = line.substr(line.find(':') + 1);
    if (port == std::to_string(rpc) || port == std::to_string(rest)) continue;
    ++backends;
    EXPECT_EQ(run("curl -s --max-time 5 http://127.0.0.1:" + port + "/v0/kv/key/" + base64("k")),
              "")
        << "the gateway at 127.0.0.1:" << port << " answered around TLS";
  }
  EXPECT_GE(backends, 1) << listening;

  // TLS gRPC with a client certificate.
  auto stub = v0::KV::NewStub(tls_channel(rpc, true));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v0::PutRequest req;
    req.set_key("g");
    req.set_value("grpc-over-tls");
    v0::PutResponse resp;
    const grpc::Status s = stub->Put(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    v0::GetRequest req;
    req.set_key("g");
    v0::GetResponse resp;
    const grpc::Status s = stub->Get(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.value(), "grpc-over-tls");
  }
  // Without a client certificate the handshake fails.
  auto refused = v0::KV::NewStub(tls_channel(rpc, false));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  v0::GetRequest req;
  req.set_key("g");
  v0::GetResponse resp;
  const grpc::Status s = refused->Get(&ctx, req, &resp);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(resp.value(), "");

  // dkvctl with etcdctl's TLS flags; without --cert it is refused.
  const std::vector<std::string> tls_flags = {"--endpoints=127.0.0.1:" + std::to_string(rpc),
                                              "--cacert",
                                              pki_->path("ca.crt"),
                                              "--cert",
                                              pki_->path("client.crt"),
                                              "--key",
                                              pki_->path("client.key")};
  auto args = tls_flags;
  args.insert(args.end(), {"put", "ctl", "over-tls"});
  EXPECT_EQ(run_dkvctl(args).exit_code, 0) << run_dkvctl(args).err;
  args = tls_flags;
  args.insert(args.end(), {"get", "ctl", "--print-value-only"});
  EXPECT_EQ(run_dkvctl(args).out, "over-tls\n");
  const CommandResult no_cert =
      run_dkvctl({tls_flags[0], "--cacert", pki_->path("ca.crt"), "get", "ctl"});
  EXPECT_NE(no_cert.exit_code, 0);
  EXPECT_EQ(no_cert.out.find("over-tls"), std::string::npos);
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(20s), 0) << node.log();
}

TEST_F(TlsTest, ReplacedCertificateServesNewConnectionsWithinTenSeconds) {
  const std::uint16_t rpc = free_port(), rest = free_port();
  const std::string crt = dir_->path() + "/live.crt", key = dir_->path() + "/live.key";
  ASSERT_EQ(std::system(("cp " + pki_->path("server.crt") + " " + crt + " && cp " +
                         pki_->path("server.key") + " " + key)
                            .c_str()),
            0);
  auto env = node_env("a", "a@127.0.0.1:" + std::to_string(rpc), rpc, rest, false);
  env["DKV_CERT_FILE"] = crt;
  env["DKV_KEY_FILE"] = key;
  DkvProcess node(dkv_binary(), env, dir_->path() + "/a.log");
  ASSERT_TRUE(node.start());
  ASSERT_TRUE(wait_ready(rest, false)) << node.log();
  auto served_serial = [&](std::uint16_t port) {
    return run("openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
               " </dev/null 2>/dev/null | openssl x509 -noout -serial");
  };
  const std::string first = pki_->serial("server.crt");
  const std::string second = pki_->serial("server2.crt");
  ASSERT_NE(first, second);
  EXPECT_EQ(served_serial(rest), first);
  EXPECT_EQ(served_serial(rpc), first);

  // Replace both files (a new name renamed over the old, as tools do).
  ASSERT_EQ(std::system(("cp " + pki_->path("server2.key") + " " + key + ".new && mv " + key +
                         ".new " + key + " && cp " + pki_->path("server2.crt") + " " + crt +
                         ".new && mv " + crt + ".new " + crt)
                            .c_str()),
            0);
  const auto replaced = Clock::now();
  bool rest_new = false, rpc_new = false;
  while ((!rest_new || !rpc_new) && Clock::now() < replaced + 10s) {
    rest_new = rest_new || served_serial(rest) == second;
    rpc_new = rpc_new || served_serial(rpc) == second;
    std::this_thread::sleep_for(200ms);  // Poll interval.
  }
  EXPECT_TRUE(rest_new) << node.log();
  EXPECT_TRUE(rpc_new) << node.log();
  EXPECT_TRUE(wait_ready(rest, false, 5s));  // And it still works.
  node.signal(SIGTERM);
  EXPECT_EQ(node.wait_exit(20s), 0) << node.log();
}

TEST_F(TlsTest, TlsClusterFailsOverAfterTheLeaderIsKilled) {
  std::vector<std::uint16_t> rpc, rest;
  std::string cluster;
  const std::vector<std::string> ids = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) {
    rpc.push_back(free_port());
    rest.push_back(free_port());
    cluster += (i ? "," : "") + ids[i] + "@127.0.0.1:" + std::to_string(rpc[i]);
  }
  std::vector<std::unique_ptr<DkvProcess>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<DkvProcess>(dkv_binary(),
                                                 node_env(ids[i], cluster, rpc[i], rest[i], true),
                                                 dir_->path() + "/" + ids[i] + ".log"));
    ASSERT_TRUE(nodes.back()->start());
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(wait_ready(rest[i], true)) << nodes[i]->log();
  const int leader = await_leader_among(
      ids, [&] { return json_field(https(rest[0], "/v0/status", true), "leaderId"); }, 20s);
  ASSERT_GE(leader, 0);
  const int follower = (leader + 1) % 3;
  const std::string body =
      "-X POST -d '{\"key\":\"" + base64("k") + "\",\"value\":\"" + base64("v1") + "\"}'";
  // Through a follower: forwarded to the leader over plain peer gRPC.
  EXPECT_EQ(https(rest[follower], "/v0/kv", true, body), "{}");
  nodes[leader]->signal(SIGKILL);
  EXPECT_EQ(nodes[leader]->wait_exit(10s), 128 + SIGKILL);
  std::string put;
  for (const auto until = Clock::now() + 30s; put != "{}" && Clock::now() < until;) {
    put =
        https(rest[follower], "/v0/kv", true,
              "-X POST -d '{\"key\":\"" + base64("k") + "\",\"value\":\"" + base64("v2") + "\"}'");
  }
  EXPECT_EQ(put, "{}") << nodes[follower]->log();
  const int other = (leader + 2) % 3;
  EXPECT_NE(json_field(https(rest[other], "/v0/status", true), "leaderId"), ids[leader]);
  EXPECT_NE(https(rest[other], "/v0/kv/key/" + base64("k"), true).find(base64("v2")),
            std::string::npos);
  for (int i = 0; i < 3; ++i) {
    if (i != leader) nodes[i]->signal(SIGTERM);
  }
  for (int i = 0; i < 3; ++i) {
    if (i != leader) {
      EXPECT_EQ(nodes[i]->wait_exit(20s), 0) << nodes[i]->log();
    }
  }
}

}  // namespace
}  // namespace dkv::testing
