#include "api/feature_gate_query.h"

#include <future>
#include <memory>

#include "dkv/v0/cluster.pb.h"

namespace dkv::api {

node::FeatureLevelQuery make_feature_level_query(decltype(ServiceOptions::forward) forward) {
  return [forward](const std::string& address, std::chrono::milliseconds timeout,
                   node::MemberFeatureLevels* out) -> util::Status {
    // Outlives this call if the answer comes after the timeout.
    struct Call {
      v0::StatusRequest request;
      v0::StatusResponse response;
      std::promise<util::Status> done;
    };
    auto call = std::make_shared<Call>();
    std::future<util::Status> answered = call->done.get_future();
    CallContext ctx;
    ctx.deadline = std::chrono::steady_clock::now() + timeout;
    ctx.forwarded = true;  // Never sent further.
    forward(address, "/dkv.v0.Cluster/Status", ctx, call->request, &call->response,
            [call](util::Status s) { call->done.set_value(std::move(s)); });
    // gRPC answers by the deadline; a little slack for its threads.
    if (answered.wait_for(timeout + std::chrono::milliseconds(500)) != std::future_status::ready) {
      return util::unavailable("no answer from " + address);
    }
    if (auto s = answered.get(); !s.is_ok()) return s;
    out->answered = true;
    out->supported = static_cast<kv::FeatureLevel>(call->response.feature_level());
    out->committed = static_cast<kv::FeatureLevel>(call->response.committed_feature_level());
    return util::Status::ok();
  };
}

}  // namespace dkv::api
