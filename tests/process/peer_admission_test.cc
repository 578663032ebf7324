// Peer admission in plain mode (issue 15), with members in network
// namespaces (netns.h) at their own addresses. The attack of the issue: a
// raft stream whose hello claims to be the leader, then one MsgApp at term +
// 1000 whose entry overwrites a key and whose commit covers it. Before
// admission, that rewrote committed data on the follower (its term jumped by
// 1000, serializable and linearizable GETs returned the forged value). Now
// it must change nothing: the test checks the follower's term and the key's
// value both ways afterwards, and the refusal counter in /metrics. Sent from
// the test process (10.x.y.1, no member's address) and from a member's own
// address claiming another member. A stranger's Join is refused too, while
// its client calls work.
// Skips unless root (network namespaces); a root run whose setup fails fails.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "dkv/raftpb/raft.pb.h"
#include "forged_stream.h"
#include "harness.h"
#include "netns.h"
#include "node/entry_codec.h"
#include "node/membership.h"
#include "transport/codec.h"
#include "transport/tcp_stream.h"
#include "transport/transport.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string kv_json(const std::string& key, const std::string& value) {
  return R"({"key":")" + base64(key) + R"(","value":")" + base64(value) + R"("})";
}

// A TCP socket made inside namespace `ns` ("" = ours), bound to `ip`.
int socket_from(const std::string& ns, const std::string& ip) {
  int fd = -1;
  std::thread t([&] {
    if (!ns.empty()) {
      const int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) return;
      ::close(nsfd);
    }
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  });
  t.join();
  if (fd < 0) return fd;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, ip.c_str(), &from.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends the forged stream from `ns`/`ip`; returns the answer's code (-1: no
// answer). Then waits (at most 10 s) for the node to close the connection.
int forge(const std::string& ns, const std::string& ip, const Target& t, const std::string& key,
          const std::string& value) {
  const int fd = socket_from(ns, ip);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(t.rpc_port);
  ::inet_pton(AF_INET, t.host.c_str(), &to.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0) << std::strerror(errno);
  const std::string bytes = forged_bytes(t, key, value);
  // Everything at once, as an attacker would: the hello and the frame.
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  int code = -1;
  char answer[16];
  std::size_t got = 0;
  for (const auto until = Clock::now() + 10s; Clock::now() < until;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;  // Closed by the node.
    for (ssize_t i = 0; i < n && got < sizeof answer; ++i) answer[got++] = buf[i];
    if (got == sizeof answer && code < 0) {
      code = (static_cast<unsigned char>(answer[0]) << 24) |
             (static_cast<unsigned char>(answer[1]) << 16) |
             (static_cast<unsigned char>(answer[2]) << 8) | static_cast<unsigned char>(answer[3]);
    }
  }
  ::close(fd);
  return code;
}

class PeerAdmissionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = TestNetwork::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(PeerAdmissionTest, ForgedLeaderStreamFromNonMemberAddressesChangesNothing) {
  TestNetwork net(3);
  ASSERT_TRUE(net.ok()) << net.error();
  LocalCluster c("peer_admission", 3, {}, &net);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 20s);
  ASSERT_GE(leader, 0);
  const int f = (leader + 1) % 3;      // The victim.
  const int other = (leader + 2) % 3;  // A member claiming to be the leader.
  auto req = [&](int i, const std::string& method, const std::string& target,
                 const std::string& body = "") {
    return http_at(c.host(i), method, c.rest_port(i), target, body, 15s);
  };
  const std::string key = "k";
  const std::string target = "/v0/kv/key/" + base64(key);
  ASSERT_EQ(req(leader, "POST", "/v0/kv", kv_json(key, "v1")).status, 200);
  // The follower has applied all the leader committed.
  for (const auto until = Clock::now() + 20s; Clock::now() < until;) {
    const std::string commit = c.status_field(leader, "commitIndex");
    if (!commit.empty() && c.status_field(f, "appliedIndex") == commit &&
        c.status_field(f, "commitIndex") == commit) {
      break;
    }
    std::this_thread::sleep_for(20ms);  // Poll interval.
  }
  ASSERT_EQ(req(f, "GET", target + "?serializable=true").body, kv_json(key, "v1"));

  Target t;
  t.host = c.host(f);
  t.rpc_port = c.rpc_port(f);
  t.cluster_id = std::stoull(c.status_field(f, "clusterId"), nullptr, 16);
  t.leader = node::node_id_of(c.id(leader));
  t.follower = node::node_id_of(c.id(f));
  t.term = std::stoull(c.status_field(f, "term"));
  t.commit = std::stoull(c.status_field(f, "commitIndex"));
  std::cout << "forging at term " << t.term << " after index " << t.commit << std::endl;

  constexpr int kPermissionDenied = 7;
  EXPECT_EQ(forge("", net.clients_address(), t, key, "forged-by-stranger"), kPermissionDenied);
  EXPECT_EQ(forge(net.ns(other), net.address(other), t, key, "forged-by-member-host"),
            kPermissionDenied);

  // Had the node taken either, it would show within moments (it applied
  // v1 in milliseconds): watch for 3 s (until it shows) before the checks.
  for (const auto until = Clock::now() + 3s; Clock::now() < until;) {
    const std::string term = c.status_field(f, "term");
    if (!term.empty() && std::stoull(term) >= t.term + 1000) break;
    if (req(f, "GET", target + "?serializable=true").body.find(base64("forged")) !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // Poll interval.
  }
  EXPECT_LT(std::stoull(c.status_field(f, "term")), t.term + 1000);
  EXPECT_EQ(req(f, "GET", target + "?serializable=true").body, kv_json(key, "v1"));
  HttpResponse linearizable;
  for (const auto until = Clock::now() + 20s; Clock::now() < until;) {
    linearizable = req(f, "GET", target);
    if (linearizable.status == 200) break;
  }
  EXPECT_EQ(linearizable.status, 200);
  EXPECT_EQ(linearizable.body, kv_json(key, "v1"));

  const std::string metrics = req(f, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("dkv_peer_refused_total{reason=\"stream_not_member\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("dkv_peer_refused_total{reason=\"stream_wrong_member\"} 1"),
            std::string::npos);
  EXPECT_NE(c.process(f).log().find("peer traffic is unauthenticated"), std::string::npos);

  // A stranger's Join (gRPC, the peer service) is refused too.
  transport::JoinInfo info;
  const auto join = transport::fetch_join_info(c.host(f) + ":" + std::to_string(c.rpc_port(f)),
                                               "stranger", 10s, &info);
  EXPECT_FALSE(join.is_ok());
  EXPECT_NE(join.message().find("members' addresses"), std::string::npos) << join.to_string();
  EXPECT_NE(
      req(f, "GET", "/metrics").body.find("dkv_peer_refused_total{reason=\"join_not_member\"} 1"),
      std::string::npos);
  // The cluster still works, for clients anywhere.
  EXPECT_EQ(req(f, "POST", "/v0/kv", kv_json(key, "v2")).status, 200);
  EXPECT_EQ(req(leader, "GET", target).body, kv_json(key, "v2"));
}

}  // namespace
}  // namespace dkv::testing
