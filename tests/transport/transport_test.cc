// Transports of a few nodes in one process, each with its own port on
// 127.0.0.1 (ephemeral) shared, as in dkv, by the raft message streams and a
// gRPC server (snapshots, Join): ordered delivery per peer, reconnection
// after a peer comes up, snapshots in chunks, bounded queues that drop
// instead of blocking, refusal of another cluster, and the port listener's
// routing (gRPC clients, silent and garbled connections). Every wait is on a
// condition with a timeout; nothing sleeps to synchronise.
#include "transport/transport.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dkv/raftpb/raft.grpc.pb.h"
#include "transport/port_listener.h"
#include "transport/tcp_stream.h"

namespace dkv::transport {
namespace {

using namespace std::chrono_literals;
using raft::MessageType;
using raft::NodeId;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__)
constexpr int kSlowdown = 4;  // `make tsan`: gRPC and every lock are many times slower.
#else
constexpr int kSlowdown = 1;
#endif
constexpr std::chrono::seconds kWait = 15s * kSlowdown;  // Generous bound for a loaded 2-core box.

raft::Message app(NodeId from, NodeId to, std::uint64_t seq, std::size_t payload_bytes = 0) {
  raft::Message m;
  m.type = MessageType::kApp;
  m.from = from;
  m.to = to;
  m.term = 1;
  m.index = seq;
  if (payload_bytes > 0) {
    m.entries.push_back({.term = 1, .index = seq + 1, .data = std::string(payload_bytes, 'x')});
  }
  return m;
}

// One node: a Transport, its own gRPC server, and what the callbacks saw.
class TestNode {
 public:
  explicit TestNode(NodeId id, std::uint64_t cluster_id = 1, TransportOptions o = {},
                    SnapshotSinkFactory sink = nullptr, SnapshotSourceFactory source = nullptr,
                    bool batched = false)
      : id_(id) {
    o.cluster_id = cluster_id;
    o.local_id = id;
    TransportCallbacks cb;
    cb.on_message = [this](raft::Message m) {
      std::lock_guard lk(mu_);
      received_.push_back(std::move(m));
      cv_.notify_all();
    };
    if (batched) {
      cb.on_messages = [this](std::vector<raft::Message> ms) {
        std::lock_guard lk(mu_);
        ++deliveries_;
        for (raft::Message& m : ms) received_.push_back(std::move(m));
        cv_.notify_all();
      };
    }
    cb.on_unreachable = [this](NodeId peer) {
      std::lock_guard lk(mu_);
      ++unreachable_[peer];
      cv_.notify_all();
    };
    cb.on_snapshot_status = [this](NodeId peer, bool ok) {
      std::lock_guard lk(mu_);
      snapshot_status_.emplace_back(peer, ok);
      cv_.notify_all();
    };
    cb.snapshot_sink = std::move(sink);
    cb.snapshot_source = std::move(source);
    cb.membership = [id] { return "membership told by " + std::to_string(id); };
    transport_ = std::make_unique<Transport>(o, std::move(cb));
  }

  ~TestNode() {
    stop_server();
    transport_.reset();
  }

  // Serves on 127.0.0.1:`port` (0: an ephemeral port), as dkv does: one
  // listener routes message streams to the transport and the rest to a gRPC
  // server without a port of its own. False if it cannot bind.
  bool start_server(int port = 0, std::chrono::milliseconds sniff_timeout = 10s) {
    PortListenerOptions lo;
    lo.host = "127.0.0.1";
    lo.port = static_cast<std::uint16_t>(port);
    lo.sniff_timeout = sniff_timeout;
    if (!PortListener::open(lo, &listener_).is_ok()) return false;
    port_ = listener_->port();
    grpc::ServerBuilder builder;
    builder.RegisterService(transport_->service());
    Transport::configure_server(builder);
    server_ = builder.BuildAndStart();
    if (!server_) return false;
    listener_->start(
        [this](int fd, const std::string& source) { transport_->adopt_stream(fd, source); },
        [this](int fd, const std::string&) { grpc::AddInsecureChannelFromFd(server_.get(), fd); });
    return true;
  }

  // Down for good: the port closes, streams and calls end now.
  void stop_server() {
    if (!server_) return;
    listener_->stop();
    transport_->stop_inbound();
    server_->Shutdown(std::chrono::system_clock::now());  // Cancel calls now.
    server_->Wait();
    server_.reset();
    listener_.reset();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  NodeId id() const { return id_; }
  Transport& transport() { return *transport_; }

  // Waits until pred() (called under the lock) holds; false on timeout.
  template <typename Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return pred(); });
  }

  std::size_t received_count() {
    std::lock_guard lk(mu_);
    return received_.size();
  }
  std::vector<raft::Message> received() {
    std::lock_guard lk(mu_);
    return received_;
  }
  void clear_received() {
    std::lock_guard lk(mu_);
    received_.clear();
  }
  int unreachable_count(NodeId peer) {
    std::lock_guard lk(mu_);
    return unreachable_[peer];
  }

  // Read under the lock, inside wait() predicates.
  std::vector<raft::Message> received_;
  std::map<NodeId, int> unreachable_;
  std::vector<std::pair<NodeId, bool>> snapshot_status_;
  int deliveries_ = 0;  // Calls of on_messages (batched nodes only).

 private:
  const NodeId id_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<PortListener> listener_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Polls a condition no callback signals (transport counters), bounded.
