#include "api/method_registry.h"

#include <chrono>

#include "util/assert.h"
#include "util/metrics.h"

namespace dkv::api {

void MethodRegistry::add_method(Method method) {
  DKV_ASSERT(method.descriptor != nullptr);
  DKV_ASSERT(method.handler != nullptr);
  DKV_ASSERT(method.request_prototype->GetDescriptor() == method.descriptor->input_type());
  DKV_ASSERT(method.response_prototype->GetDescriptor() == method.descriptor->output_type());
  const std::string name =
      method.descriptor->service()->full_name() + "/" + method.descriptor->name();
  // Every call, gRPC or REST, is counted and timed by method and code here,
  // the one place both front ends pass through.
  method.handler = [inner = std::move(method.handler), descriptor = method.descriptor](
                       const CallContext& ctx, const google::protobuf::Message& req,
                       google::protobuf::Message* resp, UnaryDone done) {
    const auto start = std::chrono::steady_clock::now();
    inner(ctx, req, resp, [start, descriptor, done = std::move(done)](util::Status s) {
      const std::string& method_name = descriptor->name();  // Descriptors live forever.
      const std::string code(util::code_name(s.code()));
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      auto& m = util::metrics();
      m.counter("dkv_grpc_server_handled_total", "Calls completed, by method and code.",
                {{"grpc_method", method_name}, {"grpc_code", code}})
          .inc();
      m.histogram("dkv_request_duration_seconds", "Call latency, by method and code.",
                  util::exponential_buckets(0.0001, 2, 18),
                  {{"method", method_name}, {"code", code}})
          .observe(seconds);
      done(std::move(s));
    });
  };
  const bool inserted = methods_.emplace(name, std::move(method)).second;
  DKV_ASSERT(inserted);
}

const Method* MethodRegistry::find(const std::string& full_name) const {
  auto it = methods_.find(full_name);
  return it == methods_.end() ? nullptr : &it->second;
}

std::vector<const Method*> MethodRegistry::all() const {
  std::vector<const Method*> out;
  out.reserve(methods_.size());
  for (const auto& [name, m] : methods_) out.push_back(&m);
  return out;
}

}  // namespace dkv::api
