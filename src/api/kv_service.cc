#include "api/kv_service.h"

#include <algorithm>
#include <cstdio>

#include "api/etcd_kv_service.h"
#include "api/etcd_lease_service.h"
#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "kv/limits.h"
#include "util/version.h"

namespace dkv::api {
namespace {

std::string hex_id(std::uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

node::Deadline effective_deadline(const CallContext& ctx, const ServiceOptions& options) {
  return request_deadline(ctx, options);
}

}  // namespace

node::Deadline request_deadline(const CallContext& ctx, const ServiceOptions& options) {
  constexpr std::chrono::milliseconds kAnswerMarginMax{250};
  const auto now = std::chrono::steady_clock::now();
  const auto limit = now + options.request_timeout;
  if (ctx.deadline >= limit) return limit;  // Also: no deadline (time_point::max()).
  const auto left = ctx.deadline > now ? ctx.deadline - now : std::chrono::steady_clock::duration{};
  const auto margin = std::min<std::chrono::steady_clock::duration>(left / 4, kAnswerMarginMax);
  return ctx.deadline - margin;
}

util::Status validate_key(const std::string& key) {
  if (key.size() < kv::kKeyBytesMin) return util::invalid_argument("key is empty");
  if (key.size() > kv::kKeyBytesMax) {
    return util::invalid_argument("key is " + std::to_string(key.size()) + " bytes; the limit is " +
                                  std::to_string(kv::kKeyBytesMax));
  }
  return util::Status::ok();
}

util::Status validate_value(const std::string& value) {
  if (value.size() > kv::kValueBytesMax) {
    return util::invalid_argument("value is " + std::to_string(value.size()) +
                                  " bytes; the limit is " + std::to_string(kv::kValueBytesMax));
  }
  return util::Status::ok();
}

namespace {

// This node's answer to dkv.v0.Cluster/Status.
void fill_status(const node::Node& node, v0::StatusResponse* resp) {
  const node::NodeStatus st = node.status();
  resp->set_node_id(st.node_id);
  resp->set_leader_id(st.leader_id);
  resp->set_term(st.term);
  resp->set_role(st.role);
  resp->set_commit_index(st.commit_index);
  resp->set_applied_index(st.applied_index);
  resp->set_rejoining(st.rejoining);
  for (const auto& m : st.members) {
    auto* member = resp->add_members();
    member->set_id(m.id);
    member->set_address(m.address());
    member->set_is_learner(std::find(st.learner_ids.begin(), st.learner_ids.end(), m.id) !=
                           st.learner_ids.end());
  }
  resp->set_db_size_bytes(node.db_size_bytes());
  resp->set_version(std::string(util::version()));
  resp->set_cluster_id(hex_id(node.cluster_id()));
  resp->set_feature_level(static_cast<std::uint32_t>(node.feature_level_supported()));
  resp->set_committed_feature_level(static_cast<std::uint32_t>(node.feature_level()));
}

}  // namespace

void register_services(MethodRegistry* registry, node::Node* node, ServiceOptions options) {
  const auto* kv_service = v0::PutRequest::descriptor()->file()->FindServiceByName("KV");
  const auto* cluster_service =
      v0::StatusRequest::descriptor()->file()->FindServiceByName("Cluster");

  registry->add<v0::PutRequest, v0::PutResponse>(
      kv_service, "Put",
      [node, options](const CallContext& ctx, const v0::PutRequest& req, v0::PutResponse*,
                      UnaryDone done) {
        if (auto s = validate_key(req.key()); !s.is_ok()) return done(std::move(s));
        if (auto s = validate_value(req.value()); !s.is_ok()) return done(std::move(s));
        node->write(
            kv::Command{kv::Op::kPut, req.key(), req.value()}, effective_deadline(ctx, options),
            [done = std::move(done)](util::Status s, kv::ApplyResult) { done(std::move(s)); });
      });

  registry->add<v0::GetRequest, v0::GetResponse>(
      kv_service, "Get",
      [node, options](const CallContext& ctx, const v0::GetRequest& req, v0::GetResponse* resp,
                      UnaryDone done) {
        if (auto s = validate_key(req.key()); !s.is_ok()) return done(std::move(s));
        node->read(
            req.key(), req.serializable(), effective_deadline(ctx, options),
            [resp, key = req.key(), done = std::move(done)](util::Status s, std::string value) {
              if (s.is_ok()) {
                resp->set_key(key);
                resp->set_value(std::move(value));
              }
              done(std::move(s));
            });
      });

  registry->add<v0::DeleteRequest, v0::DeleteResponse>(
      kv_service, "Delete",
      [node, options](const CallContext& ctx, const v0::DeleteRequest& req,
                      v0::DeleteResponse* resp, UnaryDone done) {
        if (auto s = validate_key(req.key()); !s.is_ok()) return done(std::move(s));
        node->write(kv::Command{kv::Op::kDelete, req.key(), {}}, effective_deadline(ctx, options),
                    [resp, done = std::move(done)](util::Status s, kv::ApplyResult r) {
                      if (s.is_ok()) resp->set_deleted(r.deleted);
                      done(std::move(s));
                    });
      });

  registry->add<v0::StatusRequest, v0::StatusResponse>(
      cluster_service, "Status",
      [node](const CallContext&, const v0::StatusRequest&, v0::StatusResponse* resp,
             UnaryDone done) {
        fill_status(*node, resp);
        done(util::Status::ok());
      });

  register_membership_services(registry, node, options);
  register_etcd_kv_service(registry, node, options);
  register_etcd_lease_service(registry, node, options);
}

}  // namespace dkv::api
