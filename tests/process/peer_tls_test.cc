// Peer mutual TLS (DKV_PEER_CERT_FILE, DKV_PEER_KEY_FILE,
// DKV_PEER_TRUSTED_CA_FILE), with certificates made at test time by
// `openssl`: a peer CA, a client CA and a foreign CA.
//   - The forged raft stream of issue 15 (forged_stream.h) changes nothing
//     (term and data checked afterwards) when it comes (a) in plain TCP,
//     (b) in TLS with a certificate of a foreign CA, (c) in TLS with a valid
//     client certificate (client CA), which is no peer certificate; nor do
//     Join calls of strangers reach the peer service.
//   - A cluster with peer TLS and client TLS works end to end and fails
//     over after its leader is killed.
//   - A lagging follower catches up by a snapshot streamed over peer TLS.
//   - A replaced peer certificate is served to new peer connections within
//     10 s, and the cluster keeps working.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "forged_stream.h"
#include "harness.h"
#include "node/membership.h"
#include "transport/transport.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPermissionDenied = 7;

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

std::string kv_json(const std::string& key, const std::string& value) {
  return R"({"key":")" + base64(key) + R"(","value":")" + base64(value) + R"("})";
}

// Three CAs and the certificates they sign (SAN IP:127.0.0.1).
class Pki {
 public:
  explicit Pki(const std::string& dir) : dir_(dir) {
    std::ofstream(path("san.cnf")) << "subjectAltName=IP:127.0.0.1\n";
    ok_ = ca("peer-ca") && ca("client-ca") && ca("foreign-ca") &&
          sign("peer-ca", "peer", "dkv-member") && sign("peer-ca", "peer2", "dkv-member") &&
          sign("client-ca", "server", "127.0.0.1") && sign("client-ca", "client", "client") &&
          sign("foreign-ca", "foreign", "dkv-member");
  }
  bool ok() const { return ok_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string serial(const std::string& crt) const {
    return run("openssl x509 -noout -serial -in " + path(crt));
  }

 private:
  static bool openssl(const std::string& args) {
    return std::system(("openssl " + args + " >/dev/null 2>&1").c_str()) == 0;
  }
  bool ca(const std::string& name) {
    return openssl("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=" + name + " -keyout " +
                   path(name + ".key") + " -out " + path(name + ".crt"));
  }
  bool sign(const std::string& ca, const std::string& name, const std::string& cn) {
    return openssl("req -newkey rsa:2048 -nodes -subj /CN=" + cn + " -keyout " +
                   path(name + ".key") + " -out " + path(name + ".csr")) &&
           openssl("x509 -req -days 1 -in " + path(name + ".csr") + " -CA " + path(ca + ".crt") +
                   " -CAkey " + path(ca + ".key") + " -CAcreateserial -out " + path(name + ".crt") +
                   " -extfile " + path("san.cnf"));
  }
  std::string dir_;
  bool ok_ = false;
};

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// The forged stream in plain TCP; the answer's code (-1: none).
int forge_plain(std::uint16_t port, const std::string& bytes) {
  const int fd = connect_loopback(port);
  EXPECT_GE(fd, 0);
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  char answer[16];
  std::size_t got = 0;
  while (got < sizeof answer) {
    const ssize_t n = ::recv(fd, answer + got, sizeof answer - got, 0);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return got == sizeof answer ? answer_code(answer) : -1;
}

// The forged stream inside TLS as a peer would open it (SNI dkv-peer, ALPN
// dkv-raft), with the certificate `crt`/`key`; the answer's code, or -1 if
// the handshake failed or nothing was answered. The server's certificate
// is not checked: the forger does not care.
int forge_tls(std::uint16_t port, const std::string& crt, const std::string& key,
              const std::string& bytes) {
  SSL_CTX* ctx = ::SSL_CTX_new(::TLS_client_method());
  ::SSL_CTX_use_certificate_chain_file(ctx, crt.c_str());
  ::SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM);
  static const unsigned char kAlpn[] = {8, 'd', 'k', 'v', '-', 'r', 'a', 'f', 't'};
  ::SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
  const int fd = connect_loopback(port);
  SSL* ssl = ::SSL_new(ctx);
  ::SSL_set_fd(ssl, fd);
  ::SSL_set_tlsext_host_name(ssl, "dkv-peer");
  int code = -1;
  // TLS 1.3: the client may finish its handshake before the server has
  // judged its certificate; the refusal then shows as a failed read.
  if (::SSL_connect(ssl) == 1 &&
      ::SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) > 0) {
    char answer[16];
    int got = 0;
    while (got < 16) {
      const int n = ::SSL_read(ssl, answer + got, 16 - got);
      if (n <= 0) break;
      got += n;
    }
    if (got == 16) code = answer_code(answer);
  }
  ::SSL_free(ssl);
  ::close(fd);
  ::SSL_CTX_free(ctx);
  return code;
}

class PeerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("peer_tls");
    pki_ = std::make_unique<Pki>(dir_->path());
    ASSERT_TRUE(pki_->ok());
  }

  std::map<std::string, std::string> peer_env(const std::string& crt = "peer.crt",
                                              const std::string& key = "peer.key") const {
    return {{"DKV_PEER_CERT_FILE", pki_->path(crt)},
            {"DKV_PEER_KEY_FILE", pki_->path(key)},
            {"DKV_PEER_TRUSTED_CA_FILE", pki_->path("peer-ca.crt")}};
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Pki> pki_;
};

// Waits until node f applied everything node `leader` committed.
void wait_caught_up(LocalCluster& c, int leader, int f) {
  for (const auto until = Clock::now() + 20s; Clock::now() < until;) {
    const std::string commit = c.status_field(leader, "commitIndex");
    if (!commit.empty() && c.status_field(f, "appliedIndex") == commit) return;
    std::this_thread::sleep_for(20ms);  // Poll interval.
  }
}

TEST_F(PeerTlsTest, ForgedLeaderStreamChangesNothingWithoutAPeerCertificate) {
  LocalCluster c("peer_tls_forge", 3, peer_env());
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 20s);
  ASSERT_GE(leader, 0) << c.process(0).log();
  const int f = (leader + 1) % 3;
  const std::string key = "k";
  const std::string target = "/v0/kv/key/" + base64(key);
  ASSERT_EQ(http("POST", c.rest_port(leader), "/v0/kv", kv_json(key, "v1")).status, 200);
  wait_caught_up(c, leader, f);
  ASSERT_EQ(http("GET", c.rest_port(f), target + "?serializable=true").body, kv_json(key, "v1"));

  Target t;
  t.host = "127.0.0.1";
  t.rpc_port = c.rpc_port(f);
  t.cluster_id = std::stoull(c.status_field(f, "clusterId"), nullptr, 16);
  t.leader = node::node_id_of(c.id(leader));
  t.follower = node::node_id_of(c.id(f));
  t.term = std::stoull(c.status_field(f, "term"));
  t.commit = std::stoull(c.status_field(f, "commitIndex"));
  std::cout << "forging at term " << t.term << " after index " << t.commit << std::endl;

  // (a) Plain TCP from a member's own address (loopback): refused, since
  // with peer TLS addresses prove nothing.
  EXPECT_EQ(forge_plain(t.rpc_port, forged_bytes(t, key, "forged-plain")), kPermissionDenied);
  // (b) A certificate of a foreign CA, (c) a valid client certificate:
  // both fail the handshake of the peer side.
  EXPECT_EQ(forge_tls(t.rpc_port, pki_->path("foreign.crt"), pki_->path("foreign.key"),
                      forged_bytes(t, key, "forged-foreign")),
            -1);
  EXPECT_EQ(forge_tls(t.rpc_port, pki_->path("client.crt"), pki_->path("client.key"),
                      forged_bytes(t, key, "forged-client")),
            -1);
  // The same TLS dialling with a peer certificate is answered: the forger's
  // path itself works (what refuses (b) and (c) is the certificate). It
  // claims a non-member, so this one is refused after the hello.
  Target stranger = t;
  stranger.leader = node::node_id_of("stranger");
  EXPECT_EQ(forge_tls(t.rpc_port, pki_->path("peer.crt"), pki_->path("peer.key"),
                      forged_bytes(stranger, key, "forged-stranger")),
            kPermissionDenied);

  // Had the node taken any, it would show within moments: watch for 3 s.
  for (const auto until = Clock::now() + 3s; Clock::now() < until;) {
    const std::string term = c.status_field(f, "term");
    if (!term.empty() && std::stoull(term) >= t.term + 1000) break;
    if (http("GET", c.rest_port(f), target + "?serializable=true").body.find(base64("forged")) !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // Poll interval.
  }
  EXPECT_LT(std::stoull(c.status_field(f, "term")), t.term + 1000);
  EXPECT_EQ(http("GET", c.rest_port(f), target + "?serializable=true").body, kv_json(key, "v1"));
  EXPECT_EQ(http("GET", c.rest_port(f), target).body, kv_json(key, "v1"));

  // Join: in plain text refused by the peer service; with a client
  // certificate no peer side is reached.
  const std::string address = "127.0.0.1:" + std::to_string(t.rpc_port);
  transport::JoinInfo info;
  EXPECT_FALSE(transport::fetch_join_info(address, "stranger", 10s, &info).is_ok());
  EXPECT_FALSE(transport::fetch_join_info(address, "stranger", 10s, &info,
                                          {pki_->path("client.crt"), pki_->path("client.key"),
                                           pki_->path("peer-ca.crt"), ""})
                   .is_ok());
  // A member's own certificate passes (the peer side works for gRPC too).
  EXPECT_TRUE(transport::fetch_join_info(
                  address, "c", 10s, &info,
                  {pki_->path("peer.crt"), pki_->path("peer.key"), pki_->path("peer-ca.crt"), ""})
                  .is_ok());

  const std::string metrics = http("GET", c.rest_port(f), "/metrics").body;
  EXPECT_NE(metrics.find("dkv_peer_refused_total{reason=\"stream_not_tls\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("dkv_peer_refused_total{reason=\"stream_not_member\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("dkv_peer_refused_total{reason=\"join_not_member\"} 1"),
            std::string::npos);
  EXPECT_EQ(metrics.find("dkv_peer_refused_total{reason=\"peer_tls_handshake\"} 0"),
            std::string::npos);
  EXPECT_EQ(c.process(f).log().find("peer traffic is unauthenticated"), std::string::npos);
  // Still a working cluster.
  EXPECT_EQ(http("POST", c.rest_port(f), "/v0/kv", kv_json(key, "v2")).status, 200);
  EXPECT_EQ(http("GET", c.rest_port(leader), target).body, kv_json(key, "v2"));
}

TEST_F(PeerTlsTest, PeerAndClientTlsClusterWorksAndFailsOver) {
  std::vector<std::uint16_t> rpc, rest;
  std::string cluster;
  const std::vector<std::string> ids = {"a", "b", "c"};
  for (int i = 0; i < 3; ++i) {
    rpc.push_back(free_port());
    rest.push_back(free_port());
    cluster += (i ? "," : "") + ids[i] + "@127.0.0.1:" + std::to_string(rpc[i]);
  }
  auto https = [&](int i, const std::string& target, const std::string& extra = "") {
    return run("curl -s --max-time 10 --cacert " + pki_->path("client-ca.crt") + " --cert " +
               pki_->path("client.crt") + " --key " + pki_->path("client.key") + " " + extra +
               " https://127.0.0.1:" + std::to_string(rest[i]) + target);
  };
  std::vector<std::unique_ptr<DkvProcess>> nodes;
  for (int i = 0; i < 3; ++i) {
    auto env = peer_env();
    env.insert({{"DKV_NODE_ID", ids[i]},
                {"DKV_CLUSTER", cluster},
                {"DKV_RPC_PORT", std::to_string(rpc[i])},
                {"DKV_REST_PORT", std::to_string(rest[i])},
                {"DKV_DB_PATH", dir_->path() + "/" + ids[i] + ".db"},
                {"DKV_CERT_FILE", pki_->path("server.crt")},
                {"DKV_KEY_FILE", pki_->path("server.key")},
                {"DKV_TRUSTED_CA_FILE", pki_->path("client-ca.crt")},
                {"DKV_CLIENT_CERT_AUTH", "true"},
                {"DKV_PEER_CERT_ALLOWED_CN", "dkv-member"}});
    nodes.push_back(
        std::make_unique<DkvProcess>(dkv_binary(), env, dir_->path() + "/" + ids[i] + ".log"));
    ASSERT_TRUE(nodes.back()->start());
  }
  int leader = await_leader_among(
      ids, [&] { return json_field(https(0, "/v0/status"), "leaderId"); }, 30s);
  ASSERT_GE(leader, 0) << nodes[0]->log();
  // A Cluster call on a follower is forwarded to the leader over peer TLS
  // (gRPC, the peer side): leadership moves to `target`.
  const int target = (leader + 1) % 3, asked = (leader + 2) % 3;
  const std::string moved =
      https(asked, "/v0/leader", "-X POST -d '{\"id\":\"" + ids[target] + "\"}'");
  EXPECT_NE(moved.find("\"leaderId\":\"" + ids[target] + "\""), std::string::npos)
      << moved << nodes[asked]->log();
  leader = target;
  const int follower = asked;
  const std::string put_v1 = "-X POST -d '" + kv_json("k", "v1") + "'";
  EXPECT_EQ(https(follower, "/v0/kv", put_v1), "{}") << nodes[follower]->log();
  // Plain REST gets no answer.
  EXPECT_EQ(
      run("curl -s --max-time 5 http://127.0.0.1:" + std::to_string(rest[follower]) + "/readyz"),
      "");
  nodes[leader]->signal(SIGKILL);
  EXPECT_EQ(nodes[leader]->wait_exit(10s), 128 + SIGKILL);
  std::string put;
  const std::string put_v2 = "-X POST -d '" + kv_json("k", "v2") + "'";
  for (const auto until = Clock::now() + 30s; put != "{}" && Clock::now() < until;) {
    put = https(follower, "/v0/kv", put_v2);
  }
  EXPECT_EQ(put, "{}") << nodes[follower]->log();
  const int other = 3 - leader - follower;
  EXPECT_NE(json_field(https(other, "/v0/status"), "leaderId"), ids[leader]);
  EXPECT_NE(https(other, "/v0/kv/key/" + base64("k")).find(base64("v2")), std::string::npos);
  for (int i = 0; i < 3; ++i) {
    if (i == leader) continue;
    nodes[i]->signal(SIGTERM);
    EXPECT_EQ(nodes[i]->wait_exit(20s), 0) << nodes[i]->log();
    EXPECT_EQ(nodes[i]->log().find("peer traffic is unauthenticated"), std::string::npos);
  }
}

// Waits until node i's log holds `text`.
bool wait_for_log(LocalCluster& c, int i, const std::string& text, std::chrono::seconds timeout) {
  for (const auto until = Clock::now() + timeout; Clock::now() < until;) {
    if (c.process(i).log().find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(100ms);  // Poll interval.
  }
  return false;
}

TEST_F(PeerTlsTest, LaggingFollowerCatchesUpBySnapshotOverPeerTls) {
  auto env = peer_env();
  env["DKV_SNAPSHOT_ENTRIES"] = "100";
  LocalCluster c("peer_tls_snapshot", 3, env);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 20s);
  ASSERT_GE(leader, 0);
  const int lagging = (leader + 1) % 3;
  c.process(lagging).signal(SIGKILL);
  ASSERT_EQ(c.process(lagging).wait_exit(10s), 128 + SIGKILL);
  for (int i = 0; i < 250; ++i) {
    ASSERT_EQ(
        http("POST", c.rest_port(leader), "/v0/kv", kv_json("k" + std::to_string(i), "v")).status,
        200);
  }
  ASSERT_TRUE(wait_for_log(c, leader, "log kept from", 30s)) << c.process(leader).log();
  ASSERT_TRUE(c.start(lagging));
  ASSERT_TRUE(wait_for_log(c, lagging, "installed snapshot", 60s)) << c.process(lagging).log();
  std::string body;
  for (const auto until = Clock::now() + 30s; Clock::now() < until;) {
    body = http("GET", c.rest_port(lagging), "/v0/kv/key/" + base64("k249") + "?serializable=true")
               .body;
    if (body == kv_json("k249", "v")) break;
    std::this_thread::sleep_for(100ms);  // Poll interval.
  }
  EXPECT_EQ(body, kv_json("k249", "v")) << c.process(lagging).log();
}

TEST_F(PeerTlsTest, ReplacedPeerCertificateServesNewConnectionsWithinTenSeconds) {
  // Node 0 reads live copies; the others keep the first certificate.
  const std::string crt = dir_->path() + "/live.crt", key = dir_->path() + "/live.key";
  ASSERT_EQ(std::system(("cp " + pki_->path("peer.crt") + " " + crt + " && cp " +
                         pki_->path("peer.key") + " " + key)
                            .c_str()),
            0);
  LocalCluster c("peer_tls_rotate", 3, peer_env());
  c.set_env(0, "DKV_PEER_CERT_FILE", crt);
  c.set_env(0, "DKV_PEER_KEY_FILE", key);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  auto served_serial = [&] {
    return run("openssl s_client -connect 127.0.0.1:" + std::to_string(c.rpc_port(0)) +
               " -servername dkv-peer -cert " + pki_->path("peer.crt") + " -key " +
               pki_->path("peer.key") + " </dev/null 2>/dev/null | openssl x509 -noout -serial");
  };
  const std::string first = pki_->serial("peer.crt"), second = pki_->serial("peer2.crt");
  ASSERT_NE(first, second);
  EXPECT_EQ(served_serial(), first);
  ASSERT_EQ(std::system(("cp " + pki_->path("peer2.key") + " " + key + ".new && mv " + key +
                         ".new " + key + " && cp " + pki_->path("peer2.crt") + " " + crt +
                         ".new && mv " + crt + ".new " + crt)
                            .c_str()),
            0);
  bool rotated = false;
  for (const auto until = Clock::now() + 10s; !rotated && Clock::now() < until;) {
    rotated = served_serial() == second;
    if (!rotated) std::this_thread::sleep_for(200ms);  // Poll interval.
  }
  EXPECT_TRUE(rotated) << c.process(0).log();
  // The members still talk to node 0 (new connections with the new
  // certificate, which the same peer CA signed): a write through it.
  const int leader = c.wait_for_leader({0, 1, 2}, 20s);
  ASSERT_GE(leader, 0);
  EXPECT_EQ(http("POST", c.rest_port(0), "/v0/kv", kv_json("r", "after")).status, 200)
      << c.process(0).log();
  EXPECT_EQ(http("GET", c.rest_port(0), "/v0/kv/key/" + base64("r")).body, kv_json("r", "after"));
}

}  // namespace
}  // namespace dkv::testing
