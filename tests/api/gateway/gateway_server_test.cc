// The Gateway end to end, in-process: a real server on 127.0.0.1, port 0,
// with fake KV and Cluster handlers, driven by a synchronous Beast client.
#include "api/gateway/gateway.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "util/reply_batch.h"

namespace dkv::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Response = http::response<http::string_body>;

// A handler call the test completes itself, from another thread.
struct Parked {
  v0::GetResponse* response = nullptr;
  UnaryDone done;
};

// Fake KV/Cluster services: record what they get, answer canned replies.
// Handlers run on the gateway's I/O threads, hence the mutex.
class FakeServices {
 public:
  void register_all(MethodRegistry* r) {
    const auto* kv = v0::PutRequest::descriptor()->file()->FindServiceByName("KV");
    const auto* cluster = v0::StatusRequest::descriptor()->file()->FindServiceByName("Cluster");
    r->add<v0::PutRequest, v0::PutResponse>(
        kv, "Put",
        [this](const CallContext&, const v0::PutRequest& req, v0::PutResponse*, UnaryDone done) {
          record(req);
          if (req.key() == "fail") return done(util::unavailable("no leader"));
          done({});
        });
    r->add<v0::GetRequest, v0::GetResponse>(
        kv, "Get",
        [this](const CallContext& ctx, const v0::GetRequest& req, v0::GetResponse* resp,
               UnaryDone done) {
          record(req);
          {
            std::lock_guard<std::mutex> lock(mu_);
            last_deadline_ = ctx.deadline;
          }
          if (req.key() == "park") return park(resp, std::move(done));
          if (req.key() != "hello") return done(util::not_found("key not found"));
          resp->set_key("hello");
          resp->set_value("world");
          done({});
        });
    r->add<v0::DeleteRequest, v0::DeleteResponse>(
        kv, "Delete",
        [this](const CallContext&, const v0::DeleteRequest& req, v0::DeleteResponse* resp,
               UnaryDone done) {
          record(req);
          resp->set_deleted(req.key() == "hello" ? 1 : 0);
          done({});
        });
    r->add<v0::StatusRequest, v0::StatusResponse>(
        cluster, "Status",
        [](const CallContext&, const v0::StatusRequest&, v0::StatusResponse* resp, UnaryDone done) {
          resp->set_node_id("a");
          resp->set_leader_id("a");
          resp->set_term(3);
          resp->set_role("leader");
          auto* m = resp->add_members();
          m->set_id("a");
          m->set_address("127.0.0.1:7070");
          done({});
        });
  }

  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::chrono::steady_clock::time_point last_deadline() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_deadline_;
  }
  // Waits (without sleeping) until a "park" request is waiting, and takes it.
  Parked take_parked() {
    std::unique_lock<std::mutex> lock(mu_);
    parked_cv_.wait(lock, [&] { return parked_.has_value(); });
    Parked p = std::move(*parked_);
    parked_.reset();
    return p;
  }

 private:
  void record(const google::protobuf::Message& m) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(m.GetDescriptor()->name() + " " + m.ShortDebugString());
  }
  void park(v0::GetResponse* resp, UnaryDone done) {
    std::lock_guard<std::mutex> lock(mu_);
    parked_ = Parked{resp, std::move(done)};
    parked_cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable parked_cv_;
  std::vector<std::string> requests_;
  std::optional<Parked> parked_;
  std::chrono::steady_clock::time_point last_deadline_;
};

// Completes a parked Get from a thread of its own, as a replication waiter would.
void complete_from_another_thread(Parked p, std::string value) {
  std::thread([p = std::move(p), value] {
    p.response->set_key("park");
    p.response->set_value(value);
    p.done({});
  }).join();
}

