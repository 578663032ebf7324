// The dashboard every node serves at GET / on its REST port (issue 20):
// the page and its embedded assets (gzip when asked, under 300 KB in
// all), the JSON route it polls, and unknown routes still a JSON 404;
// then headless Chromium on a 3-node cluster: the members with the
// leader marked, a member down shown unreachable, and after the leader
// is killed a new leader marked, all without a reload; and the page keeps
// working when its node is left without a leader.
// DKV_DASHBOARD_SCREENSHOTS=<dir> also saves the screenshots of
// docs/dashboard.md there.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <thread>

#include "harness.h"
#include "headless_chromium.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;
namespace http_ns = boost::beast::http;

struct Fetched {
  unsigned status = 0;
  std::string content_type;
  std::string content_encoding;
  std::size_t body_bytes = 0;
};

// GET with an Accept-Encoding field (the harness's http() sends none).
Fetched get_encoded(std::uint16_t port, const std::string& target, const std::string& accept) {
  boost::asio::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  http_ns::request<http_ns::empty_body> req{http_ns::verb::get, target, 11};
  req.set(http_ns::field::host, "127.0.0.1");
  if (!accept.empty()) req.set(http_ns::field::accept_encoding, accept);
  http_ns::write(stream, req);
  boost::beast::flat_buffer buffer;
  http_ns::response<http_ns::string_body> res;
  http_ns::read(stream, buffer, res);
  return {res.result_int(), std::string(res[http_ns::field::content_type]),
          std::string(res[http_ns::field::content_encoding]), res.body().size()};
}

const char* const kAssets[] = {"/", "/dashboard/assets/app.js", "/dashboard/assets/app.css",
                               "/dashboard/assets/uPlot.iife.min.js",
                               "/dashboard/assets/uPlot.min.css"};