template <typename Pred>
bool eventually(Pred pred) {
  const auto deadline = Clock::now() + kWait;
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// Both nodes know each other.
void connect(TestNode& a, TestNode& b) {
  a.transport().add_peer(b.id(), b.address());
  b.transport().add_peer(a.id(), a.address());
}

TransportOptions large_queues() {
  TransportOptions o;
  o.queue_msgs_max = 1 << 20;
  o.queue_bytes_max = std::uint64_t{1} << 30;
  return o;
}

TEST(TransportTest, ManyMessagesArriveInOrderPerPeer) {
  constexpr std::uint64_t kPerPair = 20000;
  std::vector<std::unique_ptr<TestNode>> nodes;
  for (NodeId id = 1; id <= 3; ++id) {
    nodes.push_back(std::make_unique<TestNode>(id, 1, large_queues()));
    ASSERT_TRUE(nodes.back()->start_server());
  }
  for (int i = 0; i < 3; ++i) {
    for (int j = i + 1; j < 3; ++j) connect(*nodes[i], *nodes[j]);
  }
  // Each node sends kPerPair messages to each other node, 50 per send() call
  // interleaved across destinations, as a raft loop would.
  for (std::uint64_t seq = 1; seq <= kPerPair; seq += 25) {
    for (auto& from : nodes) {
      std::vector<raft::Message> batch;
      for (std::uint64_t s = seq; s < seq + 25 && s <= kPerPair; ++s) {
        for (auto& to : nodes) {
          if (to->id() != from->id()) batch.push_back(app(from->id(), to->id(), s, 32));
        }
      }
      from->transport().send(std::move(batch));
    }
  }
  for (auto& n : nodes) {
    ASSERT_TRUE(n->wait([&] { return n->received_.size() == 2 * kPerPair; }))
        << "node " << n->id() << " got " << n->received_count();
    std::map<NodeId, std::uint64_t> last;
    for (const raft::Message& m : n->received()) {
      ASSERT_EQ(m.to, n->id());
      ASSERT_EQ(m.index, last[m.from] + 1) << "from " << m.from;
      ASSERT_EQ(m.entries.size(), 1u);
      last[m.from] = m.index;
    }
    for (auto& other : nodes) {
      if (other->id() == n->id()) continue;
      EXPECT_EQ(last[other->id()], kPerPair);
      const auto stats = other->transport().peer_stats(n->id());
      ASSERT_TRUE(stats.has_value());
      EXPECT_EQ(stats->sent_msgs, kPerPair);
      EXPECT_EQ(stats->dropped_msgs, 0u);
      EXPECT_TRUE(stats->connected);
    }
  }
}

// Not a speed assertion: prints messages/s from one transport to another.
TEST(TransportTest, ThroughputBetweenTwoTransports) {
  TestNode a(1, 1, large_queues());
  TestNode b(2, 1, large_queues());
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  // Warm up: the first message waits for the connection.
  a.transport().send({app(1, 2, 0)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  for (std::size_t payload : {0, 256, 4096}) {
    const std::uint64_t n = (payload >= 4096 ? 50000 : 200000) / (kSlowdown * kSlowdown);
    const std::size_t before = b.received_count();
    const auto start = Clock::now();
    for (std::uint64_t seq = 1; seq <= n; seq += 64) {
      std::vector<raft::Message> batch;
      for (std::uint64_t s = seq; s < seq + 64 && s <= n; ++s)
        batch.push_back(app(1, 2, s, payload));
      a.transport().send(std::move(batch));
    }
    ASSERT_TRUE(b.wait([&] { return b.received_.size() == before + n; }));
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "transport throughput: %llu msgs with %zu-byte entries in %.3f s: %.0f msgs/s, %.1f "
        "MiB/s\n",
        static_cast<unsigned long long>(n), payload, secs, n / secs,
        n * static_cast<double>(payload) / secs / (1 << 20));
  }
}

// Not a speed assertion: prints the round-trip time of one message each way
// (a -> b, then b -> a), as a heartbeat and its response would take.
TEST(TransportTest, RoundTripLatencyBetweenTwoTransports) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  constexpr int kRounds = 2000;
  std::vector<double> rtt_us;
  for (int i = 0; i <= kRounds; ++i) {
    const auto start = Clock::now();
    a.transport().send({app(1, 2, i)});
    ASSERT_TRUE(b.wait([&] { return b.received_.size() == static_cast<std::size_t>(i + 1); }));
    b.transport().send({app(2, 1, i)});
    ASSERT_TRUE(a.wait([&] { return a.received_.size() == static_cast<std::size_t>(i + 1); }));
    if (i > 0) {  // The first round includes connecting.
      rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  std::sort(rtt_us.begin(), rtt_us.end());
  std::printf("transport round trip over %d rounds: p50 %.0f us, p99 %.0f us\n", kRounds,
              rtt_us[rtt_us.size() / 2], rtt_us[rtt_us.size() * 99 / 100]);
}

TEST(TransportTest, PeerDownThenUpReconnects) {
  TestNode a(1);
  ASSERT_TRUE(a.start_server());
  // Learn a free port for b, then close it: b is down at first.
  int b_port = 0;
  {
    TestNode probe(2);
    ASSERT_TRUE(probe.start_server());
    b_port = probe.port();
  }
  a.transport().add_peer(2, "127.0.0.1:" + std::to_string(b_port));
  std::uint64_t seq = 0;
  a.transport().send({app(1, 2, ++seq)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 0; }));
  // While down, sends drop and keep reporting.
  a.transport().send({app(1, 2, ++seq)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 1; }));
  EXPECT_FALSE(a.transport().peer_stats(2)->connected);

  TestNode b(2);
  ASSERT_TRUE(b.start_server(b_port));
  b.transport().add_peer(1, a.address());
  // Keep sending, as Raft's heartbeats would, until one gets through.
  const auto deadline = Clock::now() + kWait;
  while (b.received_count() == 0 && Clock::now() < deadline) {
    a.transport().send({app(1, 2, ++seq)});
    b.wait([&] { return !b.received_.empty(); }, 20ms);
  }
  ASSERT_GT(b.received_count(), 0u);
  // Now the stream is up: a burst arrives whole and in order.
  const std::uint64_t first = seq + 1;
  for (int i = 0; i < 100; ++i) a.transport().send({app(1, 2, ++seq)});
  ASSERT_TRUE(b.wait([&] { return !b.received_.empty() && b.received_.back().index == seq; }));
  std::uint64_t prev = 0;
  for (const raft::Message& m : b.received()) {
    EXPECT_GT(m.index, prev);
    prev = m.index;
  }
  std::uint64_t burst = 0;
  for (const raft::Message& m : b.received()) burst += m.index >= first;
  EXPECT_EQ(burst, 100u);
  EXPECT_TRUE(a.transport().peer_stats(2)->connected);
  // A forwarded request keeps its original `from` (kTransferLeader names
  // the transferee there).
  raft::Message forwarded = app(3, 2, 0);
  forwarded.type = MessageType::kTransferLeader;
  a.transport().send({forwarded});
  ASSERT_TRUE(b.wait([&] { return b.received_.back().type == MessageType::kTransferLeader; }));
  EXPECT_EQ(b.received().back(), forwarded);
  // And back the other way.
  b.transport().send({app(2, 1, 7)});
  ASSERT_TRUE(a.wait([&] { return a.received_.size() == 1; }));

  // b goes down again: a notices and reports.
  const int before = a.unreachable_count(2);
  b.stop_server();
  while (a.unreachable_count(2) == before && Clock::now() < deadline + kWait) {
    a.transport().send({app(1, 2, ++seq)});
    a.wait([&] { return a.unreachable_[2] > before; }, 20ms);
  }
  EXPECT_GT(a.unreachable_count(2), before);
}

raft::Message snapshot_message(NodeId from, NodeId to, std::size_t bytes) {
  raft::Message m;
  m.type = MessageType::kSnap;
  m.from = from;
  m.to = to;
  m.term = 3;
  raft::Snapshot s;
  s.metadata.index = 1000;
  s.metadata.term = 2;
  s.metadata.conf_state.voters = {1, 2, 3};
  s.data.resize(bytes);
  std::mt19937_64 rng(42);
  for (char& c : s.data) c = static_cast<char>(rng());
  m.snapshot = std::move(s);
  return m;
}

TEST(TransportTest, SnapshotArrivesIntactInChunks) {
  TransportOptions o;
  o.snapshot_chunk_bytes = 256 * 1024;
  TestNode a(1, 1, o);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  const std::size_t sizes[] = {5 * 1024 * 1024 + 123, 0};
  for (std::size_t i = 0; i < std::size(sizes); ++i) {
    const raft::Message snap = snapshot_message(1, 2, sizes[i]);
    a.transport().send({snap});
    // Heartbeats keep flowing beside it on the message stream.
    a.transport().send({app(1, 2, 1)});
    ASSERT_TRUE(b.wait([&] {
      for (const raft::Message& m : b.received_) {
        if (m.type == MessageType::kSnap) return true;
      }
      return false;
    }));
    ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == i + 1; }));
    EXPECT_EQ(a.snapshot_status_[i], std::make_pair(NodeId{2}, true));
    std::vector<raft::Message> got = b.received();
    for (const raft::Message& m : got) {
      if (m.type == MessageType::kSnap) {
        EXPECT_TRUE(m == snap) << "snapshot " << i << " differs";
      }
    }
    ASSERT_TRUE(b.wait([&] { return b.received_.size() == 2; }));
    b.clear_received();
  }
  EXPECT_EQ(a.transport().peer_stats(2)->snapshots_sent, 2u);
}

