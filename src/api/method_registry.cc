#include "api/method_registry.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>

#include "util/assert.h"
#include "util/metrics.h"

namespace dkv::api {

namespace {

// The call metrics of one method: a counter and a latency histogram per
// status code, looked up in the metrics registry on first use and kept.
// (A lookup by name and labels takes the registry's mutex and builds the
// label and bucket vectors: too much for every call.)
// Threading: record() from any thread. Two threads racing on a first use
// both get the same metric from the registry, so the race is harmless.
class CallMetrics {
 public:
  explicit CallMetrics(const google::protobuf::MethodDescriptor* descriptor)
      : descriptor_(descriptor) {}

  void record(util::Code code, double seconds) {
    const auto i = static_cast<size_t>(code);
    if (i >= kCodes) {  // Not a code we know: look it up each time.
      handled(code).inc();
      duration(code).observe(seconds);
      return;
    }
    util::Counter* c = handled_[i].load(std::memory_order_acquire);
    if (c == nullptr) {
      c = &handled(code);
      handled_[i].store(c, std::memory_order_release);
    }
    util::Histogram* h = duration_[i].load(std::memory_order_acquire);
    if (h == nullptr) {
      h = &duration(code);
      duration_[i].store(h, std::memory_order_release);
    }
    c->inc();
    h->observe(seconds);
  }

 private:
  static constexpr size_t kCodes = 17;  // OK (0) to UNAUTHENTICATED (16).

  util::Counter& handled(util::Code code) const {
    return util::metrics().counter(
        "dkv_grpc_server_handled_total", "Calls completed, by method and code.",
        {{"grpc_method", descriptor_->name()}, {"grpc_code", std::string(util::code_name(code))}});
  }
  util::Histogram& duration(util::Code code) const {
    return util::metrics().histogram(
        "dkv_request_duration_seconds", "Call latency, by method and code.",
        util::exponential_buckets(0.0001, 2, 18),
        {{"method", descriptor_->name()}, {"code", std::string(util::code_name(code))}});
  }

  const google::protobuf::MethodDescriptor* const descriptor_;  // Lives forever.
  std::array<std::atomic<util::Counter*>, kCodes> handled_{};
  std::array<std::atomic<util::Histogram*>, kCodes> duration_{};
};

}  // namespace

void MethodRegistry::add_method(Method method) {
  DKV_ASSERT(method.descriptor != nullptr);
  DKV_ASSERT(method.handler != nullptr);
  DKV_ASSERT(method.request_prototype->GetDescriptor() == method.descriptor->input_type());
  DKV_ASSERT(method.response_prototype->GetDescriptor() == method.descriptor->output_type());
  const std::string name =
      method.descriptor->service()->full_name() + "/" + method.descriptor->name();
  // Every call, gRPC or REST, is counted and timed by method and code here,
  // the one place both front ends pass through.
  // DKV_LOG_LEVEL=trace adds one line per call (never at info: the
  // metrics count them).
  method.handler = [inner = std::move(method.handler),
                    metrics = std::make_shared<CallMetrics>(method.descriptor),
                    descriptor = method.descriptor](
                       const CallContext& ctx, const google::protobuf::Message& req,
                       google::protobuf::Message* resp, UnaryDone done) {
    const auto start = std::chrono::steady_clock::now();
    inner(ctx, req, resp,
          [start, metrics, descriptor, forwarded = ctx.forwarded,
           done = std::move(done)](util::Status s) {
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            metrics->record(s.code(), seconds);
            if (spdlog::should_log(spdlog::level::trace)) {
              spdlog::trace("request {}{}: {} in {:.3f} ms", descriptor->full_name(),
                            forwarded ? " (forwarded)" : "", s.to_string(), seconds * 1e3);
            }
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
