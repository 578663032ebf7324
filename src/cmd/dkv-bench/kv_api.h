// src/cmd/dkv-bench/kv_api.h
// The two KV APIs dkv-bench can drive (--target): dkv's own v0 API and
// etcd's v3 API. This file owns what differs between them over REST (the
// method, path and body of a put and a get, and how a get's answer says
// found / not found), with no networking; the gRPC side of each target lives
// in grpc_kv_dkv.cc and grpc_kv_etcd.cc.
//   dkv:  POST /v0/kv {"key":b64,"value":b64}; GET /v0/kv/key/{b64}[?serializable=true],
//         404 for a missing key.
//   etcd: POST /v3/kv/put {"key":b64,"value":b64}; POST /v3/kv/range {"key":b64[,
//         "serializable":true]} (linearizable by default), 200 without "kvs" for a
//         missing key.
#pragma once

#include <optional>
#include <string>

namespace dkv::bench {

enum class Target { kDkv, kEtcd };

// "dkv" or "etcd"; nothing otherwise.
std::optional<Target> parse_target(const std::string& name);
const char* target_name(Target target);

// The local 3-node cluster's endpoints for a target and protocol ("grpc" or
// "rest"), comma-separated: dkv's scripts/cluster.sh ports, or etcd's
// default client port (gRPC and REST share it).
std::string default_endpoints(Target target, const std::string& protocol);

struct RestRequest {
  bool post = false;  // POST with a JSON body, else GET.
  std::string path;   // Path and query.
  std::string body;   // Empty for GET.
};

// `value_b64` is already base64 (the drivers encode the value once).
RestRequest rest_put_request(Target target, const std::string& key, const std::string& value_b64);
RestRequest rest_get_request(Target target, const std::string& key, bool serializable);

enum class GetOutcome { kFound, kNotFound, kError };
// How a REST get's answer reads: found, a missing key, or an error.
GetOutcome classify_rest_get(Target target, unsigned http_status, const std::string& body);

}  // namespace dkv::bench