class Client {
 public:
  explicit Client(uint16_t port) : stream_(ioc_) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }

  void send(http::verb verb, const std::string& target, const std::string& body = "",
            const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(stream_, req);
  }
  // The next final response (1xx interim ones, such as 100 Continue, skipped).
  Response read() {
    while (true) {
      Response res;
      http::read(stream_, buffer_, res);
      if (res.result_int() >= 200) return res;
    }
  }
  Response call(http::verb verb, const std::string& target, const std::string& body = "",
                const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    send(verb, target, body, headers);
    return read();
  }
  void write_raw(std::string_view bytes) { net::write(stream_.socket(), net::buffer(bytes)); }
  // True once the server has closed the connection.
  bool closed_by_server() {
    char c;
    beast::error_code ec;
    stream_.socket().read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

class GatewayServerTest : public ::testing::Test {
 protected:
  void SetUp() override { services_.register_all(&registry_); }

  void start(GatewayOptions options = {}) {
    options.listen_host = "127.0.0.1";
    options.port = 0;
    gateway_ = std::make_unique<Gateway>(registry_, options);
    gateway_->add_plain_route("GET", "/livez", [] {
      return PlainResponse{200, "text/plain", "ok"};
    });
    gateway_->add_plain_route("GET", "/readyz", [this] {
      return ready_.load() ? PlainResponse{200, "text/plain", "ready"}
                           : PlainResponse{503, "text/plain", "not ready"};
    });
    const auto st = gateway_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    ASSERT_NE(gateway_->port(), 0);
  }

  Client client() { return Client(gateway_->port()); }

  FakeServices services_;
  MethodRegistry registry_;
  std::unique_ptr<Gateway> gateway_;
  std::atomic<bool> ready_{true};
};

const std::vector<std::pair<std::string, std::string>> kForm = {
    {"Content-Type", "application/x-www-form-urlencoded"}};

TEST_F(GatewayServerTest, ServesTheOriginalCurlLinesOnOneKeptAliveConnection) {
  start();
  Client c = client();
  auto put = c.call(http::verb::post, "/v0/kv", R"({"key":"aGVsbG8=","value":"d29ybGQ="})", kForm);
  EXPECT_EQ(put.result_int(), 200u);
  EXPECT_EQ(put.body(), "{}");
  EXPECT_EQ(put[http::field::content_type], "application/json");
  EXPECT_TRUE(put.keep_alive());

  auto get = c.call(http::verb::get, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(get.result_int(), 200u);
  EXPECT_EQ(get.body(), R"({"key":"aGVsbG8=","value":"d29ybGQ="})");

  auto del = c.call(http::verb::delete_, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(del.result_int(), 200u);
  EXPECT_EQ(del.body(), R"({"deleted":"1"})");

  auto status = c.call(http::verb::get, "/v0/status");
  EXPECT_EQ(status.result_int(), 200u);
  EXPECT_EQ(
      status.body(),
      R"({"nodeId":"a","leaderId":"a","term":"3","role":"leader","commitIndex":"0",)"
      R"("appliedIndex":"0","members":[{"id":"a","address":"127.0.0.1:7070","isLearner":false}],)"
      R"("dbSizeBytes":"0","version":"","clusterId":"","rejoining":false,)"
      R"("featureLevel":0,"committedFeatureLevel":0})");

  const auto reqs = services_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0], R"(PutRequest key: "hello" value: "world")");
  EXPECT_EQ(reqs[1], R"(GetRequest key: "hello")");
  EXPECT_EQ(reqs[2], R"(DeleteRequest key: "hello")");
}

TEST_F(GatewayServerTest, TakesKeysInEveryBase64FormAndQueryParameters) {
  start();
  Client c = client();
  for (std::string target : {"/v0/kv/key/aGVsbG8", "/v0/kv/key/aGVsbG8%3D"}) {
    EXPECT_EQ(c.call(http::verb::get, target).result_int(), 200u) << target;
  }
  c.call(http::verb::get, "/v0/kv/key/-_8?serializable=true");
  c.call(http::verb::get, "/v0/kv/key/%2B%2F8=");
  const auto reqs = services_.requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[2], R"(GetRequest key: "\373\377" serializable: true)");
  EXPECT_EQ(reqs[3], R"(GetRequest key: "\373\377")");
}