// A sink that refuses data past a limit, like a full disk would.
class LimitedSink final : public SnapshotSink {
 public:
  explicit LimitedSink(std::uint64_t limit_bytes) : limit_bytes_(limit_bytes) {}
  util::Status write(std::string_view data) override {
    if (data_.size() + data.size() > limit_bytes_) return util::resource_exhausted("sink full");
    data_.append(data);
    return util::Status::ok();
  }
  util::Status finish(raft::Message* msg) override {
    msg->snapshot->data = std::move(data_);
    return util::Status::ok();
  }

 private:
  const std::uint64_t limit_bytes_;
  std::string data_;
};

TEST(TransportTest, SnapshotSinkDecidesWhereDataGoesAndCanRefuse) {
  std::atomic<std::uint64_t> announced_bytes{0};
  TestNode a(1);
  TestNode b(2, 1, {}, [&](const raft::Message& header, std::uint64_t total_bytes) {
    EXPECT_EQ(header.type, MessageType::kSnap);
    EXPECT_TRUE(header.snapshot.has_value() && header.snapshot->data.empty());
    announced_bytes = total_bytes;
    return std::make_unique<LimitedSink>(3 << 20);
  });
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  const raft::Message small = snapshot_message(1, 2, 2 << 20);
  a.transport().send({small});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 1; }));
  EXPECT_TRUE(a.snapshot_status_[0].second);
  EXPECT_EQ(announced_bytes.load(), std::uint64_t{2} << 20);
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  EXPECT_EQ(b.received()[0], small);

  a.transport().send({snapshot_message(1, 2, 5 << 20)});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 2; }));
  EXPECT_FALSE(a.snapshot_status_[1].second);
  EXPECT_EQ(b.received_count(), 1u);
  EXPECT_EQ(a.transport().peer_stats(2)->snapshots_failed, 1u);
}

