// TestNetwork (netns.h) on its own, without dkv: the test process reaches
// every node, and each fault drops exactly the packets it names, silently:
// the sender's sendto() succeeds and a TCP connect neither fails nor
// completes (no RST, no ICMP, no EINVAL), as across a real broken link.
// UDP tells the directions apart (TCP needs both). Skips unless root.
#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
constexpr std::uint16_t kPort = 4242;

// A socket of `type` created inside namespace `ns` ("" = ours): a thread
// joins the namespace, makes it, and exits; the socket stays in `ns`.
int socket_in(const std::string& ns, int type) {
  int fd = -1;
  std::thread t([&] {
    if (!ns.empty()) {
      const int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) return;
      ::close(nsfd);
    }
    fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  });
  t.join();
  return fd;
}

sockaddr_in address(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

class Net {
 public:
  explicit Net(TestNetwork& n) : n_(n) {}
  std::string ns(int i) const { return i == TestNetwork::kClients ? "" : n_.ns(i); }
  std::string ip(int i) const {
    return i == TestNetwork::kClients ? n_.clients_address() : n_.address(i);
  }

  // Whether a datagram from `from` reaches `to` (a few tries, 300 ms each:
  // the first may wait for ARP). Every sendto() must succeed.
  bool udp_reaches(int from, int to) {
    const int rx = socket_in(ns(to), SOCK_DGRAM);
    const int tx = socket_in(ns(from), SOCK_DGRAM);
    EXPECT_GE(rx, 0);
    EXPECT_GE(tx, 0);
    auto at = address(ip(to), kPort);
    EXPECT_EQ(::bind(rx, reinterpret_cast<sockaddr*>(&at), sizeof at), 0) << std::strerror(errno);
    auto from_at = address(ip(from), 0);
    EXPECT_EQ(::bind(tx, reinterpret_cast<sockaddr*>(&from_at), sizeof from_at), 0);
    bool got = false;
    for (int attempt = 0; attempt < 3 && !got; ++attempt) {
      const ssize_t sent = ::sendto(tx, "x", 1, 0, reinterpret_cast<sockaddr*>(&at), sizeof at);
      EXPECT_EQ(sent, 1) << "sendto failed (a cut must not be visible to the sender): "
                         << std::strerror(errno);
      pollfd p{rx, POLLIN, 0};
      got = ::poll(&p, 1, 300) == 1;
    }
    ::close(rx);
    ::close(tx);
    return got;
  }

  // TCP connect from `from` to a listener on `to`: "connected", "refused",
  // or "pending" (no answer within 1 s: silently dropped), or another errno.
  std::string tcp_connect(int from, int to) {
    const int listener = socket_in(ns(to), SOCK_STREAM);
    auto at = address(ip(to), kPort);
    const int one = 1;
    ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
    EXPECT_EQ(::listen(listener, 4), 0);
    const int c = socket_in(ns(from), SOCK_STREAM | SOCK_NONBLOCK);
    std::string result;
    if (::connect(c, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0) {
      result = "connected";
    } else if (errno != EINPROGRESS) {
      result = std::strerror(errno);
    } else {
      pollfd p{c, POLLOUT, 0};
      if (::poll(&p, 1, 1000) == 0) {
        result = "pending";
      } else {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len);
        result = err == 0 ? "connected" : err == ECONNREFUSED ? "refused" : std::strerror(err);
      }
    }
    ::close(c);
    ::close(listener);
    return result;
  }

 private:
  TestNetwork& n_;
};

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = TestNetwork::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(NetnsTest, ClientsAndNodesReachEachOther) {
  TestNetwork n(3);
  ASSERT_TRUE(n.ok()) << n.error();
  Net net(n);
  for (int to = 0; to < 3; ++to) {
    EXPECT_TRUE(net.udp_reaches(TestNetwork::kClients, to)) << to;
    EXPECT_TRUE(net.udp_reaches(to, TestNetwork::kClients)) << to;
    EXPECT_EQ(net.tcp_connect(TestNetwork::kClients, to), "connected");
    for (int from = 0; from < 3; ++from) {
      if (from == to) continue;
      EXPECT_TRUE(net.udp_reaches(from, to)) << from << "->" << to;
    }
  }
  EXPECT_EQ(n.describe(), "none");
}

TEST_F(NetnsTest, IsolateDropsSilentlyAndClientsStillReachTheNode) {
  TestNetwork n(3);
  ASSERT_TRUE(n.ok()) << n.error();
  Net net(n);
  ASSERT_TRUE(n.isolate(0)) << n.error();
  EXPECT_EQ(net.tcp_connect(0, 1), "pending");  // No RST, no ICMP, no EINVAL.
  EXPECT_EQ(net.tcp_connect(2, 0), "pending");
  EXPECT_FALSE(net.udp_reaches(0, 2));
  EXPECT_FALSE(net.udp_reaches(1, 0));
  EXPECT_TRUE(net.udp_reaches(1, 2));
  EXPECT_EQ(net.tcp_connect(TestNetwork::kClients, 0), "connected");
  ASSERT_TRUE(n.heal()) << n.error();
  EXPECT_EQ(net.tcp_connect(0, 1), "connected");
  EXPECT_EQ(net.tcp_connect(2, 0), "connected");
}

TEST_F(NetnsTest, PartitionOneWayAndBridge) {
  TestNetwork n(5);
  ASSERT_TRUE(n.ok()) << n.error();
  Net net(n);
  ASSERT_TRUE(n.partition({0, 1}, {2, 3, 4})) << n.error();
  EXPECT_TRUE(net.udp_reaches(0, 1));
  EXPECT_TRUE(net.udp_reaches(3, 4));
  EXPECT_FALSE(net.udp_reaches(1, 2));
  EXPECT_FALSE(net.udp_reaches(4, 0));
  ASSERT_TRUE(n.heal()) << n.error();

  ASSERT_TRUE(n.cut_one_way({0}, {1, 2})) << n.error();
  EXPECT_FALSE(net.udp_reaches(0, 1));
  EXPECT_FALSE(net.udp_reaches(0, 2));
  EXPECT_TRUE(net.udp_reaches(1, 0));
  EXPECT_TRUE(net.udp_reaches(2, 0));
  EXPECT_TRUE(net.udp_reaches(0, 3));
  EXPECT_EQ(n.describe(), "n0->n1 n0->n2");
  ASSERT_TRUE(n.heal()) << n.error();

  ASSERT_TRUE(n.bridge({0, 1}, 2, {3, 4})) << n.error();
  EXPECT_FALSE(net.udp_reaches(0, 3));
  EXPECT_FALSE(net.udp_reaches(4, 1));
  EXPECT_TRUE(net.udp_reaches(2, 0));
  EXPECT_TRUE(net.udp_reaches(4, 2));
  EXPECT_TRUE(net.udp_reaches(2, 3));
  ASSERT_TRUE(n.heal()) << n.error();
  EXPECT_TRUE(net.udp_reaches(0, 3));
  EXPECT_EQ(n.describe(), "none");
}

TEST_F(NetnsTest, ClientsCanBeCutToo) {
  TestNetwork n(2);
  ASSERT_TRUE(n.ok()) << n.error();
  Net net(n);
  ASSERT_TRUE(n.cut(TestNetwork::kClients, 1)) << n.error();
  EXPECT_FALSE(net.udp_reaches(TestNetwork::kClients, 1));
  EXPECT_TRUE(net.udp_reaches(1, TestNetwork::kClients));
  EXPECT_TRUE(net.udp_reaches(TestNetwork::kClients, 0));
}

// What a crashed run left (dkvt-<dead pid>-*) is removed by the next run.
TEST_F(NetnsTest, StaleNamespacesOfDeadRunsAreRemoved) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);  // Now a pid nobody has.
  const std::string stale = "dkvt-" + std::to_string(child) + "-n0";
  ASSERT_EQ(std::system(("ip netns add " + stale).c_str()), 0);
  ASSERT_EQ(::access(("/run/netns/" + stale).c_str(), F_OK), 0);
  {
    TestNetwork n(1);
    ASSERT_TRUE(n.ok()) << n.error();
    EXPECT_NE(::access(("/run/netns/" + stale).c_str(), F_OK), 0) << stale << " is still there";
    EXPECT_EQ(::access(("/run/netns/" + n.ns(0)).c_str(), F_OK), 0);
  }
  std::system(("ip netns del " + stale + " 2>/dev/null").c_str());
  EXPECT_NE(::access(("/run/netns/dkvt-" + std::to_string(::getpid()) + "-n0").c_str(), F_OK), 0)
      << "the destructor left its namespace";
}

}  // namespace
}  // namespace dkv::testing
