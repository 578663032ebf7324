// Process tests of one real ./build/dkv node on loopback ports: the original
// dkv README's curl lines, the API's error contract over REST and gRPC,
// durability across kill -9, configuration errors and clean shutdown.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <random>
#include <thread>

#include "dkv/v0/cluster.grpc.pb.h"
#include "dkv/v0/kv.grpc.pb.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

class SingleNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>(
        std::string("single_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    rpc_port_ = free_port();
    rest_port_ = free_port();
  }

  std::map<std::string, std::string> env() const {
    return {{"DKV_LOG_LEVEL", "info"},
            {"DKV_RPC_PORT", std::to_string(rpc_port_)},
            {"DKV_REST_PORT", std::to_string(rest_port_)},
            {"DKV_DB_PATH", dir_->path() + "/a.db"},
            {"DKV_NODE_ID", "a"},
            {"DKV_CLUSTER", "a@127.0.0.1:" + std::to_string(rpc_port_)},
            {"DKV_LISTEN_HOST", "127.0.0.1"}};
  }

  // Starts (or restarts) the node and waits until it is ready.
  void start(std::map<std::string, std::string> extra = {}) {
    auto e = env();
    for (auto& [k, v] : extra) e[k] = v;
    node_ = std::make_unique<DkvProcess>(dkv_binary(), e, dir_->path() + "/a.log");
    ASSERT_TRUE(node_->start());
    ASSERT_TRUE(node_->wait_ready(rest_port_, 20s)) << node_->log();
  }

  std::unique_ptr<v0::KV::Stub> kv_stub() {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(rpc_port_),
                                       grpc::InsecureChannelCredentials());
    return v0::KV::NewStub(channel);
  }

  std::unique_ptr<TempDir> dir_;
  std::uint16_t rpc_port_ = 0;
  std::uint16_t rest_port_ = 0;
  std::unique_ptr<DkvProcess> node_;
};

// Expects a grpc-gateway error body with this gRPC code.
void expect_error(const HttpResponse& r, int http_status, int grpc_code) {
  EXPECT_EQ(r.status, http_status) << r.body;
  EXPECT_NE(r.body.find("\"code\":" + std::to_string(grpc_code) + ","), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\"message\":"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"details\":[]"), std::string::npos) << r.body;
}

TEST_F(SingleNodeTest, OriginalReadmeCurlLines) {
  start();
  // curl -X POST localhost:7071/v0/kv -d '{"key":"aGVsbG8=","value":"d29ybGQ="}'
  auto put = http("POST", rest_port_, "/v0/kv", R"({"key":"aGVsbG8=","value":"d29ybGQ="})");
  EXPECT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.headers["content-type"], "application/json");
  // curl -X GET localhost:7071/v0/kv/key/aGVsbG8=
  auto get = http("GET", rest_port_, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, R"({"key":"aGVsbG8=","value":"d29ybGQ="})");
  // curl -X DELETE localhost:7071/v0/kv/key/aGVsbG8=
  auto del = http("DELETE", rest_port_, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(del.status, 200);
  EXPECT_EQ(del.body, R"({"deleted":"1"})");
  expect_error(http("GET", rest_port_, "/v0/kv/key/aGVsbG8="), 404, 5);
  // Idempotent delete, as etcd.
  auto again = http("DELETE", rest_port_, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.body, R"({"deleted":"0"})");
}

TEST_F(SingleNodeTest, KeysInPathAcceptStandardAndUrlSafeBase64) {
  start();
  // Key bytes 0xfb 0xff 0xbf: standard "+/+/", URL-safe "-_-_".
  ASSERT_EQ(http("POST", rest_port_, "/v0/kv", R"({"key":"+/+/","value":"eA=="})").status, 200);
  for (const char* path : {"/v0/kv/key/+%2F+%2F", "/v0/kv/key/-_-_", "/v0/kv/key/%2B%2F%2B%2F"}) {
    auto r = http("GET", rest_port_, path);
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
    EXPECT_EQ(r.body, R"({"key":"+/+/","value":"eA=="})") << path;
  }
  // Unpadded "aGVsbG8" is "hello" too.
  ASSERT_EQ(http("POST", rest_port_, "/v0/kv", R"({"key":"aGVsbG8=","value":""})").status, 200);
  auto r = http("GET", rest_port_, "/v0/kv/key/aGVsbG8");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"key":"aGVsbG8=","value":""})");  // Empty value emitted.
}

// The "appliedIndex" field of /v0/status.
std::string applied_index(std::uint16_t rest_port) {
  const std::string body = http("GET", rest_port, "/v0/status").body;
  const std::string field = R"("appliedIndex":")";
  const auto at = body.find(field);
  if (at == std::string::npos) return "";
  return body.substr(at + field.size(), body.find('"', at + field.size()) - at - field.size());
}