// A source of `total` bytes (byte k is k * 7 mod 251) that fails once
// `fail_at` bytes were read, like a read error on the snapshot file.
class PatternSource final : public SnapshotSource {
 public:
  PatternSource(std::uint64_t total, std::uint64_t fail_at) : total_(total), fail_at_(fail_at) {}
  static std::string expected(std::uint64_t total) {
    std::string s(total, '\0');
    for (std::uint64_t k = 0; k < total; ++k) s[k] = static_cast<char>(k * 7 % 251);
    return s;
  }
  std::uint64_t total_bytes() const override { return total_; }
  util::Status read(std::uint64_t max_bytes, std::string* data) override {
    if (offset_ >= fail_at_) return util::internal_error("read error");
    const std::uint64_t n = std::min(max_bytes, total_ - offset_);
    data->resize(n);
    for (std::uint64_t k = 0; k < n; ++k) (*data)[k] = static_cast<char>((offset_ + k) * 7 % 251);
    offset_ += n;
    if (n > max_read_) max_read_ = n;
    return util::Status::ok();
  }
  static inline std::atomic<std::uint64_t> max_read_{0};

 private:
  const std::uint64_t total_;
  const std::uint64_t fail_at_;
  std::uint64_t offset_ = 0;
};

TEST(TransportTest, SnapshotDataComesFromTheSourceAndAFailingSourceAborts) {
  constexpr std::uint64_t kTotal = (3 << 20) + 77;
  std::atomic<std::uint64_t> fail_at{UINT64_MAX};
  std::atomic<bool> open_fails{false};
  TransportOptions o;
  o.snapshot_chunk_bytes = 256 * 1024;
  TestNode a(1, 1, o, nullptr,
             [&](const raft::Message& m, std::unique_ptr<SnapshotSource>* out) -> util::Status {
               EXPECT_EQ(m.snapshot->metadata.index, 1000u);  // The source goes by metadata.
               if (open_fails) return util::not_found("no such snapshot file");
               *out = std::make_unique<PatternSource>(kTotal, fail_at);
               return util::Status::ok();
             });
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  const raft::Message meta_only = snapshot_message(1, 2, 0);
  a.transport().send({meta_only});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 1; }));
  EXPECT_TRUE(a.snapshot_status_[0].second);
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  raft::Message want = meta_only;
  want.snapshot->data = PatternSource::expected(kTotal);
  EXPECT_TRUE(b.received()[0] == want);
  EXPECT_LE(PatternSource::max_read_.load(), o.snapshot_chunk_bytes);  // Chunk by chunk.

  fail_at = 1 << 20;  // A read error part way: the receiver must get nothing.
  a.transport().send({meta_only});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 2; }));
  EXPECT_FALSE(a.snapshot_status_[1].second);
  open_fails = true;  // No file to open.
  a.transport().send({meta_only});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 3; }));
  EXPECT_FALSE(a.snapshot_status_[2].second);
  EXPECT_EQ(b.received_count(), 1u);
  EXPECT_EQ(a.transport().peer_stats(2)->snapshots_failed, 2u);
}

TEST(TransportTest, SnapshotToADownPeerReportsFailure) {
  TestNode a(1);
  int port = 0;
  {
    TestNode probe(2);
    ASSERT_TRUE(probe.start_server());
    port = probe.port();
  }
  a.transport().add_peer(2, "127.0.0.1:" + std::to_string(port));
  a.transport().send({snapshot_message(1, 2, 1000)});
  ASSERT_TRUE(a.wait([&] { return !a.snapshot_status_.empty(); }));
  EXPECT_EQ(a.snapshot_status_[0], std::make_pair(NodeId{2}, false));
}

// Raw sockets, for peers and clients made by hand.
int connect_raw(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

void send_raw(int fd, const std::string& bytes) {
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
}

std::string be(std::uint64_t v, int bytes) {
  std::string out(bytes, '\0');
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

std::string hello(std::uint64_t cluster, NodeId from, NodeId to) {
  return std::string(kStreamMagic) + be(cluster, 8) + be(from, 8) + be(to, 8);
}

// Reads what `fd` receives until the peer closes it (true) or `timeout`.
// *got collects the bytes (the answer, beats).
bool wait_closed(int fd, std::chrono::milliseconds timeout, std::string* got = nullptr) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return true;  // EOF or reset.
    if (got != nullptr) got->append(buf, static_cast<std::size_t>(n));
  }
  return false;
}

// A peer that accepts message streams as node `id` would and then never
// reads them: the sender's writes stall on TCP flow control, as with a peer
// that is overloaded while it still beats. Its snapshot streams (gRPC) are
// accepted and never read either.
class StalledPeer final : public raftpb::Raft::CallbackService {
 public:
  explicit StalledPeer(NodeId id) : id_(id) {
    PortListenerOptions lo;
    lo.host = "127.0.0.1";
    EXPECT_TRUE(PortListener::open(lo, &listener_).is_ok());
    grpc::ServerBuilder builder;
    builder.RegisterService(this);
    Transport::configure_server(builder);
    server_ = builder.BuildAndStart();
    listener_->start(
        [this](int fd, const std::string&) { accept_stream(fd); },
        [this](int fd, const std::string&) { grpc::AddInsecureChannelFromFd(server_.get(), fd); });
    beater_ = std::thread([this] { beat(); });
  }
  ~StalledPeer() override {
    listener_->stop();
    stop_ = true;
    beater_.join();
    for (int fd : streams_) ::close(fd);
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(listener_->port()); }

