// MethodRegistry's call metrics: every completed call is counted and timed
// by method and code, whichever thread completes it, and the same metric is
// updated call after call (it is looked up once, then kept).
#include "api/method_registry.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "gateway_test.pb.h"
#include "util/metrics.h"

namespace dkv::api {
namespace {

// The value of the sample line starting with `prefix` in /metrics, or -1.
long long sample(const std::string& prefix) {
  const std::string text = util::metrics().render();
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + prefix.size()));
}

TEST(MethodRegistry, CountsAndTimesEveryCallByMethodAndCode) {
  MethodRegistry registry;
  const auto* service = gwtest::EchoRequest::descriptor()->file()->FindServiceByName("Test");
  // "BadVar" is never served in these tests: its metrics are ours alone.
  registry.add<gwtest::EchoRequest, gwtest::EchoRequest>(
      service, "BadVar",
      [](const CallContext&, const gwtest::EchoRequest& req, gwtest::EchoRequest*, UnaryDone done) {
        done(req.s() == "missing" ? util::not_found("no") : util::Status());
      });
  const Method* m = registry.find("dkv.gwtest.Test/BadVar");
  ASSERT_NE(m, nullptr);
  const std::string ok = R"(dkv_grpc_server_handled_total{grpc_method="BadVar",grpc_code="OK"} )";
  const std::string not_found =
      R"(dkv_grpc_server_handled_total{grpc_method="BadVar",grpc_code="NOT_FOUND"} )";
  const std::string timed_ok = R"(dkv_request_duration_seconds_count{method="BadVar",code="OK"} )";
  EXPECT_EQ(sample(ok), -1);

  gwtest::EchoRequest req;
  gwtest::EchoRequest resp;
  int answered = 0;
  auto call = [&](const std::string& s) {
    req.set_s(s);
    m->handler(CallContext{}, req, &resp, [&](util::Status) { ++answered; });
  };
  call("a");
  call("missing");
  call("b");
  std::thread([&] { call("c"); }).join();  // From another thread: the same metric.
  EXPECT_EQ(answered, 4);
  EXPECT_EQ(sample(ok), 3);
  EXPECT_EQ(sample(not_found), 1);
  EXPECT_EQ(sample(timed_ok), 3);
}

}  // namespace
}  // namespace dkv::api