TEST_F(GatewayServerTest, MapsErrorsToGrpcGatewayStatuses) {
  start();
  Client c = client();
  auto missing = c.call(http::verb::get, "/v0/kv/key/bm9wZQ==");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_EQ(missing.body(), R"({"code":5,"message":"key not found","details":[]})");
  EXPECT_EQ(missing[http::field::content_type], "application/json");

  auto unavailable = c.call(http::verb::post, "/v0/kv", R"({"key":"ZmFpbA=="})", kForm);
  EXPECT_EQ(unavailable.result_int(), 503u);
  EXPECT_EQ(unavailable.body(), R"({"code":14,"message":"no leader","details":[]})");

  auto no_route = c.call(http::verb::get, "/v0/nope");
  EXPECT_EQ(no_route.result_int(), 404u);
  EXPECT_EQ(no_route.body(), R"({"code":5,"message":"Not Found","details":[]})");

  auto wrong_method = c.call(http::verb::put, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(wrong_method.result_int(), 405u);
  EXPECT_EQ(wrong_method.body(), R"({"code":12,"message":"Method Not Allowed","details":[]})");
  EXPECT_EQ(wrong_method[http::field::allow], "DELETE, GET");

  auto bad_json = c.call(http::verb::post, "/v0/kv", R"({"key":)", kForm);
  EXPECT_EQ(bad_json.result_int(), 400u);
  EXPECT_NE(bad_json.body().find(R"("code":3)"), std::string::npos) << bad_json.body();

  auto bad_base64 = c.call(http::verb::get, "/v0/kv/key/a*b");
  EXPECT_EQ(bad_base64.result_int(), 400u);
  EXPECT_NE(bad_base64.body().find(R"("code":3)"), std::string::npos);

  auto bad_body_base64 = c.call(http::verb::post, "/v0/kv", R"({"key":"!!"})");
  EXPECT_EQ(bad_body_base64.result_int(), 400u);

  auto bad_escape = c.call(http::verb::get, "/v0/kv/key/%zz");
  EXPECT_EQ(bad_escape.result_int(), 400u);

  // Still the same connection, still serving.
  EXPECT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
  EXPECT_EQ(services_.requests().size(), 3u);  // Only the well-formed calls reached handlers.
}

TEST_F(GatewayServerTest, ServesPlainRoutes) {
  start();
  Client c = client();
  auto live = c.call(http::verb::get, "/livez");
  EXPECT_EQ(live.result_int(), 200u);
  EXPECT_EQ(live.body(), "ok");
  EXPECT_EQ(live[http::field::content_type], "text/plain");
  EXPECT_EQ(c.call(http::verb::get, "/readyz").result_int(), 200u);
  ready_ = false;
  auto not_ready = c.call(http::verb::get, "/readyz");
  EXPECT_EQ(not_ready.result_int(), 503u);
  EXPECT_EQ(not_ready.body(), "not ready");
  EXPECT_EQ(c.call(http::verb::post, "/livez").result_int(), 405u);
}

TEST_F(GatewayServerTest, AnswersAHandlerThatCompletesLaterOnAnotherThread) {
  start();
  Client c = client();
  c.send(http::verb::get, "/v0/kv/key/cGFyaw==");  // "park"
  complete_from_another_thread(services_.take_parked(), "late");
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), R"({"key":"cGFyaw==","value":"bGF0ZQ=="})");
  EXPECT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
}

// The applier answers a batch of writes inside a util::ReplyBatch: the
// completions go to the I/O threads together when it closes
// (completion_batch.h), each to its own connection.
TEST_F(GatewayServerTest, AnswersEveryCompletionOfAReplyBatchOnItsConnection) {
  start();
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<Parked> parked;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<Client>(gateway_->port()));
    clients.back()->send(http::verb::get, "/v0/kv/key/cGFyaw==");  // "park"
    parked.push_back(services_.take_parked());
  }
  std::thread([&] {
    util::ReplyBatch batch;
    for (std::size_t i = 0; i < parked.size(); ++i) {
      parked[i].response->set_key("park");
      parked[i].response->set_value("v" + std::to_string(i));
      parked[i].done({});
    }
  }).join();
  for (std::size_t i = 0; i < clients.size(); ++i) {
    auto res = clients[i]->read();
    EXPECT_EQ(res.result_int(), 200u);
    // "v0".."v4" in base64: each answer reached the connection that asked.
    const std::string value_b64[] = {"djA=", "djE=", "djI=", "djM=", "djQ="};
    EXPECT_EQ(res.body(), R"({"key":"cGFyaw==","value":")" + value_b64[i] + R"("})");
  }
  EXPECT_EQ(clients[0]->call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
}