  grpc::ServerReadReactor<raftpb::SnapshotChunk>* SendSnapshot(grpc::CallbackServerContext* ctx,
                                                               raftpb::SnapshotResponse*) override {
    ++snapshots_started_;
    return new Stall(ctx);
  }
  int started() const { return snapshots_started_; }

 private:
  // Accepts without reading the hello: the answer is all the dialer waits for.
  void accept_stream(int fd) {
    const std::string answer = be(0, 4) + be(id_, 8) + be(0, 4);
    EXPECT_EQ(::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(answer.size()));
    std::lock_guard lk(mu_);
    streams_.push_back(fd);
  }

  // Alive, as far as the dialers can tell.
  void beat() {
    while (!stop_) {
      {
        std::lock_guard lk(mu_);
        for (int fd : streams_) ::send(fd, "", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
      std::this_thread::sleep_for(200ms);  // The beat's period, not a synchronisation.
    }
  }

  class Stall final : public grpc::ServerReadReactor<raftpb::SnapshotChunk> {
   public:
    explicit Stall(grpc::CallbackServerContext*) {}  // Never reads.
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }
  };

  const NodeId id_;
  std::atomic<int> snapshots_started_{0};
  std::unique_ptr<PortListener> listener_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::vector<int> streams_;
  std::atomic<bool> stop_{false};
  std::thread beater_;
};

TEST(TransportTest, FullQueueDropsInsteadOfBlocking) {
  TransportOptions o;
  o.queue_msgs_max = 64;
  o.queue_bytes_max = 1 << 20;
  TestNode a(1, 1, o);
  TestNode c(3);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(c.start_server());
  StalledPeer stalled(2);
  a.transport().add_peer(2, stalled.address());
  connect(a, c);
  // Wait until the stalled stream is up, so that drops come from the full
  // queue and not from a peer known to be down.
  ASSERT_TRUE(eventually([&] { return a.transport().peer_stats(2)->connected; }));
  // 2000 messages of 4 KiB to the stuck peer, interleaved with messages to a
  // healthy one: every send() returns, the stuck peer's queue stays bounded.
  for (std::uint64_t seq = 1; seq <= 2000; ++seq) {
    a.transport().send({app(1, 2, seq, 4096), app(1, 3, seq)});
  }
  const auto stats = a.transport().peer_stats(2);
  ASSERT_TRUE(stats.has_value());
  EXPECT_LE(stats->queued_msgs, 64u);
  EXPECT_LE(stats->queued_bytes, std::uint64_t{1} << 20);
  EXPECT_GT(stats->dropped_msgs, 0u);
  EXPECT_TRUE(stats->connected);  // Stalled, not broken: keepalive pings are answered.
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 0; }));
  // The stuck peer does not hold up the healthy one: its queue drains (it
  // may have dropped too, the loop outpaces any stream) and a new message
  // gets through.
  ASSERT_TRUE(eventually([&] { return a.transport().peer_stats(3)->queued_msgs == 0; }));
  a.transport().send({app(1, 3, 5000)});
  ASSERT_TRUE(c.wait([&] { return !c.received_.empty() && c.received_.back().index == 5000; }))
      << "c got " << c.received_count() << ", a->c sent " << a.transport().peer_stats(3)->sent_msgs
      << " dropped " << a.transport().peer_stats(3)->dropped_msgs << " queued "
      << a.transport().peer_stats(3)->queued_msgs;
}

TEST(TransportTest, SecondSnapshotWhileOneIsInFlightFails) {
  StalledPeer stalled(2);
  TestNode a(1);
  a.transport().add_peer(2, stalled.address());
  a.transport().send({snapshot_message(1, 2, 8 << 20)});
  ASSERT_TRUE(eventually([&] { return stalled.started() > 0; }));
  a.transport().send({snapshot_message(1, 2, 1000)});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 1; }));
  EXPECT_EQ(a.snapshot_status_[0], std::make_pair(NodeId{2}, false));
}

TEST(TransportTest, LargeMessagesGoAloneAndOversizeOnesDrop) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  // Past batch_bytes_max (4 MiB) but within the wire limit: sent alone,
  // between its neighbours.
  a.transport().send({app(1, 2, 1, 1000), app(1, 2, 2, 6 << 20), app(1, 2, 3, 1000)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 3; }));
  EXPECT_EQ(b.received()[1].entries.at(0).data.size(), std::size_t{6} << 20);
  EXPECT_EQ(b.received()[2].index, 3u);
  // Past kWireMessageBytesMax: dropped at send() and reported.
  a.transport().send({app(1, 2, 4, kWireMessageBytesMax), app(1, 2, 5)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 0; }));
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 4; }));
  EXPECT_EQ(b.received().back().index, 5u);
  EXPECT_EQ(a.transport().peer_stats(2)->dropped_msgs, 1u);
}

