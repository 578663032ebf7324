// The REST client of the fault suite (see clients.h).
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "clients.h"

namespace dkv::fault {

namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

std::int64_t since_ns(std::chrono::steady_clock::time_point epoch) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              epoch)
      .count();
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

}  // namespace

std::string base64(const std::string& in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = sextet(c);
    if (v < 0) return "";
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

namespace {

// The string value of "field":"..." in a flat JSON object, or "".
std::string json_string(const std::string& body, const std::string& field) {
  const std::string k = "\"" + field + "\":\"";
  const auto at = body.find(k);
  if (at == std::string::npos) return "";
  const auto end = body.find('"', at + k.size());
  if (end == std::string::npos) return "";
  return body.substr(at + k.size(), end - at - k.size());
}

class RestClient : public KvClient {
 public:
  RestClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout,
             std::string node, bool serializable_reads)
      : host_(std::move(host)),
        port_(port),
        timeout_(timeout),
        note_(std::move(node) + " rest"),
        serializable_reads_(serializable_reads) {}

  void run(Op& op, std::chrono::steady_clock::time_point epoch) override {
    std::string target = "/v0/kv/key/" + base64(op.key);
    if (op.kind == OpKind::kGet && serializable_reads_) target += "?serializable=true";
    http::verb verb = http::verb::get;
    std::string body;
    if (op.kind == OpKind::kPut) {
      verb = http::verb::post;
      target = "/v0/kv";
      body = R"({"key":")" + base64(op.key) + R"(","value":")" + base64(op.value) + R"("})";
    } else if (op.kind == OpKind::kDelete) {
      verb = http::verb::delete_;
    }
    op.note = note_;
    op.invoke_ns = since_ns(epoch);
    int status = 0;
    std::string reply;
    const bool sent = call(verb, target, body, &status, &reply);
    op.complete_ns = since_ns(epoch);
    interpret(op, sent, status, reply);
  }

 private:
  // Returns false only if the request was certainly not sent (no connection).
  bool call(http::verb verb, const std::string& target, const std::string& body, int* status,
            std::string* reply) {
    boost::asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.expires_after(timeout_);
    beast::error_code ec;
    stream.connect(tcp::endpoint(boost::asio::ip::make_address(host_), port_), ec);
    if (ec) return false;
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, host_);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req, ec);
    if (ec) return true;  // Maybe partly sent: unknown.
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res, ec);
    if (ec) return true;
    *status = static_cast<int>(res.result_int());
    *reply = res.body();
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return true;
  }

  static void interpret(Op& op, bool sent, int status, const std::string& reply) {
    if (!sent) {
      op.outcome = Outcome::kFailed;
      op.note += " connect refused";
      return;
    }
    op.note += " " + std::to_string(status);
    if (status == 200) {
      op.outcome = Outcome::kOk;
      if (op.kind == OpKind::kGet) {
        op.found = true;
        op.value = unbase64(json_string(reply, "value"));
      }
      if (op.kind == OpKind::kDelete) op.found = json_string(reply, "deleted") == "1";
      return;
    }
    if (status == 404 && op.kind != OpKind::kPut) {
      op.outcome = Outcome::kOk;
      op.found = false;
      op.value.clear();
      return;
    }
    // A removed node refuses every call before it reaches raft (Node's entry
    // points): it certainly did not happen.
    if (status == 400 || status == 429 ||
        (status == 503 && reply.find(kRemovedRefusal) != std::string::npos)) {
      op.outcome = Outcome::kFailed;
      return;
    }
    op.outcome = Outcome::kUnknown;  // 0 (timeout, reset), 503, 504, 500, ...
  }

  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  std::string note_;
  bool serializable_reads_;
};

}  // namespace

std::unique_ptr<KvClient> make_rest_client(std::uint16_t port, std::chrono::milliseconds timeout,
                                           std::string node, bool serializable_reads,
                                           const std::string& host) {
  return std::make_unique<RestClient>(host, port, timeout, std::move(node), serializable_reads);
}

}  // namespace dkv::fault
