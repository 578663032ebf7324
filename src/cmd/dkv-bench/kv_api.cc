// src/cmd/dkv-bench/kv_api.cc
// REST requests and answers of the dkv and etcd targets (see kv_api.h).
#include "kv_api.h"

#include "workload.h"

namespace dkv::bench {

std::optional<Target> parse_target(const std::string& name) {
  if (name == "dkv") return Target::kDkv;
  if (name == "etcd") return Target::kEtcd;
  return std::nullopt;
}

const char* target_name(Target target) { return target == Target::kEtcd ? "etcd" : "dkv"; }

std::string default_endpoints(Target target, const std::string& protocol) {
  if (target == Target::kEtcd) return "127.0.0.1:2379";
  return protocol == "grpc" ? "127.0.0.1:7070,127.0.0.1:8080,127.0.0.1:9090"
                            : "127.0.0.1:7071,127.0.0.1:8081,127.0.0.1:9091";
}

RestRequest rest_put_request(Target target, const std::string& key, const std::string& value_b64) {
  RestRequest r;
  r.post = true;
  r.path = target == Target::kEtcd ? "/v3/kv/put" : "/v0/kv";
  r.body = "{\"key\":\"" + base64_encode(key) + "\",\"value\":\"" + value_b64 + "\"}";
  return r;
}

RestRequest rest_get_request(Target target, const std::string& key, bool serializable) {
  RestRequest r;
  if (target == Target::kEtcd) {
    r.post = true;
    r.path = "/v3/kv/range";
    r.body = "{\"key\":\"" + base64_encode(key) + "\"" +
             (serializable ? ",\"serializable\":true}" : "}");
    return r;
  }
  r.path = "/v0/kv/key/" + percent_encode(base64_encode(key)) +
           (serializable ? "?serializable=true" : "");
  return r;
}

GetOutcome classify_rest_get(Target target, unsigned http_status, const std::string& body) {
  if (target == Target::kDkv) {
    if (http_status == 200) return GetOutcome::kFound;
    return http_status == 404 ? GetOutcome::kNotFound : GetOutcome::kError;
  }
  if (http_status != 200) return GetOutcome::kError;
  // grpc-gateway leaves out empty repeated fields: no "kvs", no key.
  return body.find("\"kvs\"") != std::string::npos ? GetOutcome::kFound : GetOutcome::kNotFound;
}

}  // namespace dkv::bench