TEST_F(GatewayServerTest, ReadsBodiesThatArriveWithTheHeaderOrAfterIt) {
  start();
  Client c = client();
  const std::string body = R"({"key":"aGVsbG8=","value":"d29ybGQ="})";
  const std::string head =
      "POST /v0/kv HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  // Whole request in one write, then two requests in one write (pipelined),
  // then the body in two parts sent after the header.
  c.write_raw(head + body);
  EXPECT_EQ(c.read().result_int(), 200u);
  c.write_raw(head + body + head + body);
  EXPECT_EQ(c.read().result_int(), 200u);
  EXPECT_EQ(c.read().result_int(), 200u);
  c.write_raw(head + body.substr(0, 10));
  c.write_raw(body.substr(10));
  EXPECT_EQ(c.read().result_int(), 200u);
  const auto requests = services_.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) EXPECT_EQ(r, R"(PutRequest key: "hello" value: "world")");
}

TEST_F(GatewayServerTest, RejectsAnOversizeBodyWith400AndKeepsServing) {
  GatewayOptions options;
  options.body_bytes_max = 64 * 1024;
  start(options);
  {
    Client c = client();
    // Much bigger than the socket buffers: the server must drain it to be heard.
    const std::string big = R"({"key":"aGVsbG8=","value":")" + std::string(8 << 20, 'A') + "\"}";
    c.send(http::verb::post, "/v0/kv", big, kForm);
    auto res = c.read();
    EXPECT_EQ(res.result_int(), 400u);
    EXPECT_NE(res.body().find("larger than the limit of 65536 bytes"), std::string::npos)
        << res.body();
    EXPECT_FALSE(res.keep_alive());
  }
  {
    Client c = client();  // With Expect: 100-continue the body is never sent.
    c.send(http::verb::post, "/v0/kv", std::string(70 * 1024, ' '), {{"Expect", "100-continue"}});
    EXPECT_EQ(c.read().result_int(), 400u);
  }
  Client c = client();
  EXPECT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
  const std::string fits = R"({"key":"aGVsbG8=","value":")" + std::string(60 * 1024, 'A') + "\"}";
  EXPECT_EQ(c.call(http::verb::post, "/v0/kv", fits, {{"Expect", "100-continue"}}).result_int(),
            200u);
}