TEST(DashboardTest, ServesThePageItsAssetsAndTheClusterJson) {
  LocalCluster c("dashboard_plain", 1);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  ASSERT_EQ(c.wait_for_leader({0}, 10s), 0);

  const HttpResponse page = http("GET", c.rest_port(0), "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/dashboard/assets/app.js"), std::string::npos);
  EXPECT_EQ(page.body.find("http://"), std::string::npos);  // Nothing from elsewhere.
  EXPECT_EQ(page.body.find("https://"), std::string::npos);

  std::size_t gzip_bytes = 0;
  for (const char* path : kAssets) {
    const Fetched plain = get_encoded(c.rest_port(0), path, "");
    EXPECT_EQ(plain.status, 200u) << path;
    EXPECT_EQ(plain.content_encoding, "") << path;
    const Fetched gz = get_encoded(c.rest_port(0), path, "gzip, deflate, br");
    EXPECT_EQ(gz.status, 200u) << path;
    EXPECT_EQ(gz.content_encoding, "gzip") << path;
    EXPECT_LT(gz.body_bytes, plain.body_bytes) << path;
    gzip_bytes += gz.body_bytes;
  }
  std::cout << "dashboard: page and assets " << gzip_bytes << " bytes gzipped\n";
  EXPECT_LT(gzip_bytes, 300u * 1024);

  const HttpResponse cluster = http("GET", c.rest_port(0), "/dashboard/v0/cluster");
  EXPECT_EQ(cluster.status, 200);
  EXPECT_EQ(cluster.headers.at("content-type"), "application/json");
  EXPECT_NE(cluster.body.find(R"("name":"a")"), std::string::npos) << cluster.body;
  EXPECT_NE(cluster.body.find(R"("role":"leader")"), std::string::npos) << cluster.body;
  EXPECT_NE(cluster.body.find(R"("isSelf":true)"), std::string::npos) << cluster.body;
  EXPECT_NE(cluster.body.find(R"("text":"leader is now a (term )"), std::string::npos)
      << cluster.body;

  // Unknown routes keep grpc-gateway's JSON 404; the API is untouched.
  for (const char* path : {"/nope", "/dashboard", "/dashboard/assets/nope.js", "//"}) {
    const HttpResponse missing = http("GET", c.rest_port(0), path);
    EXPECT_EQ(missing.status, 404) << path;
    EXPECT_EQ(missing.body, R"({"code":5,"message":"Not Found","details":[]})") << path;
  }
  EXPECT_EQ(http("POST", c.rest_port(0), "/").status, 405);
  EXPECT_EQ(http("GET", c.rest_port(0), "/v0/status").status, 200);
}

// "a=leader,b=follower,c=follower": every member element of the page.
const char* const kMembersJs =
    "Array.from(document.querySelectorAll('[data-member]'), "
    "e => e.dataset.member + '=' + e.dataset.role).sort().join(',')";

std::string roles_with(const LocalCluster& c, int leader, int down = -1) {
  std::string out;
  for (int i = 0; i < c.size(); ++i) {
    const char* role = i == down ? "unreachable" : i == leader ? "leader" : "follower";
    out += (i == 0 ? "" : ",") + c.id(i) + "=" + role;
  }
  return out;
}

bool taking_screenshots() {
  const char* dir = std::getenv("DKV_DASHBOARD_SCREENSHOTS");
  return dir != nullptr && *dir != '\0';
}

// Saves a screenshot when DKV_DASHBOARD_SCREENSHOTS names a directory,
// after a few seconds of the page's polling (the charts need points).
void maybe_screenshot(HeadlessChromium& browser, const std::string& name) {
  if (!taking_screenshots()) return;
  std::this_thread::sleep_for(6s);  // For the picture only; the test awaits conditions.
  EXPECT_TRUE(browser.screenshot(std::string(std::getenv("DKV_DASHBOARD_SCREENSHOTS")) + "/" +
                                 name + ".png"))
      << name;
}

// For the screenshots: writes and reads through `node` until stopped.
class Load {
 public:
  Load(const LocalCluster& c, int node) {
    if (!taking_screenshots()) return;
    thread_ = std::thread([this, port = c.rest_port(node)] {
      for (int k = 0; !stop_.load(); ++k) {
        const std::string key = base64("load-" + std::to_string(k % 100));
        http("POST", port, "/v0/kv", R"({"key":")" + key + R"(","value":"dmFsdWU="})");
        http("GET", port, "/v0/kv/key/" + key);
        if (k % 8 == 0) std::this_thread::sleep_for(20ms);
      }
    });
  }
  ~Load() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

void put_some(const LocalCluster& c, int node, int count) {
  for (int k = 0; k < count; ++k) {
    const std::string key = base64("key-" + std::to_string(k));
    const std::string value = base64("value " + std::to_string(k) + " \x01\x02");
    http("POST", c.rest_port(node), "/v0/kv",
         R"({"key":")" + key + R"(","value":")" + value + R"("})");
  }
}

TEST(DashboardBrowserTest, MarksTheLeaderThenANewOneAfterFailoverWithoutReload) {
  LocalCluster c("dashboard_browser", 3);
  ASSERT_TRUE(c.start_all(30s)) << c.process(0).log();
  const int leader = c.wait_for_leader({0, 1, 2}, 15s);
  ASSERT_GE(leader, 0);
  const int page_node = (leader + 1) % 3;  // The survivor whose page we watch.
  const int other = (leader + 2) % 3;
  put_some(c, page_node, 30);

  HeadlessChromium browser;
  const std::string url = "http://127.0.0.1:" + std::to_string(c.rest_port(page_node)) + "/";
  ASSERT_EQ(browser.open(url, 1280, 900), "") << browser.log();
  EXPECT_EQ(browser.wait_for(kMembersJs, roles_with(c, leader), 30s), roles_with(c, leader));
  // A mark that a reload would wipe.
  ASSERT_EQ(browser.eval("window.dkvTestMark = 'same page'"), "same page");
  browser.eval(
      "document.getElementById('key').value = 'key-7';"
      "document.getElementById('get-form').requestSubmit(); 'ok'");
  EXPECT_EQ(browser.wait_for("document.getElementById('value').textContent",
                             std::string("value 7 \x01\x02"), 10s),
            std::string("value 7 \x01\x02"));
  put_some(c, page_node, 30);  // Something on the charts.
  Load load(c, page_node);
  browser.wait_for("String(document.querySelectorAll('#events li').length > 0)", "true", 5s);
  maybe_screenshot(browser, "dashboard-healthy");
  if (taking_screenshots()) {
    ASSERT_TRUE(browser.resize(390, 844));
    std::this_thread::sleep_for(300ms);  // Let the charts resize: a picture only.
    maybe_screenshot(browser, "dashboard-phone");
    ASSERT_TRUE(browser.resize(1280, 900));
  }

  // A follower down: unreachable within a poll or two, the leader stays.
  c.process(other).signal(SIGKILL);
  ASSERT_EQ(c.process(other).wait_exit(10s), 128 + SIGKILL);
  EXPECT_EQ(browser.wait_for(kMembersJs, roles_with(c, leader, other), 15s),
            roles_with(c, leader, other));
  maybe_screenshot(browser, "dashboard-member-down");
  ASSERT_TRUE(c.start(other));
  ASSERT_TRUE(c.wait_ready(other, 30s)) << c.process(other).log();
  EXPECT_EQ(browser.wait_for(kMembersJs, roles_with(c, leader), 15s), roles_with(c, leader));

  // The leader killed: the survivor's page marks the new one, no reload.
  c.process(leader).signal(SIGKILL);
  ASSERT_EQ(c.process(leader).wait_exit(10s), 128 + SIGKILL);
  const int new_leader = c.wait_for_leader({page_node, other}, 20s, leader);
  ASSERT_GE(new_leader, 0);
  EXPECT_EQ(browser.wait_for(kMembersJs, roles_with(c, new_leader, leader), 20s),
            roles_with(c, new_leader, leader));
  EXPECT_EQ(browser.eval("String(window.dkvTestMark)"), "same page");
  put_some(c, page_node, 20);
  browser.wait_for("document.getElementById('events').textContent.includes('leader is now " +
                       c.id(new_leader) + "') ? 'yes' : 'no'",
                   "yes", 5s);
  browser.eval("document.getElementById('as-hex').click(); 'ok'");
  maybe_screenshot(browser, "dashboard-failover");

  // The page's node alone: no leader anywhere, and the page still tells so.
  const int last_other = new_leader == page_node ? other : new_leader;
  c.process(last_other).signal(SIGKILL);
  ASSERT_EQ(c.process(last_other).wait_exit(10s), 128 + SIGKILL);
  std::string alone;
  for (int i = 0; i < 3; ++i) {
    alone += (i == 0 ? "" : ",") + c.id(i) + (i == page_node ? "=follower" : "=unreachable");
  }
  EXPECT_EQ(browser.wait_for(kMembersJs, alone, 20s), alone);
  EXPECT_EQ(browser.eval("document.getElementById('conn').dataset.state"), "live");
}

}  // namespace
}  // namespace dkv::testing
