// The LeaseKeepAlive stream (api/etcd_lease_keepalive_stream.h) over a real
// in-process gRPC server, with a renewal handler the test answers by hand:
// renewals of one stream are pending together (so they can share a
// ReadIndex round) and answered in request order whatever order they
// complete in; a retriable failure is tried again; a final failure ends the
// stream after the answers before it.
#include "api/etcd_lease_keepalive_stream.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "util/status.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;
using namespace std::chrono_literals;

// The renewal handler: holds each call until the test answers it.
struct HeldRenewals {
  struct Call {
    std::int64_t id;
    pb::LeaseKeepAliveResponse* response;
    UnaryDone done;
  };
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Call> calls;
  std::atomic<int> seen{0};

  Method method() {
    Method m;
    m.handler = [this](const CallContext&, const google::protobuf::Message& request,
                       google::protobuf::Message* response, UnaryDone done) {
      std::lock_guard lock(mu);
      calls.push_back({static_cast<const pb::LeaseKeepAliveRequest&>(request).id(),
                       static_cast<pb::LeaseKeepAliveResponse*>(response), std::move(done)});
      ++seen;
      cv.notify_all();
    };
    return m;
  }
  // Waits until `n` calls are held (bounded).
  bool wait_held(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 20s, [&] { return calls.size() >= n; });
  }
  // Answers the held call for lease `id`: TTL id * 10, or `status`.
  void answer(std::int64_t id, util::Status status = util::Status::ok()) {
    Call call;
    {
      std::lock_guard lock(mu);
      auto it = std::find_if(calls.begin(), calls.end(), [&](const Call& c) { return c.id == id; });
      ASSERT_NE(it, calls.end());
      call = std::move(*it);
      calls.erase(it);
    }
    call.response->set_id(id);
    call.response->set_ttl(id * 10);
    call.done(std::move(status));
  }
};

class Service final : public pb::Lease::CallbackService {
 public:
  explicit Service(const Method* renew) : renew_(renew) {}
  grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* LeaseKeepAlive(
      grpc::CallbackServerContext*) override {
    return new_keep_alive_stream(renew_, CallContext{}, 5s);
  }

 private:
  const Method* renew_;
};

class KeepAliveStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    method_ = held_.method();
    service_ = std::make_unique<Service>(&method_);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    stub_ = pb::Lease::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                   grpc::InsecureChannelCredentials()));
    ctx_.set_deadline(std::chrono::system_clock::now() + 60s);
    stream_ = stub_->LeaseKeepAlive(&ctx_);
  }
  void TearDown() override {
    ctx_.TryCancel();
    stream_.reset();
    server_->Shutdown(std::chrono::system_clock::now() + 5s);
  }
  void send(std::int64_t id) {
    pb::LeaseKeepAliveRequest req;
    req.set_id(id);
    ASSERT_TRUE(stream_->Write(req));
  }

  HeldRenewals held_;
  Method method_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<pb::Lease::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>>
      stream_;
};

// A stream that renewed one request at a time held only the first.
TEST_F(KeepAliveStreamTest, RenewalsOfOneStreamArePendingTogetherAndAnsweredInOrder) {
  for (std::int64_t id : {1, 2, 3}) send(id);
  ASSERT_TRUE(held_.wait_held(3)) << "renewals of one stream held at once: " << held_.seen;
  held_.answer(3);
  held_.answer(1);
  held_.answer(2);
  pb::LeaseKeepAliveResponse resp;
  for (std::int64_t id : {1, 2, 3}) {
    ASSERT_TRUE(stream_->Read(&resp));
    EXPECT_EQ(resp.id(), id);
    EXPECT_EQ(resp.ttl(), id * 10);
  }
  stream_->WritesDone();
  EXPECT_FALSE(stream_->Read(&resp));
  EXPECT_TRUE(stream_->Finish().ok());
}

TEST_F(KeepAliveStreamTest, RetriableFailureIsTriedAgain) {
  send(4);
  ASSERT_TRUE(held_.wait_held(1));
  held_.answer(4, util::unavailable("no leader yet"));
  ASSERT_TRUE(held_.wait_held(1));  // The retry.
  EXPECT_EQ(held_.seen, 2);
  held_.answer(4);
  pb::LeaseKeepAliveResponse resp;
  ASSERT_TRUE(stream_->Read(&resp));
  EXPECT_EQ(resp.ttl(), 40);
}

TEST_F(KeepAliveStreamTest, FailureEndsTheStreamAfterTheAnswersBeforeIt) {
  for (std::int64_t id : {5, 6, 7}) send(id);
  ASSERT_TRUE(held_.wait_held(3));
  held_.answer(6, util::Status(util::Code::kFailedPrecondition, "lease broken"));
  held_.answer(7);
  held_.answer(5);
  pb::LeaseKeepAliveResponse resp;
  ASSERT_TRUE(stream_->Read(&resp));
  EXPECT_EQ(resp.id(), 5);
  EXPECT_FALSE(stream_->Read(&resp));
  const grpc::Status s = stream_->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
}

}  // namespace
}  // namespace dkv::api
