// Gateway: the REST side of dkv's public API (grpc-gateway v2 conventions).
// It serves HTTP/1.1 with keep-alive on Boost.Beast and, for every method in
// a MethodRegistry whose descriptor has a google.api.http rule, transcodes
// JSON/path/query to the request message, calls the handler in-process (no
// loopback gRPC hop) and maps the reply or util::Status back to HTTP and JSON
// (see route_table.h, request_builder.h, json_mapping.h). Plain routes serve
// non-proto endpoints: /livez, /readyz, /metrics.
// Must not: touch storage or know about Raft; it only calls handlers.
//
// Threading: `options.threads` threads, each running an io_context of its
// own; connections are dealt to them in turn and stay there, and a
// handler's completion, from whatever thread, is posted back to the
// connection's io_context. No thread per request, no blocking on I/O threads.
// The public methods are called from one owner thread: add_plain_route()
// before start(); stop() (also run by the destructor) once after start().
// Lifetime: `registry` must outlive the Gateway and not change after start().
// A handler may call `done` after the Gateway is gone: the completion is then
// dropped, and the request/response it was given stay valid until it calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/method_registry.h"
#include "util/status.h"

namespace dkv::api {

// One I/O thread per four cores, at least one: a node's raft, WAL, read,
// receive and gRPC threads share the rest. On 2 cores with three nodes and
// a load generator, two threads a node cost 10-15% of the linearizable get
// rate at 64 clients against one (docs/performance.md, session 15).
int default_io_threads();

struct GatewayOptions {
  // Address to listen on: an IP literal or a host name. All interfaces by
  // default, as the original dkv did (DKV_LISTEN_HOST narrows it).
  std::string listen_host = "0.0.0.0";
  // 0 picks a free port; Gateway::port() tells which.
  uint16_t port = 0;
  // I/O threads (each with its own io_context).
  int threads = default_io_threads();
  // Largest request body accepted: a 1 MiB value is 1.33 MiB of base64 plus
  // the key and the JSON around them. A bigger body is answered 400.
  size_t body_bytes_max = 2 * 1024 * 1024;
  // Requests handed to handlers and not yet completed; beyond this a new one
  // is answered 429 RESOURCE_EXHAUSTED at once.
  size_t inflight_requests_max = 10'000;
  // CallContext::deadline when the client sends no Grpc-Timeout header.
  std::chrono::milliseconds default_deadline{5'000};
  // If a handler has not called `done` this long after the deadline, the
  // client gets 504 DEADLINE_EXCEEDED anyway (handlers should answer first).
  std::chrono::milliseconds deadline_backstop{1'000};
  // A connection may take this long to send a request (or to read a reply)
  // and may idle this long between keep-alive requests.
  std::chrono::milliseconds idle_timeout{60'000};
  // stop() waits this long for in-flight requests before closing everything.
  std::chrono::milliseconds shutdown_grace{3'000};
  // Null: every connection is served. Else one whose peer (IP in text, port)
  // it refuses is closed unanswered: behind the TLS terminator the gateway
  // serves only the terminator's own connections, so that nobody on the
  // host reaches the API around TLS and client certificate authentication.
  // Called on the accepting thread; must be quick.
  std::function<bool(const std::string& ip, std::uint16_t port)> admit;
};

// The reply of a plain route.
struct PlainResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // More header fields (e.g. Content-Encoding, Cache-Control, Vary).
  std::vector<std::pair<std::string, std::string>> headers = {};
};
// What a plain route may look at of its request. Valid during the call.
struct PlainRequest {
  std::string_view path;
  std::string_view query;            // After '?', undecoded; "" if none.
  std::string_view accept_encoding;  // The Accept-Encoding field, "" if none.
};
// Run on an I/O thread for each request: must be quick, must not block,
// and must be safe to call from several threads at once.
using PlainHandler = std::function<PlainResponse()>;
using PlainRequestHandler = std::function<PlainResponse(const PlainRequest&)>;

// A streaming route's output (etcd's POST /v3/watch): one 200 response of
// HTTP/1.1 chunks that stays open, then the connection closes.
// Thread-safe; `done` runs on the connection's I/O thread.
class StreamOut {
 public:
  virtual ~StreamOut() = default;
  // Sends `data` as one chunk; `done(ok)` once written (!ok: the client is
  // gone, or the gateway stops). One write at a time.
  virtual void write(std::string data, std::function<void(bool ok)> done) = 0;
  // Ends the response and closes the connection.
  virtual void finish() = 0;
};
// Runs on an I/O thread with the request's body; must not block. Returns
// what to call once when the client goes away or the connection closes.
using StreamHandler =
    std::function<std::function<void()>(std::string body, std::shared_ptr<StreamOut> out)>;

class Gateway {
 public:
  Gateway(const MethodRegistry& registry, GatewayOptions options);
  ~Gateway();  // stop()s if running.
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Serves `handler` for `http_method` ("GET") on the literal `path`
  // ("/livez"). Before start() only.
  void add_plain_route(std::string http_method, std::string path, PlainHandler handler);
  // The same, for a handler that looks at the request (static assets).
  void add_plain_route(std::string http_method, std::string path, PlainRequestHandler handler);

  // Serves `handler` for `http_method` on the literal `path` as a stream
  // (StreamOut). Before start() only.
  void add_stream_route(std::string http_method, std::string path, StreamHandler handler);

  // Binds and listens now, before the routes exist (a busy port is found
  // before anything else is set up); connections wait in the backlog until
  // start(). Optional: start() does it if it was not done. Call at most once.
  util::Status listen();

  // Builds the routes, binds and listens (unless listen() did), and starts
  // the threads. Fails if a google.api.http rule or plain path is bad, or
  // the address cannot be bound. Call once.
  util::Status start();

  // The bound port (useful with options.port == 0). Valid after listen()
  // or start().
  uint16_t port() const;

  // For /metrics; any thread, any time.
  size_t inflight_requests() const;  // Handed to handlers, not yet completed.
  int open_connections() const;

  // Stops accepting, closes idle connections, lets in-flight requests finish
  // for up to options.shutdown_grace, then closes the rest and joins the
  // threads. Returns when all threads are joined. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dkv::api