TEST(TransportTest, ForeignClusterIsRefused) {
  TestNode a(1, /*cluster_id=*/1);
  TestNode b(2, /*cluster_id=*/2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 0; }));
  EXPECT_EQ(b.received_count(), 0u);
  EXPECT_EQ(a.transport().peer_stats(2)->connects, 0u);

  // A hand-made stream with b's cluster id in its hello but another one in
  // the batch header is refused at the batch: b closes the connection.
  const int fd = connect_raw(b.port());
  send_raw(fd, hello(2, 1, 2));
  raftpb::MessageBatch batch;
  batch.mutable_header()->set_cluster_id(1);
  batch.mutable_header()->set_from(1);
  batch.mutable_header()->set_to(2);
  raftpb::Message* m = batch.add_messages();
  m->set_type(raftpb::MSG_HEARTBEAT);
  m->set_from(1);
  m->set_to(2);
  const std::string body = batch.SerializeAsString();
  send_raw(fd, be(body.size(), 4) + body);
  std::string got;
  EXPECT_TRUE(wait_closed(fd, kWait, &got));
  ASSERT_GE(got.size(), 16u);
  EXPECT_EQ(got.substr(0, 4), be(0, 4)) << "the hello itself was fine";
  EXPECT_EQ(b.received_count(), 0u);
  ::close(fd);

  // A hello of another cluster is answered FAILED_PRECONDITION, then closed.
  const int foreign = connect_raw(b.port());
  send_raw(foreign, hello(1, 1, 2));
  got.clear();
  EXPECT_TRUE(wait_closed(foreign, kWait, &got));
  ASSERT_GE(got.size(), 16u);
  EXPECT_EQ(got.substr(0, 4), be(static_cast<int>(util::Code::kFailedPrecondition), 4));
  EXPECT_EQ(got.substr(4, 8), be(2, 8));  // b says who it is.
  ::close(foreign);
}

TEST(TransportTest, MessageForAnotherNodeIsRefused) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  // a believes node 3 lives at b's address.
  a.transport().add_peer(3, b.address());
  a.transport().send({app(1, 3, 1)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[3] > 0; }));
  EXPECT_EQ(b.received_count(), 0u);
}

TEST(TransportTest, UnknownAndRemovedPeersAreReportedUnreachable) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  a.transport().send({app(1, 9, 1)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[9] > 0; }));
  a.transport().send({snapshot_message(1, 9, 10)});
  ASSERT_TRUE(a.wait([&] { return a.snapshot_status_.size() == 1; }));
  EXPECT_EQ(a.snapshot_status_[0], std::make_pair(NodeId{9}, false));

  connect(a, b);
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  a.transport().remove_peer(2);
  EXPECT_FALSE(a.transport().peer_stats(2).has_value());
  a.transport().send({app(1, 2, 2)});
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 0; }));
  // Re-adding works and the stream resumes.
  a.transport().add_peer(2, b.address());
  a.transport().send({app(1, 2, 3)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 2; }));
  EXPECT_EQ(b.received().back().index, 3u);
}

// A TCP relay in front of a peer's server that can cut the link silently:
// partition() stops forwarding in both directions without closing anything
// (the kernel still acknowledges bytes, nothing answers), as a partition
// drops packets rather than resetting connections; heal() closes the cut
// connections and forwards new ones again.
class Relay {
 public:
  explicit Relay(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr = loopback(0);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Relay() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  void partition() { partitioned_ = true; }
  void heal() {
    heal_ = true;
    partitioned_ = false;
  }
  // Stops / restarts copying, keeping the connections (a slow reader).
  void pause() { partitioned_ = true; }
  void resume() { partitioned_ = false; }

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
  }

  // Copies what `from` has to `to`; false when `from` is closed or failed.
  static bool pump(int from, int to) {
    char buf[64 * 1024];
    const ssize_t n = ::read(from, buf, sizeof(buf));
    if (n <= 0) return false;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(to, buf + done, n - done);
      if (w <= 0) return false;
      done += w;
    }
    return true;
  }

  void run() {
    std::vector<std::pair<int, int>> conns;  // (accepted, to target)
    const auto close_all = [&] {
      for (auto [c, t] : conns) {
        ::close(c);
        ::close(t);
      }
      conns.clear();
    };
    while (!stop_) {
      if (heal_.exchange(false)) close_all();
      const bool cut = partitioned_;
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto [c, t] : conns) {
        fds.push_back({c, static_cast<short>(cut ? 0 : POLLIN), 0});
        fds.push_back({t, static_cast<short>(cut ? 0 : POLLIN), 0});
      }
      ::poll(fds.data(), fds.size(), 20);
      const std::size_t polled = conns.size();  // fds covers these only.
      if (fds[0].revents & POLLIN) {
        const int c = ::accept(listen_fd_, nullptr, nullptr);
        const int t = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr = loopback(target_port_);
        if (c >= 0 && ::connect(t, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
          conns.emplace_back(c, t);
        } else {
          if (c >= 0) ::close(c);
          ::close(t);
        }
      }
      if (cut) continue;
      std::vector<std::pair<int, int>> alive(conns.begin() + polled, conns.end());
      for (std::size_t i = 0; i < polled; ++i) {
        const auto [c, t] = conns[i];
        const short rc = fds[1 + 2 * i].revents;
        const short rt = fds[2 + 2 * i].revents;
        bool ok = true;
        if (rc != 0) ok = pump(c, t);
        if (ok && rt != 0) ok = pump(t, c);
        if (ok) {
          alive.emplace_back(c, t);
        } else {
          ::close(c);
          ::close(t);
        }
      }
      conns.swap(alive);
    }
    close_all();
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> partitioned_{false};
  std::atomic<bool> heal_{false};
  std::thread thread_;
};

TEST(TransportTest, SilentPartitionIsNoticedByKeepalive) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  Relay relay(b.port());
  a.transport().add_peer(2, relay.address());
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  ASSERT_EQ(a.unreachable_count(2), 0);

  relay.partition();
  const auto cut = Clock::now();
  // Nothing is sent: only keepalive pings (1 s, answer within 1 s) can tell.
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > 0; }));
  const auto noticed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - cut).count();
  std::printf("transport: silent partition noticed after %lld ms\n",
              static_cast<long long>(noticed_ms));
  EXPECT_FALSE(a.transport().peer_stats(2)->connected);

  relay.heal();
  std::uint64_t seq = 1;
  const auto deadline = Clock::now() + kWait;
  while (b.received_count() == 1 && Clock::now() < deadline) {
    a.transport().send({app(1, 2, ++seq)});
    b.wait([&] { return b.received_.size() > 1; }, 20ms);
  }
  EXPECT_GT(b.received_count(), 1u);
}

