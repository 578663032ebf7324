// The TLS settings (etcd's names) at start, with certificates made at test
// time by `openssl`: each bad configuration stops the node with exit code 2
// and one line naming the variable (a missing or unreadable file, a file
// without a certificate, a key that does not match its certificate, half of
// a pair, DKV_CLIENT_CERT_AUTH=true without DKV_TRUSTED_CA_FILE). Before,
// DKV_CERT_FILE was an unknown variable: a warning, and plain text served.
// (Client TLS that works: tls_test.cc.)
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

class TlsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("tls_config");
    // A CA, a server certificate it signs, and a key of another pair.
    ASSERT_TRUE(
        openssl("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=dkv-test-ca "
                "-keyout " +
                path("ca.key") + " -out " + path("ca.crt")));
    ASSERT_TRUE(openssl("req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " +
                        path("server.key") + " -out " + path("server.csr")));
    ASSERT_TRUE(openssl("x509 -req -days 1 -in " + path("server.csr") + " -CA " + path("ca.crt") +
                        " -CAkey " + path("ca.key") + " -CAcreateserial -out " +
                        path("server.crt")));
    ASSERT_TRUE(openssl("genrsa -out " + path("other.key") + " 2048"));
    std::ofstream(path("garbage.pem")) << "not a certificate\n";
  }

  std::string path(const std::string& name) const { return dir_->path() + "/" + name; }

  static bool openssl(const std::string& args) {
    return std::system(("openssl " + args + " >/dev/null 2>&1").c_str()) == 0;
  }

  std::map<std::string, std::string> env() const {
    const std::uint16_t rpc = free_port();
    return {{"DKV_NODE_ID", "a"},
            {"DKV_CLUSTER", "a@127.0.0.1:" + std::to_string(rpc)},
            {"DKV_RPC_PORT", std::to_string(rpc)},
            {"DKV_REST_PORT", std::to_string(free_port())},
            {"DKV_DB_PATH", path("a.db")}};
  }

  // Starts dkv with `vars` on top of env(); expects exit 2 and one line
  // naming `variable`.
  void expect_refused(const std::map<std::string, std::string>& vars, const std::string& variable,
                      const std::string& label) {
    auto e = env();
    for (const auto& [k, v] : vars) e[k] = v;
    DkvProcess p(dkv_binary(), e, path("bad_" + label + ".log"));
    ASSERT_TRUE(p.start());
    EXPECT_EQ(p.wait_exit(20s), 2) << label;
    const std::string out = p.log();
    EXPECT_NE(out.find(variable), std::string::npos) << label << ": " << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << label << ": " << out;
  }

  std::unique_ptr<TempDir> dir_;
};

TEST_F(TlsConfigTest, BadTlsSettingsExitTwoNamingTheVariable) {
  const std::string crt = path("server.crt");
  const std::string key = path("server.key");
  expect_refused({{"DKV_CERT_FILE", path("missing.crt")}, {"DKV_KEY_FILE", key}}, "DKV_CERT_FILE",
                 "missing_cert");
  expect_refused({{"DKV_CERT_FILE", crt}, {"DKV_KEY_FILE", path("missing.key")}}, "DKV_KEY_FILE",
                 "missing_key");
  expect_refused({{"DKV_CERT_FILE", path("garbage.pem")}, {"DKV_KEY_FILE", key}}, "DKV_CERT_FILE",
                 "garbage_cert");
  expect_refused({{"DKV_CERT_FILE", crt}, {"DKV_KEY_FILE", path("other.key")}}, "DKV_KEY_FILE",
                 "key_mismatch");
  expect_refused({{"DKV_CERT_FILE", crt}}, "DKV_KEY_FILE", "half_pair");
  expect_refused({{"DKV_PEER_KEY_FILE", key}}, "DKV_PEER_CERT_FILE", "half_peer_pair");
  expect_refused({{"DKV_CERT_FILE", crt}, {"DKV_KEY_FILE", key}, {"DKV_CLIENT_CERT_AUTH", "true"}},
                 "DKV_CLIENT_CERT_AUTH", "client_auth_without_ca");
  expect_refused(
      {{"DKV_CERT_FILE", crt}, {"DKV_KEY_FILE", key}, {"DKV_TRUSTED_CA_FILE", path("garbage.pem")}},
      "DKV_TRUSTED_CA_FILE", "garbage_ca");
  expect_refused({{"DKV_PEER_CERT_FILE", crt}, {"DKV_PEER_KEY_FILE", key}},
                 "DKV_PEER_TRUSTED_CA_FILE", "peer_without_ca");
  expect_refused({{"DKV_PEER_CERT_FILE", crt},
                  {"DKV_PEER_KEY_FILE", path("other.key")},
                  {"DKV_PEER_TRUSTED_CA_FILE", path("ca.crt")}},
                 "DKV_PEER_KEY_FILE", "peer_key_mismatch");
}

// The peer TLS settings (DKV_PEER_*): each bad one exits 2 naming its
// variable; good ones start a node without the "unauthenticated" warning.
TEST_F(TlsConfigTest, PeerTlsSettingsAreCheckedAtStart) {
  const std::string crt = path("server.crt"), key = path("server.key"), ca = path("ca.crt");
  expect_refused({{"DKV_PEER_CERT_FILE", path("missing.crt")},
                  {"DKV_PEER_KEY_FILE", key},
                  {"DKV_PEER_TRUSTED_CA_FILE", ca}},
                 "DKV_PEER_CERT_FILE", "peer_missing_cert");
  expect_refused({{"DKV_PEER_CERT_FILE", crt}, {"DKV_PEER_TRUSTED_CA_FILE", ca}},
                 "DKV_PEER_KEY_FILE", "peer_half_pair");
  expect_refused({{"DKV_PEER_CERT_FILE", crt},
                  {"DKV_PEER_KEY_FILE", key},
                  {"DKV_PEER_TRUSTED_CA_FILE", path("garbage.pem")}},
                 "DKV_PEER_TRUSTED_CA_FILE", "peer_garbage_ca");
  expect_refused({{"DKV_PEER_CERT_ALLOWED_CN", "dkv-member"}}, "DKV_PEER_CERT_ALLOWED_CN",
                 "allowed_cn_without_peer_tls");

  auto e = env();
  e["DKV_PEER_CERT_FILE"] = crt;
  e["DKV_PEER_KEY_FILE"] = key;
  e["DKV_PEER_TRUSTED_CA_FILE"] = ca;
  DkvProcess p(dkv_binary(), e, path("valid_peer_tls.log"));
  ASSERT_TRUE(p.start());
  ASSERT_TRUE(p.wait_ready(static_cast<std::uint16_t>(std::stoi(e["DKV_REST_PORT"])), 30s))
      << p.log();
  EXPECT_EQ(p.log().find("peer traffic is unauthenticated"), std::string::npos) << p.log();
  EXPECT_NE(p.log().find("peer TLS"), std::string::npos) << p.log();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait_exit(20s), 0) << p.log();
}

}  // namespace
}  // namespace dkv::testing
