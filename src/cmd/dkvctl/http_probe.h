// Tells an HTTP/1.1 server (a node's REST port) from a gRPC one, so that
// dkvctl pointed at DKV_REST_PORT says so instead of "cannot connect".
// Blocking POSIX sockets, bounded by a timeout. Threading: any thread.
#pragma once

#include <chrono>
#include <string>

namespace dkv::ctl {

// Connects to `endpoint` (host:port), sends a small HTTP/1.1 request and
// returns true if the answer starts with "HTTP/1.". False on any failure.
bool answers_http1(const std::string& endpoint, std::chrono::milliseconds timeout);

}  // namespace dkv::ctl