TEST(TransportTest, DestroyingWithStuckPeersIsPrompt) {
  StalledPeer stalled(2);
  auto a = std::make_unique<TestNode>(1);
  a->transport().add_peer(2, stalled.address());
  a->transport().send({app(1, 2, 1, 1000), snapshot_message(1, 2, 4 << 20)});
  // The destructor cancels the stuck calls (bounded by ctest's timeout).
  a.reset();
}

// The port's other tenant: a plain gRPC client (here Join, as a joining
// node asks) is served while a message stream is up on the same port.
TEST(TransportTest, GrpcClientsShareThePortWithMessageStreams) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  JoinInfo info;
  const util::Status s = fetch_join_info(b.address(), "c", kWait, &info);
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(info.cluster_id, 1u);
  EXPECT_EQ(info.membership, "membership told by 2");
  a.transport().send({app(1, 2, 2)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 2; }));
  EXPECT_EQ(a.transport().peer_stats(2)->connects, 1u);  // The same stream throughout.
}

// Connections that say nothing (or only a prefix of the magic) wait in the
// listener without holding up others, and are closed at the sniff deadline.
TEST(TransportTest, SilentConnectionIsClosedWithoutBlockingOthers) {
  constexpr auto kSniff = 3s;
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server(0, kSniff));
  const auto opened = Clock::now();
  const int silent = connect_raw(b.port());
  const int partial = connect_raw(b.port());
  send_raw(partial, "DKV");
  // Meanwhile a message stream and a gRPC call get through.
  connect(a, b);
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  JoinInfo info;
  ASSERT_TRUE(fetch_join_info(b.address(), "c", kWait, &info).is_ok());
  const bool before_deadline = Clock::now() - opened < kSniff;
  if (before_deadline) {
    pollfd p{silent, POLLIN, 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << "closed before its deadline";
  } else {
    std::printf("(the box is slow: the others finished after the sniff deadline)\n");
  }
  EXPECT_TRUE(wait_closed(silent, kWait));
  EXPECT_TRUE(wait_closed(partial, kWait));
  EXPECT_GE(Clock::now() - opened, kSniff);
  ::close(silent);
  ::close(partial);
}

// Garbage on one connection closes that connection only: the frame that does
// not decode, a frame longer than the wire limit, and on the gRPC side
// something that is not HTTP/2.
TEST(TransportTest, GarbageOnAConnectionClosesOnlyThatConnection) {
  TestNode a(1);
  TestNode b(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  const std::string garbage[] = {
      be(10, 4) + std::string(10, '\xff'),
      be(static_cast<std::uint64_t>(kWireMessageBytesMax) + 1, 4),
  };
  for (const std::string& bytes : garbage) {
    const int fd = connect_raw(b.port());
    send_raw(fd, hello(1, 3, 2) + bytes);
    std::string got;
    EXPECT_TRUE(wait_closed(fd, kWait, &got));
    ASSERT_GE(got.size(), 16u);
    EXPECT_EQ(got.substr(0, 4), be(0, 4)) << "the hello itself was fine";
    ::close(fd);
  }
  const int http1 = connect_raw(b.port());
  send_raw(http1, "GET / HTTP/1.1\r\nHost: b\r\n\r\n");
  EXPECT_TRUE(wait_closed(http1, kWait));
  ::close(http1);

  a.transport().send({app(1, 2, 2)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 2; }));
  EXPECT_EQ(b.received().back().index, 2u);
  EXPECT_EQ(a.transport().peer_stats(2)->connects, 1u);
}

// The listener on a host name (it binds every address the name resolves
// to, all on one port): the magic goes to on_stream, an HTTP/2 preface to
// on_other, and a second listener on that port is refused.
TEST(TransportTest, ListenerRoutesByFirstBytesAndOwnsItsPort) {
  PortListenerOptions lo;
  lo.host = "localhost";
  std::unique_ptr<PortListener> listener;
  ASSERT_TRUE(PortListener::open(lo, &listener).is_ok());
  std::mutex mu;
  std::condition_variable cv;
  int streams = 0;
  int others = 0;
  const auto count = [&](int* n) {
    return [&, n](int fd, const std::string&) {
      ::close(fd);
      std::lock_guard lk(mu);
      ++*n;
      cv.notify_all();
    };
  };
  listener->start(count(&streams), count(&others));
  const int v4 = connect_raw(listener->port());
  send_raw(v4, std::string(kStreamMagic));
  const int other = connect_raw(listener->port());
  send_raw(other, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, kWait, [&] { return streams == 1 && others == 1; }));
  }
  ::close(v4);
  ::close(other);

  PortListenerOptions again;
  again.host = "127.0.0.1";
  again.port = static_cast<std::uint16_t>(listener->port());
  std::unique_ptr<PortListener> second;
  const util::Status s = PortListener::open(again, &second);
  EXPECT_EQ(s.code(), util::Code::kUnavailable) << s.to_string();
}

}  // namespace
}  // namespace dkv::transport