TEST_F(GatewayServerTest, AnswersGarbageWith400AndSurvives) {
  start();
  {
    Client c = client();
    c.write_raw("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(c.read().result_int(), 400u);
  }
  {
    Client c = client();
    c.write_raw("GET /v0/kv HTTP/1.1\r\nContent-Length: zz\r\n\r\n");
    EXPECT_EQ(c.read().result_int(), 400u);
  }
  {
    Client c = client();
    c.write_raw("GET /v0/status HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(c.read().result_int(), 200u);
  }
  {
    Client c = client();
    c.write_raw("GET /v0/st");  // Then hang up mid-request.
  }
  Client c = client();
  EXPECT_EQ(c.call(http::verb::get, "/v0/status").result_int(), 200u);
}

TEST_F(GatewayServerTest, GrpcTimeoutHeaderSetsTheDeadline) {
  start();
  Client c = client();
  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(
      c.call(http::verb::get, "/v0/kv/key/aGVsbG8=", "", {{"Grpc-Timeout", "2S"}}).result_int(),
      200u);
  const auto after = std::chrono::steady_clock::now();
  EXPECT_GE(services_.last_deadline(), before + std::chrono::seconds(2));
  EXPECT_LE(services_.last_deadline(), after + std::chrono::seconds(2));

  ASSERT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
  EXPECT_GE(services_.last_deadline(), after + std::chrono::seconds(5));  // The default.

  auto bad = c.call(http::verb::get, "/v0/kv/key/aGVsbG8=", "", {{"Grpc-Timeout", "soon"}});
  EXPECT_EQ(bad.result_int(), 400u);
}

TEST_F(GatewayServerTest, AnswersTooManyInFlightWith429) {
  GatewayOptions options;
  options.inflight_requests_max = 1;
  start(options);
  Client parked = client();
  parked.send(http::verb::get, "/v0/kv/key/cGFyaw==");
  Parked p = services_.take_parked();
  EXPECT_EQ(gateway_->inflight_requests(), 1u);
  Client c = client();
  auto res = c.call(http::verb::get, "/v0/kv/key/aGVsbG8=");
  EXPECT_EQ(gateway_->open_connections(), 2);
  EXPECT_EQ(res.result_int(), 429u);
  EXPECT_EQ(res.body(), R"({"code":8,"message":"too many requests in flight","details":[]})");
  complete_from_another_thread(std::move(p), "v");
  EXPECT_EQ(parked.read().result_int(), 200u);
  // The slot is free again (the completion released it before replying).
  EXPECT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
}

TEST_F(GatewayServerTest, AnswersDeadlineExceededWhenAHandlerOverstays) {
  GatewayOptions options;
  options.deadline_backstop = std::chrono::milliseconds(0);
  start(options);
  Client c = client();
  auto res = c.call(http::verb::get, "/v0/kv/key/cGFyaw==", "", {{"Grpc-Timeout", "1m"}});
  EXPECT_EQ(res.result_int(), 504u);
  EXPECT_NE(res.body().find(R"("code":4)"), std::string::npos);
  // The late answer is dropped; the connection goes on.
  complete_from_another_thread(services_.take_parked(), "late");
  EXPECT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
}

TEST_F(GatewayServerTest, ClosesAConnectionThatIdlesOrStallsPastTheIdleTimeout) {
  GatewayOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  start(options);
  Client idle = client();
  EXPECT_EQ(idle.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u);
  Client stalled = client();
  stalled.write_raw("GET /v0/kv/key/aGVsbG8= HTTP/1.1\r\nHost: x\r\n");  // No end of header.
  // closed_by_server() blocks until the server acts (ctest's timeout bounds it).
  EXPECT_TRUE(idle.closed_by_server());
  EXPECT_TRUE(stalled.closed_by_server());
}

TEST_F(GatewayServerTest, KeepsABusyConnectionOpenPastTheIdleTimeout) {
  GatewayOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  start(options);
  Client c = client();
  // Each request re-arms the deadline; the connection outlives several
  // idle timeouts (bounded by time and by count).
  const auto until = std::chrono::steady_clock::now() + 4 * options.idle_timeout;
  for (int i = 0; i < 100'000 && std::chrono::steady_clock::now() < until; ++i) {
    ASSERT_EQ(c.call(http::verb::get, "/v0/kv/key/aGVsbG8=").result_int(), 200u) << i;
  }
}

TEST_F(GatewayServerTest, StopLetsInFlightRequestsFinishAndClosesIdleConnections) {
  start();
  Client idle = client();
  EXPECT_EQ(idle.call(http::verb::get, "/livez").result_int(), 200u);
  Client busy = client();
  busy.send(http::verb::get, "/v0/kv/key/cGFyaw==");
  Parked p = services_.take_parked();

  std::thread stopper([&] { gateway_->stop(); });
  EXPECT_TRUE(idle.closed_by_server());
  complete_from_another_thread(std::move(p), "v");
  auto res = busy.read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.keep_alive());
  stopper.join();
  EXPECT_THROW(client(), boost::system::system_error);  // No longer listening.
}

TEST_F(GatewayServerTest, StopAnswers503AfterTheGraceAndDropsLaterCompletions) {
  GatewayOptions options;
  options.shutdown_grace = std::chrono::milliseconds(0);
  start(options);
  Client c = client();
  c.send(http::verb::get, "/v0/kv/key/cGFyaw==");
  Parked p = services_.take_parked();
  gateway_->stop();
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 503u);
  EXPECT_EQ(res.body(), R"({"code":14,"message":"the server is shutting down","details":[]})");
  EXPECT_FALSE(res.keep_alive());
  gateway_.reset();
  complete_from_another_thread(std::move(p), "too late");  // Must not crash (ASan).
}

TEST_F(GatewayServerTest, FailsToStartOnAPortInUse) {
  start();
  GatewayOptions options;
  options.listen_host = "127.0.0.1";
  options.port = gateway_->port();
  Gateway second(registry_, options);
  const auto st = second.start();
  EXPECT_EQ(st.code(), util::Code::kUnavailable);
}

}  // namespace
}  // namespace dkv::api
