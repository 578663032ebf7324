// dkv.v0.Maintenance/Snapshot on a real node, through the raw gRPC stream:
// a client that cancels mid-stream ends it (and frees its slot), at most
// two streams run at once, and the image the stream carries is the store's
// at one applied index with a matching CRC32C.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "dkv/v0/cluster.grpc.pb.h"
#include "dkv/v0/kv.grpc.pb.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kValues = 24;
constexpr std::size_t kValueBytes = 1 << 20;

class SnapshotStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("snapshot_stream");
    rpc_port_ = free_port();
    rest_port_ = free_port();
    node_ = std::make_unique<DkvProcess>(
        dkv_binary(),
        std::map<std::string, std::string>{
            {"DKV_RPC_PORT", std::to_string(rpc_port_)},
            {"DKV_REST_PORT", std::to_string(rest_port_)},
            {"DKV_DB_PATH", dir_->path() + "/a.db"},
            {"DKV_NODE_ID", "a"},
            {"DKV_CLUSTER", "a@127.0.0.1:" + std::to_string(rpc_port_)},
            {"DKV_LISTEN_HOST", "127.0.0.1"}},
        dir_->path() + "/a.log");
    ASSERT_TRUE(node_->start());
    ASSERT_TRUE(node_->wait_ready(rest_port_, 20s)) << node_->log();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(rpc_port_),
                                   grpc::InsecureChannelCredentials());
    // Far more data than the HTTP/2 windows hold, so a stream whose reader
    // stops is still in the middle.
    auto kv = v0::KV::NewStub(channel_);
    for (int i = 0; i < kValues; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 30s);
      v0::PutRequest req;
      req.set_key("big-" + std::to_string(i));
      req.set_value(std::string(kValueBytes, static_cast<char>('a' + i)));
      v0::PutResponse resp;
      ASSERT_TRUE(kv->Put(&ctx, req, &resp).ok()) << i;
    }
  }

  // Reads a whole snapshot stream; returns its status.
  grpc::Status read_all(std::string* image, std::uint64_t* index, std::uint32_t* crc) {
    auto stub = v0::Maintenance::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 60s);
    auto reader = stub->Snapshot(&ctx, v0::SnapshotRequest());
    v0::SnapshotResponse m;
    bool first = true;
    while (reader->Read(&m)) {
      if (first) *index = m.applied_index();
      first = false;
      image->append(m.blob());
      if (m.remaining_bytes() == 0) *crc = m.crc32c();
    }
    return reader->Finish();
  }

  std::unique_ptr<TempDir> dir_;
  std::uint16_t rpc_port_ = 0;
  std::uint16_t rest_port_ = 0;
  std::unique_ptr<DkvProcess> node_;
  std::shared_ptr<grpc::Channel> channel_;
};

// One open stream that has delivered its first message and then stalls.
struct StalledStream {
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReader<v0::SnapshotResponse>> reader;
  v0::SnapshotResponse first;
  bool got_first = false;
};

TEST_F(SnapshotStreamTest, CancelStopsTheStreamAndFreesItsSlot) {
  auto stub = v0::Maintenance::NewStub(channel_);
  // Two streams are the limit: both start, a third is refused.
  std::vector<std::unique_ptr<StalledStream>> streams;
  for (int i = 0; i < 2; ++i) {
    auto s = std::make_unique<StalledStream>();
    s->reader = stub->Snapshot(&s->ctx, v0::SnapshotRequest());
    s->got_first = s->reader->Read(&s->first);
    ASSERT_TRUE(s->got_first) << i;
    EXPECT_GT(s->first.remaining_bytes(), kValues * kValueBytes / 2);
    streams.push_back(std::move(s));
  }
  {
    grpc::ClientContext ctx;
    auto reader = stub->Snapshot(&ctx, v0::SnapshotRequest());
    v0::SnapshotResponse m;
    EXPECT_FALSE(reader->Read(&m));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  // The clients cancel mid-stream: the node ends both streams...
  for (auto& s : streams) {
    s->ctx.TryCancel();
    v0::SnapshotResponse m;
    while (s->reader->Read(&m)) {
    }
    EXPECT_EQ(s->reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  const auto until = std::chrono::steady_clock::now() + 20s;
  auto cancelled_in_log = [&] {
    const std::string log = node_->log();
    int n = 0;
    for (auto at = log.find("snapshot stream cancelled"); at != std::string::npos;
         at = log.find("snapshot stream cancelled", at + 1)) {
      ++n;
    }
    return n;
  };
  while (cancelled_in_log() < 2 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(20ms);  // Poll interval.
  }
  EXPECT_EQ(cancelled_in_log(), 2) << node_->log();
  // ...and frees their slots: a whole snapshot streams again.
  std::string image;
  std::uint64_t index = 0;
  std::uint32_t crc = 0;
  grpc::Status s;
  for (int attempt = 0; attempt < 100; ++attempt) {  // Slots free once OnDone ran.
    image.clear();
    s = read_all(&image, &index, &crc);
    if (s.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(20ms);  // Poll interval.
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(image.size(), kValues * kValueBytes);
  EXPECT_EQ(image.rfind("DKVSNAP1", 0), 0u);
  EXPECT_GT(index, static_cast<std::uint64_t>(kValues));
  EXPECT_NE(crc, 0u);
  EXPECT_TRUE(node_->running());
}

}  // namespace
}  // namespace dkv::testing