TEST_F(SingleNodeTest, BadInputIsRefusedAndChangesNothing) {
  start();
  // The node writes two entries of its own after it starts: the new
  // leader's empty entry and the feature gate's proposal of its term
  // (node/feature_gate.h), the latter after a gate round; wait for both,
  // so that the index below moves only for what the requests would write.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string applied_before = applied_index(rest_port_);
  while ((applied_before.empty() || std::stoull(applied_before) < 2) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    applied_before = applied_index(rest_port_);
  }
  ASSERT_EQ(applied_before, "2") << "the node's own entries";
  const std::string big_key(512, 'k');
  const std::string big_value((1 << 20) + 1, 'v');
  const auto b64 = base64;
  expect_error(http("POST", rest_port_, "/v0/kv", R"({"key":"!!notbase64","value":"eA=="})"), 400,
               3);
  expect_error(http("POST", rest_port_, "/v0/kv", R"({"key":"","value":"eA=="})"), 400, 3);
  expect_error(http("POST", rest_port_, "/v0/kv", R"({"value":"eA=="})"), 400, 3);
  expect_error(http("POST", rest_port_, "/v0/kv", "{\"key\":\"" + b64(big_key) + "\"}"), 400, 3);
  expect_error(
      http("POST", rest_port_, "/v0/kv", "{\"key\":\"aw==\",\"value\":\"" + b64(big_value) + "\"}"),
      400, 3);
  expect_error(http("POST", rest_port_, "/v0/kv", R"({"key":"aw==",)"), 400, 3);
  expect_error(http("POST", rest_port_, "/v0/kv", "not json at all"), 400, 3);
  expect_error(http("GET", rest_port_, "/v0/kv/key/!!!"), 400, 3);
  expect_error(http("GET", rest_port_, "/v0/nope"), 404, 5);
  expect_error(http("PUT", rest_port_, "/v0/kv"), 405, 12);
  // A body far over the limit is answered, not dropped.
  expect_error(http("POST", rest_port_, "/v0/kv", std::string(3 << 20, ' ')), 400, 3);
  // Nothing of the above was written, and the node still serves.
  EXPECT_EQ(applied_index(rest_port_), applied_before);
  // The largest legal key and value are accepted.
  auto ok = http("POST", rest_port_, "/v0/kv",
                 "{\"key\":\"" + b64(std::string(511, 'k')) + "\",\"value\":\"" +
                     b64(std::string(1 << 20, 'v')) + "\"}");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(SingleNodeTest, UnknownJsonFieldsAreIgnored) {
  start();
  EXPECT_EQ(http("POST", rest_port_, "/v0/kv", R"({"key":"aw==","value":"dg==","lease":7})").status,
            200);
}

TEST_F(SingleNodeTest, StatusLivezReadyz) {
  start();
  auto s = http("GET", rest_port_, "/v0/status");
  ASSERT_EQ(s.status, 200);
  for (const char* field :
       {R"("nodeId":"a")", R"("leaderId":"a")", R"("term":)", R"("role":"leader")",
        R"("commitIndex":)", R"("appliedIndex":)", R"("members":[{"id":"a")"}) {
    EXPECT_NE(s.body.find(field), std::string::npos) << field << " in " << s.body;
  }
  EXPECT_EQ(http("GET", rest_port_, "/livez").status, 200);
  EXPECT_EQ(http("GET", rest_port_, "/readyz").status, 200);
}

TEST_F(SingleNodeTest, MetricsInPrometheusFormat) {
  start();
  ASSERT_EQ(http("POST", rest_port_, "/v0/kv", R"({"key":"aw==","value":"dg=="})").status, 200);
  auto m = http("GET", rest_port_, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.headers["content-type"].rfind("text/plain; version=0.0.4", 0), 0u);
  for (const char* line :
       {"dkv_server_has_leader 1\n", "dkv_server_is_leader 1\n",
        "dkv_server_leader_changes_seen_total 1\n",
        "# TYPE dkv_disk_wal_fsync_duration_seconds histogram\n",
        "# TYPE dkv_disk_backend_commit_duration_seconds histogram\n",
        "dkv_grpc_server_handled_total{grpc_method=\"Put\",grpc_code=\"OK\"} 1\n",
        "dkv_server_proposals_pending ", "dkv_server_proposals_failed_total ",
        "dkv_server_proposals_committed_total "}) {
    EXPECT_NE(m.body.find(line), std::string::npos) << line << " in\n" << m.body;
  }
}

TEST_F(SingleNodeTest, GrpcPutGetDeleteAndErrors) {
  start();
  auto stub = kv_stub();
  {
    grpc::ClientContext ctx;
    v0::PutRequest req;
    req.set_key("hello");
    req.set_value("world");
    v0::PutResponse resp;
    ASSERT_TRUE(stub->Put(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v0::GetRequest req;
    req.set_key("hello");
    v0::GetResponse resp;
    ASSERT_TRUE(stub->Get(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.key(), "hello");
    EXPECT_EQ(resp.value(), "world");
  }
  // The same key over REST.
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/aGVsbG8=").body,
            R"({"key":"aGVsbG8=","value":"d29ybGQ="})");
  {
    grpc::ClientContext ctx;
    v0::DeleteRequest req;
    req.set_key("hello");
    v0::DeleteResponse resp;
    ASSERT_TRUE(stub->Delete(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.deleted(), 1);
  }
  {
    grpc::ClientContext ctx;
    v0::GetRequest req;
    req.set_key("hello");
    v0::GetResponse resp;
    EXPECT_EQ(stub->Get(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v0::PutRequest req;  // Empty key.
    v0::PutResponse resp;
    EXPECT_EQ(stub->Put(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    v0::PutRequest req;
    req.set_key("k");
    req.set_value(std::string((1 << 20) + 1, 'v'));
    v0::PutResponse resp;
    EXPECT_EQ(stub->Put(&ctx, req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

TEST_F(SingleNodeTest, GrpcStatusAndHealth) {
  start();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(rpc_port_),
                                     grpc::InsecureChannelCredentials());
  auto cluster = v0::Cluster::NewStub(channel);
  grpc::ClientContext ctx;
  v0::StatusResponse st;
  ASSERT_TRUE(cluster->Status(&ctx, v0::StatusRequest(), &st).ok());
  EXPECT_EQ(st.node_id(), "a");
  EXPECT_EQ(st.leader_id(), "a");
  ASSERT_EQ(st.members_size(), 1);
  EXPECT_EQ(st.members(0).address(), "127.0.0.1:" + std::to_string(rpc_port_));

  // grpc.health.v1.Health/Check through a generic call: the empty request
  // is empty bytes; the answer SERVING encodes as field 1 = 1 ("\x08\x01").
  // Health follows readiness within a moment: poll until it says SERVING.
  grpc::GenericStub generic(channel);
  auto check = [&]() -> std::string {
    grpc::CompletionQueue cq;
    grpc::ClientContext hctx;
    hctx.set_deadline(std::chrono::system_clock::now() + 10s);
    grpc::Slice empty_slice("", 0);
    grpc::ByteBuffer request_buffer(&empty_slice, 1);
    auto call =
        generic.PrepareUnaryCall(&hctx, "/grpc.health.v1.Health/Check", request_buffer, &cq);
    call->StartCall();
    grpc::ByteBuffer response_buffer;
    grpc::Status done;
    call->Finish(&response_buffer, &done, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok) || !ok || !done.ok()) return "error: " + done.error_message();
    std::vector<grpc::Slice> slices;
    if (!response_buffer.Dump(&slices).ok()) return "error: dump";
    std::string bytes;
    for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    return bytes;
  };
  const std::string serving("\x08\x01", 2);
  std::string bytes = check();
  for (int i = 0; i < 250 && bytes != serving; ++i) {
    std::this_thread::sleep_for(20ms);  // Poll interval of a condition wait.
    bytes = check();
  }
  EXPECT_EQ(bytes, serving);
}

// Server reflection lists the public services, so generic tools (grpcurl)
// work without the protos: ServerReflectionInfo with list_services.
TEST_F(SingleNodeTest, GrpcServerReflectionListsTheServices) {
  start();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(rpc_port_),
                                     grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  auto call = generic.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto next = [&](std::intptr_t want) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<std::intptr_t>(tag), want);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next(1));
  // ServerReflectionRequest{list_services: ""}: field 7, length-delimited, empty.
  grpc::Slice request_slice(std::string("\x3a\x00", 2));
  grpc::ByteBuffer request(&request_slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(next(2));
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(next(3));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  for (const char* service : {"dkv.v0.KV", "dkv.v0.Cluster", "grpc.health.v1.Health"}) {
    EXPECT_NE(bytes.find(service), std::string::npos) << service;
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  next(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next(5);
}

TEST_F(SingleNodeTest, AcknowledgedWritesSurviveKill9) {
  const int rounds = 3;
  const int writers = 4;
  std::mt19937_64 rng(::testing::UnitTest::GetInstance()->random_seed());
  std::map<std::string, std::string> acked;  // Across all rounds.
  std::mutex mu;
  for (int round = 0; round < rounds; ++round) {
    start();
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
      threads.emplace_back([&, w] {
        auto stub = kv_stub();
        for (int i = 0; i < 100000 && !stop; ++i) {
          const std::string key =
              "r" + std::to_string(round) + "w" + std::to_string(w) + "i" + std::to_string(i);
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + 5s);
          v0::PutRequest req;
          req.set_key(key);
          req.set_value("v" + key);
          v0::PutResponse resp;
          if (!stub->Put(&ctx, req, &resp).ok()) break;  // Killed: outcome unknown.
          std::lock_guard lock(mu);
          acked[key] = "v" + key;
        }
      });
    }
    // Let writes flow, then kill at a random moment while they are in flight.
    const std::size_t target = acked.size() + 50 + rng() % 200;
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lock(mu);
        if (acked.size() >= target) break;
      }
      std::this_thread::sleep_for(1ms);
    }
    node_->signal(SIGKILL);
    EXPECT_EQ(node_->wait_exit(10s), 128 + SIGKILL);
    stop = true;
    for (auto& t : threads) t.join();
  }
  start();
  auto stub = kv_stub();
  std::size_t checked = 0;
  for (const auto& [key, value] : acked) {
    grpc::ClientContext ctx;
    v0::GetRequest req;
    req.set_key(key);
    v0::GetResponse resp;
    const grpc::Status s = stub->Get(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << "acknowledged write lost: " << key << " " << s.error_message();
    ASSERT_EQ(resp.value(), value);
    ++checked;
  }
  EXPECT_GT(checked, 0u);
}

TEST_F(SingleNodeTest, QuotaRefusesPutsButReadsAndDeletesWork) {
  start({{"DKV_QUOTA_BYTES", std::to_string(2 << 20)}});
  auto stub = kv_stub();
  const std::string value(3 * 21845, 'q');  // base64: "cXFx" x 21845.
  int written = 0;
  grpc::StatusCode last = grpc::StatusCode::OK;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    v0::PutRequest req;
    req.set_key("q" + std::to_string(i));
    req.set_value(value);
    v0::PutResponse resp;
    last = stub->Put(&ctx, req, &resp).error_code();
    if (last != grpc::StatusCode::OK) break;
    ++written;
  }
  ASSERT_EQ(last, grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_GT(written, 0);
  std::string b64_value;
  for (int i = 0; i < 21845; ++i) b64_value += "cXFx";
  // The same put over REST is refused too, with grpc-gateway's 429.
  auto r = http("POST", rest_port_, "/v0/kv", R"({"key":"eg==","value":")" + b64_value + R"("})");
  expect_error(r, 429, 8);
  EXPECT_NE(r.body.find("database space exceeded"), std::string::npos);
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/cTA=").status, 200);  // "q0"
  EXPECT_EQ(http("DELETE", rest_port_, "/v0/kv/key/cTA=").body, R"({"deleted":"1"})");
}

TEST_F(SingleNodeTest, SigtermExitsZeroPromptly) {
  start();
  ASSERT_EQ(http("POST", rest_port_, "/v0/kv", R"({"key":"aw==","value":"dg=="})").status, 200);
  node_->signal(SIGTERM);
  EXPECT_EQ(node_->wait_exit(5s), 0) << node_->log();
  // The write is there after a restart.
  start();
  EXPECT_EQ(http("GET", rest_port_, "/v0/kv/key/aw==").body, R"({"key":"aw==","value":"dg=="})");
  node_->signal(SIGINT);
  EXPECT_EQ(node_->wait_exit(5s), 0) << node_->log();
}

TEST_F(SingleNodeTest, BadConfigurationExitsTwoWithOneLine) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"DKV_RPC_PORT", "seventy"},  {"DKV_REST_PORT", "0"},         {"DKV_NODE_ID", "z"},
      {"DKV_CLUSTER", "a@nowhere"}, {"DKV_LOG_LEVEL", "chatty"},    {"DKV_QUOTA_BYTES", "-5"},
      {"DKV_ELECTION_MS", "x"},     {"DKV_REQUEST_TIMEOUT_MS", ""},
  };
  for (const auto& [name, value] : bad) {
    auto e = env();
    e[name] = value;
    const std::string log_path = dir_->path() + "/bad_" + name + ".log";
    DkvProcess p(dkv_binary(), e, log_path);
    ASSERT_TRUE(p.start());
    EXPECT_EQ(p.wait_exit(10s), 2) << name;
    const std::string out = p.log();
    EXPECT_NE(out.find(name), std::string::npos) << out;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
}

}  // namespace
}  // namespace dkv::testing
