#include "headless_chromium.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace dkv::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using google::protobuf::Struct;
using google::protobuf::Value;

namespace {

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

bool parse_json(const std::string& text, Struct* out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(text, out, options).ok();
}

// The field at a dotted path of nested objects; nullptr if absent.
const Value* field(const Struct& s, const std::string& path) {
  const Struct* at = &s;
  std::string rest = path;
  while (true) {
    const size_t dot = rest.find('.');
    const auto it = at->fields().find(rest.substr(0, dot));
    if (it == at->fields().end()) return nullptr;
    if (dot == std::string::npos) return &it->second;
    if (!it->second.has_struct_value()) return nullptr;
    at = &it->second.struct_value();
    rest = rest.substr(dot + 1);
  }
}

std::string base64_decode(const std::string& in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int bits = 0, acc = 0;
  for (const char c : in) {
    const int v = value(c);
    if (v < 0) continue;  // Padding.
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

struct HeadlessChromium::Cdp {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  int next_id = 1;
};

std::string HeadlessChromium::binary() {
  const char* env = std::getenv("DKV_CHROMIUM");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
}

HeadlessChromium::HeadlessChromium() : dir_(std::make_unique<TempDir>("chromium")) {}

HeadlessChromium::~HeadlessChromium() {
  if (cdp_) {
    beast::error_code ec;
    cdp_->ws.next_layer().close(ec);
  }
  if (pid_ > 0) {
    ::kill(-pid_, SIGKILL);  // The browser and its helpers: its own process group.
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string HeadlessChromium::log() const {
  std::ifstream in(dir_->path() + "/chromium.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string HeadlessChromium::launch(std::uint16_t port) {
  if (::access(binary().c_str(), X_OK) != 0) {
    return binary() + " not found: `make deps` installs Debian's chromium";
  }
  std::vector<std::string> args = {binary(),
                                   "--headless",
                                   "--no-sandbox",  // Tests run as root.
                                   "--disable-gpu",
                                   "--disable-dev-shm-usage",
                                   "--no-first-run",
                                   "--no-default-browser-check",
                                   "--hide-scrollbars",
                                   "--force-device-scale-factor=1",
                                   "--remote-debugging-address=127.0.0.1",
                                   "--remote-debugging-port=" + std::to_string(port),
                                   "--user-data-dir=" + dir_->path() + "/profile",
                                   "about:blank"};
  const std::string log_path = dir_->path() + "/chromium.log";
  pid_ = ::fork();
  if (pid_ < 0) return "fork failed";
  if (pid_ == 0) {
    ::setpgid(0, 0);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
  return "";
}

std::string HeadlessChromium::connect(std::uint16_t port) {
  // The browser's WebSocket address, once it serves /json/version.
  std::string ws_path;
  const auto give_up = std::chrono::steady_clock::now() + timeout_;
  while (ws_path.empty()) {
    if (std::chrono::steady_clock::now() > give_up) return "chromium did not start: " + log();
    const HttpResponse r = http("GET", port, "/json/version");
    Struct version;
    if (r.status == 200 && parse_json(r.body, &version)) {
      if (const Value* v = field(version, "webSocketDebuggerUrl")) {
        const std::string u = v->string_value();
        const size_t slash = u.find('/', std::string("ws://").size());
        if (slash != std::string::npos) ws_path = u.substr(slash);
      }
    }
    if (ws_path.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  cdp_ = std::make_unique<Cdp>();
  beast::error_code ec;
  cdp_->ws.next_layer().connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return "connect to the DevTools port: " + ec.message();
  // Every read waits at most timeout_ (a hung browser fails the test).
  const timeval tv{static_cast<time_t>(timeout_.count() / 1000), 0};
  ::setsockopt(cdp_->ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  cdp_->ws.handshake("127.0.0.1:" + std::to_string(port), ws_path, ec);
  if (ec) return "DevTools WebSocket handshake: " + ec.message();
  cdp_->ws.read_message_max(64 << 20);  // Screenshots.
  return "";
}

std::string HeadlessChromium::open(const std::string& url, int width, int height) {
  const std::uint16_t port = free_port();
  if (std::string e = launch(port); !e.empty()) return e;
  if (std::string e = connect(port); !e.empty()) return e;
  std::string error;
  const std::string target = call("Target.createTarget", R"({"url":"about:blank"})", &error, false);
  Struct t;
  if (target.empty() || !parse_json(target, &t) || field(t, "targetId") == nullptr) {
    return "Target.createTarget: " + error;
  }
  const std::string attached = call(
      "Target.attachToTarget",
      R"({"targetId":)" + json_quote(field(t, "targetId")->string_value()) + R"(,"flatten":true})",
      &error, false);
  Struct a;
  if (attached.empty() || !parse_json(attached, &a) || field(a, "sessionId") == nullptr) {
    return "Target.attachToTarget: " + error;
  }
  session_id_ = field(a, "sessionId")->string_value();
  if (!resize(width, height)) return "Emulation.setDeviceMetricsOverride failed";
  call("Page.navigate", R"({"url":)" + json_quote(url) + "}", &error);
  if (!error.empty()) return "Page.navigate: " + error;
  return "";
}

std::string HeadlessChromium::call(const std::string& method, const std::string& params_json,
                                   std::string* error, bool to_page) {
  error->clear();
  if (!cdp_) {
    *error = "not open";
    return "";
  }
  const int id = cdp_->next_id++;
  std::string msg = R"({"id":)" + std::to_string(id) + R"(,"method":)" + json_quote(method) +
                    R"(,"params":)" + params_json;
  if (to_page) msg += R"(,"sessionId":)" + json_quote(session_id_);
  msg += "}";
  beast::error_code ec;
  cdp_->ws.text(true);
  cdp_->ws.write(net::buffer(msg), ec);
  if (ec) {
    *error = "write: " + ec.message();
    return "";
  }
  while (true) {  // Events and other answers pass by until ours comes.
    beast::flat_buffer buffer;
    cdp_->ws.read(buffer, ec);
    if (ec) {
      *error = "read: " + ec.message();
      return "";
    }
    Struct reply;
    if (!parse_json(beast::buffers_to_string(buffer.data()), &reply)) continue;
    const Value* got = field(reply, "id");
    if (got == nullptr || static_cast<int>(got->number_value()) != id) continue;
    if (const Value* e = field(reply, "error.message")) {
      *error = e->string_value();
      return "";
    }
    const Value* result = field(reply, "result");
    std::string out;
    if (result == nullptr || !google::protobuf::util::MessageToJsonString(*result, &out).ok()) {
      *error = "no result";
      return "";
    }
    return out;
  }
}

std::string HeadlessChromium::eval(const std::string& expression, std::string* error) {
  std::string err;
  const std::string result = call("Runtime.evaluate",
                                  R"({"expression":)" + json_quote(expression) +
                                      R"(,"returnByValue":true,"awaitPromise":true})",
                                  &err);
  Struct r;
  if (result.empty() || !parse_json(result, &r)) {
    if (error) *error = err;
    return "";
  }
  if (const Value* ex = field(r, "exceptionDetails.text")) {
    if (error) *error = ex->string_value();
    return "";
  }
  const Value* v = field(r, "result.value");
  if (error) error->clear();
  return v == nullptr ? "" : v->string_value();
}

std::string HeadlessChromium::wait_for(const std::string& expression, const std::string& want,
                                       std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  std::string got;
  while (true) {
    got = eval(expression);
    if (got == want || std::chrono::steady_clock::now() > give_up) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool HeadlessChromium::resize(int width, int height) {
  std::string error;
  call("Emulation.setDeviceMetricsOverride",
       R"({"width":)" + std::to_string(width) + R"(,"height":)" + std::to_string(height) +
           R"(,"deviceScaleFactor":1,"mobile":false})",
       &error);
  return error.empty();
}

bool HeadlessChromium::screenshot(const std::string& path) {
  std::string error;
  const std::string result = call("Page.captureScreenshot", R"({"format":"png"})", &error);
  Struct r;
  if (result.empty() || !parse_json(result, &r) || field(r, "data") == nullptr) return false;
  std::ofstream out(path, std::ios::binary);
  out << base64_decode(field(r, "data")->string_value());
  return static_cast<bool>(out);
}

}  // namespace dkv::testing
