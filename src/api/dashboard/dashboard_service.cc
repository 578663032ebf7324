#include "api/dashboard/dashboard_service.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "api/dashboard/member_views.h"
#include "dkv/dashboard/v0/dashboard.pb.h"
#include "dkv/v0/cluster.pb.h"
#include "util/assert.h"

namespace dkv::api::dashboard {

namespace {

using Clock = std::chrono::steady_clock;
namespace pb = dkv::dashboard::v0;

constexpr const char* kStatusMethod = "dkv.v0.Cluster/Status";

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One Cluster call's questions in flight. The last answer fills the
// response and calls `done`.
struct Gather {
  node::Node* node = nullptr;
  pb::ClusterResponse* response = nullptr;
  UnaryDone done;
  Clock::time_point started;
  v0::StatusRequest request;  // Empty; outlives every call made with it.
  std::mutex mu;
  std::vector<MemberProbe> probes;  // Sized before the first call: stable addresses.
  size_t remaining = 0;

  // Records probe i's outcome; finishes after the last one.
  void answered(size_t i, const util::Status& s) {
    {
      std::lock_guard lock(mu);
      MemberProbe& p = probes[i];
      p.answered = s.is_ok();
      if (!s.is_ok()) p.error = s.to_string();
      p.answer_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
      DKV_ASSERT(remaining > 0);
      if (--remaining > 0) return;
    }
    finish();
  }

  void finish() {
    fill_member_views(probes, response->mutable_members());
    for (const auto& p : probes) {
      if (p.is_self && p.answered) response->set_cluster_id(p.status.cluster_id());
    }
    for (const auto& e : node->events().recent()) {
      auto* out = response->add_events();
      out->set_seq(e.seq);
      out->set_unix_ms(e.unix_ms);
      out->set_kind(e.kind);
      out->set_text(e.text);
    }
    response->set_unix_ms(unix_ms_now());
    done(util::Status::ok());
  }
};

std::vector<MemberProbe> probes_of(const node::Membership& m, const std::string& self) {
  std::vector<MemberProbe> probes;
  auto add = [&](const node::MemberAddress& a, bool learner) {
    MemberProbe p;
    p.name = a.id;
    p.address = a.address();
    p.is_learner = learner;
    p.is_self = a.id == self;
    probes.push_back(std::move(p));
  };
  for (const auto& v : m.voters()) add(v, false);
  for (const auto& l : m.learners()) add(l, true);
  return probes;
}

void ask_members(const MethodRegistry* registry, node::Node* node, const ServiceOptions& so,
                 const DashboardOptions& options, const CallContext& ctx, pb::ClusterResponse* resp,
                 UnaryDone done) {
  const node::NodeStatus st = node->status();
  resp->set_node_id(st.node_id);
  auto gather = std::make_shared<Gather>();
  gather->node = node;
  gather->response = resp;
  gather->done = std::move(done);
  gather->started = Clock::now();
  gather->probes = probes_of(node->membership(), st.node_id);
  gather->remaining = gather->probes.size();
  if (gather->probes.empty()) return gather->finish();
  CallContext member_ctx;
  member_ctx.deadline = std::min(ctx.deadline, gather->started + options.member_deadline);
  member_ctx.forwarded = true;  // Never sent further.
  const Method* local_status = registry->find(kStatusMethod);
  DKV_ASSERT(local_status != nullptr);
  for (size_t i = 0; i < gather->probes.size(); ++i) {
    MemberProbe& p = gather->probes[i];
    UnaryDone answered = [gather, i](util::Status s) { gather->answered(i, s); };
    if (p.is_self) {
      local_status->handler(member_ctx, gather->request, &p.status, std::move(answered));
    } else if (so.forward) {
      so.forward(p.address, std::string("/") + kStatusMethod, member_ctx, gather->request,
                 &p.status, std::move(answered));
    } else {
      answered(util::unavailable("no way to reach other members"));
    }
  }
}

}  // namespace

void register_dashboard_service(MethodRegistry* registry, node::Node* node,
                                const ServiceOptions& service_options, DashboardOptions options) {
  const auto* service = pb::ClusterRequest::descriptor()->file()->FindServiceByName("Dashboard");
  DKV_ASSERT(service != nullptr);
  registry->add<pb::ClusterRequest, pb::ClusterResponse>(
      service, "Cluster",
      [registry, node, service_options, options](const CallContext& ctx, const pb::ClusterRequest&,
                                                 pb::ClusterResponse* resp, UnaryDone done) {
        ask_members(registry, node, service_options, options, ctx, resp, std::move(done));
      });
}

}  // namespace dkv::api::dashboard