namespace dkv::transport {
namespace {

// The stream's own reader thread hands what one read completed over in one
// call: many messages, few calls, in order.
TEST(TransportTest, ReaderHandsOverWhatOneReadCompletedAtOnce) {
  TestNode a(1, 1, large_queues());
  TestNode b(2, 1, large_queues(), nullptr, nullptr, /*batched=*/true);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  connect(a, b);
  a.transport().send({app(1, 2, 0)});  // Once the stream is up, frames go out one by one.
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  b.clear_received();
  constexpr std::uint64_t kMsgs = 5000;
  for (std::uint64_t seq = 1; seq <= kMsgs; seq += 500) {
    std::vector<raft::Message> batch;
    for (std::uint64_t s = seq; s < seq + 500; ++s) batch.push_back(app(1, 2, s, 16));
    a.transport().send(std::move(batch));
  }
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == kMsgs; }));
  const auto got = b.received();
  for (std::uint64_t i = 0; i < kMsgs; ++i) ASSERT_EQ(got[i].index, i + 1);
  // Each send() went out as one frame (or fewer, batched): at most one
  // call per frame, not one per message.
  int deliveries = 0;
  b.wait([&] {
    deliveries = b.deliveries_ - 1;  // Less the warm-up's.
    return true;
  });
  EXPECT_LE(deliveries, static_cast<int>(kMsgs / 500));
  std::printf("transport: %llu messages in %d deliveries\n", static_cast<unsigned long long>(kMsgs),
              deliveries);
}

// send() writes to an idle stream itself; when the socket takes only part
// of the frame (the reader is slow), the sender thread writes the rest
// before anything queued after it: every message arrives once, in order.
TEST(TransportTest, PartialDirectWriteKeepsOrder) {
  TransportOptions o = large_queues();
  o.keepalive_time_ms = 3000;  // The pause below must not look like a dead link.
  o.keepalive_timeout_ms = 3000;
  TestNode a(1, 1, o);
  TestNode b(2, 1, o);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b.start_server());
  Relay relay(b.port());
  a.transport().add_peer(2, relay.address());
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 1; }));
  // Usually sent before the stream was up (queued); directly if a slow
  // test thread (ThreadSanitizer) let the stream come up first.
  const std::uint64_t direct_before = a.transport().peer_stats(2)->direct_msgs;
  EXPECT_LE(direct_before, 1u);
  // Idle stream: written by send() itself.
  a.transport().send({app(1, 2, 2)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 2; }));
  EXPECT_EQ(a.transport().peer_stats(2)->direct_msgs, direct_before + 1);

  // The relay stops reading: the socket fills, a direct write is cut short
  // and what follows queues behind its rest.
  relay.pause();
  constexpr std::uint64_t kMsgs = 200;  // 256 KiB each: 50 MiB, past any socket buffers.
  for (std::uint64_t seq = 3; seq < 3 + kMsgs; ++seq) {
    a.transport().send({app(1, 2, seq, 256 << 10)});
  }
  const auto paused = a.transport().peer_stats(2);
  EXPECT_GE(paused->direct_rests, 1u);
  EXPECT_GT(paused->queued_msgs, 0u);
  relay.resume();
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 2 + kMsgs; }))
      << "b got " << b.received_count();
  const auto got = b.received();
  for (std::uint64_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].index, i + 1);
    if (i >= 2) {
      ASSERT_EQ(got[i].entries.at(0).data.size(), std::size_t{256} << 10);
    }
  }
  const auto stats = a.transport().peer_stats(2);
  EXPECT_EQ(stats->sent_msgs, 2 + kMsgs);
  EXPECT_EQ(stats->dropped_msgs, 0u);
  EXPECT_EQ(a.unreachable_count(2), 0);
  // Idle again: send() writes directly once more.
  const std::uint64_t direct = stats->direct_msgs;
  a.transport().send({app(1, 2, 3 + kMsgs)});
  ASSERT_TRUE(b.wait([&] { return b.received_.size() == 3 + kMsgs; }));
  EXPECT_EQ(a.transport().peer_stats(2)->direct_msgs, direct + 1);
}

// A peer that goes down while send() writes to it directly: the stream
// ends, the peer is reported unreachable, and sends drop (none queue) until
// it is back.
TEST(TransportTest, PeerDownWhileWritingDirectlyDropsAndReports) {
  TestNode a(1);
  auto b = std::make_unique<TestNode>(2);
  ASSERT_TRUE(a.start_server());
  ASSERT_TRUE(b->start_server());
  connect(a, *b);
  a.transport().send({app(1, 2, 1)});
  ASSERT_TRUE(b->wait([&] { return b->received_.size() == 1; }));
  std::uint64_t seq = 1;
  a.transport().send({app(1, 2, ++seq)});
  ASSERT_TRUE(b->wait([&] { return b->received_.size() == 2; }));
  ASSERT_GT(a.transport().peer_stats(2)->direct_msgs, 0u);

  b.reset();  // Down: its port closes, its streams end.
  // Raft keeps sending (heartbeats); the transport notices and reports.
  const auto deadline = Clock::now() + kWait;
  while (a.unreachable_count(2) == 0 && Clock::now() < deadline) {
    a.transport().send({app(1, 2, ++seq)});
    a.wait([&] { return a.unreachable_[2] > 0; }, 20ms);
  }
  ASSERT_GT(a.unreachable_count(2), 0);
  ASSERT_TRUE(eventually([&] { return !a.transport().peer_stats(2)->connected; }));
  // Down: a send is dropped at once and reported again, nothing queues.
  const auto before = a.transport().peer_stats(2);
  const int reports = a.unreachable_count(2);
  a.transport().send({app(1, 2, ++seq)});
  const auto after = a.transport().peer_stats(2);
  EXPECT_EQ(after->dropped_msgs, before->dropped_msgs + 1);
  EXPECT_EQ(after->queued_msgs, 0u);
  EXPECT_EQ(after->direct_msgs, before->direct_msgs);
  ASSERT_TRUE(a.wait([&] { return a.unreachable_[2] > reports; }));
}

}  // namespace
}  // namespace dkv::transport
