#include "api/etcd_maintenance_service.h"

#include <memory>

#include "api/etcd_errors.h"
#include "api/etcd_header.h"
#include "dkv/v0/cluster.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/mvcc_request.h"
#include "util/assert.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

void add_status(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                node::Node* node, const EtcdOptions& etcd) {
  registry->add<pb::StatusRequest, pb::StatusResponse>(
      service, "Status",
      [node, etcd](const CallContext&, const pb::StatusRequest&, pb::StatusResponse* resp,
                   UnaryDone done) {
        const node::NodeStatus st = node->status();
        fill_etcd_header_at_current_revision(*node, resp->mutable_header());
        resp->set_version(etcd.version);
        const auto db_bytes = static_cast<std::int64_t>(node->db_size_bytes());
        resp->set_dbsize(db_bytes);
        resp->set_dbsizeinuse(db_bytes);
        resp->set_leader(st.leader_id.empty() ? 0 : node::node_id_of(st.leader_id));
        resp->set_raftindex(st.commit_index);
        resp->set_raftterm(st.term);
        resp->set_raftappliedindex(st.applied_index);
        resp->set_islearner(st.role == "learner");
        pb::AlarmResponse alarms;
        if (auto s = node->alarms(&alarms); !s.is_ok()) return done(std::move(s));
        for (const auto& a : alarms.alarms()) {  // As etcd: its alarms are its errors.
          resp->add_errors("memberID:" + std::to_string(a.memberid()) +
                           " alarm:" + pb::AlarmType_Name(a.alarm()));
        }
        done(util::Status::ok());
      });
}

// The alarms `node` holds of type `type` (all for NONE).
util::Status list_alarms(const node::Node& node, pb::AlarmType type,
                         google::protobuf::RepeatedPtrField<pb::AlarmMember>* out) {
  pb::AlarmResponse all;
  if (auto s = node.alarms(&all); !s.is_ok()) return s;
  for (const auto& a : all.alarms()) {
    if (type == pb::NONE || a.alarm() == type) *out->Add() = a;
  }
  return util::Status::ok();
}

bool holds(const pb::AlarmResponse& alarms, const pb::AlarmRequest& r) {
  for (const auto& a : alarms.alarms()) {
    if (a.memberid() == r.memberid() && a.alarm() == r.alarm()) return true;
  }
  return false;
}

// GET lists (this node's applied view); ACTIVATE and DEACTIVATE go through
// the log and answer the alarm they changed, as etcd does.
void add_alarm(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
               node::Node* node, const ServiceOptions& options) {
  registry->add<pb::AlarmRequest, pb::AlarmResponse>(
      service, "Alarm",
      [node, options](const CallContext& ctx, const pb::AlarmRequest& req, pb::AlarmResponse* resp,
                      UnaryDone done) {
        if (req.action() == pb::AlarmRequest::GET) {
          if (auto s = list_alarms(*node, req.alarm(), resp->mutable_alarms()); !s.is_ok()) {
            return done(std::move(s));
          }
          fill_etcd_header_at_current_revision(*node, resp->mutable_header());
          return done(util::Status::ok());
        }
        pb::AlarmResponse before;
        if (auto s = node->alarms(&before); !s.is_ok()) return done(std::move(s));
        const bool activate = req.action() == pb::AlarmRequest::ACTIVATE;
        const bool changes = req.alarm() != pb::NONE && holds(before, req) != activate;
        node->write(
            kv::etcd_command(req), request_deadline(ctx, options),
            [node, resp, req, changes, done = std::move(done)](util::Status s, kv::ApplyResult) {
              if (!s.is_ok()) return done(std::move(s));
              fill_etcd_header_at_current_revision(*node, resp->mutable_header());
              if (changes) {
                auto* a = resp->add_alarms();
                a->set_memberid(req.memberid());
                a->set_alarm(req.alarm());
              }
              done(util::Status::ok());
            });
      });
}

void add_move_leader(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                     node::Node* node) {
  const Method* v0_move = registry->find("dkv.v0.Cluster/MoveLeader");
  DKV_ASSERT(v0_move != nullptr);  // register_services() runs first.
  registry->add<pb::MoveLeaderRequest, pb::MoveLeaderResponse>(
      service, "MoveLeader",
      [node, v0_move](const CallContext& ctx, const pb::MoveLeaderRequest& req,
                      pb::MoveLeaderResponse* resp, UnaryDone done) {
        const node::Membership m = node->membership();
        if (!m.is_voter(req.targetid())) {
          return done({util::Code::kFailedPrecondition, "etcdserver: bad leader transferee"});
        }
        auto v0_req = std::make_shared<v0::MoveLeaderRequest>();
        auto v0_resp = std::make_shared<v0::MoveLeaderResponse>();
        v0_req->set_id(m.name_of(req.targetid()));
        v0_move->handler(ctx, *v0_req, v0_resp.get(),
                         [node, resp, v0_req, v0_resp, done = std::move(done)](util::Status s) {
                           if (!s.is_ok()) return done(etcd_member_error(s));
                           fill_etcd_header_at_current_revision(*node, resp->mutable_header());
                           done(util::Status::ok());
                         });
      });
}

void add_defragment(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                    node::Node* node) {
  registry->add<pb::DefragmentRequest, pb::DefragmentResponse>(
      service, "Defragment",
      [node](const CallContext&, const pb::DefragmentRequest&, pb::DefragmentResponse* resp,
             UnaryDone done) {
        fill_etcd_header_at_current_revision(*node, resp->mutable_header());
        done(util::Status::ok());
      });
}

// etcd's HashKV (kv/mvcc_hash.h), served from this member's store without
// the log, as etcd's; refused on a learner, as etcd's interceptor does.
void add_hash_kv(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                 node::Node* node, const ServiceOptions& options) {
  registry->add<pb::HashKVRequest, pb::HashKVResponse>(
      service, "HashKV",
      [node, options](const CallContext& ctx, const pb::HashKVRequest& req,
                      pb::HashKVResponse* resp, UnaryDone done) {
        if (auto s = etcd_learner_check(node->is_learner(), false); !s.is_ok()) {
          return done(std::move(s));
        }
        const std::int64_t revision = req.revision();
        node->read_store(
            [revision, resp](const kv::Store& store) {
              std::uint32_t hash = 0;
              std::int64_t current = 0, compact = 0;
              util::Status s = store.hash_kv(revision, &hash, &current, &compact);
              if (!s.is_ok()) return s;
              resp->set_hash(hash);
              resp->set_compact_revision(compact);
              resp->mutable_header()->set_revision(current);
              return util::Status::ok();
            },
            /*serializable=*/true, request_deadline(ctx, options),
            [node, resp, done = std::move(done)](util::Status s) {
              if (!s.is_ok()) return done(etcd_error_of(s));
              fill_etcd_header(*node, resp->mutable_header());
              done(util::Status::ok());
            });
      });
}

}  // namespace

void register_etcd_maintenance_service(MethodRegistry* registry, node::Node* node,
                                       const ServiceOptions& options, const EtcdOptions& etcd) {
  const auto* service = pb::StatusRequest::descriptor()->file()->FindServiceByName("Maintenance");
  add_status(registry, service, node, etcd);
  add_alarm(registry, service, node, options);
  add_move_leader(registry, service, node);
  add_defragment(registry, service, node);
  add_hash_kv(registry, service, node, options);
}

std::string etcd_version_json(const std::string& version) {
  const size_t second_dot = version.find('.', version.find('.') + 1);
  const std::string cluster = version.substr(0, second_dot) + ".0";
  return "{\"etcdserver\":\"" + version + "\",\"etcdcluster\":\"" + cluster + "\"}";
}

EtcdHealth etcd_health(const node::Node& node) {
  pb::AlarmResponse alarms;
  const bool healthy = !node.removed() && !node.status().leader_id.empty() &&
                       node.alarms(&alarms).is_ok() && alarms.alarms().empty();
  if (healthy) return {200, "{\"health\":\"true\"}"};
  return {503, "{\"health\":\"false\"}"};
}

}  // namespace dkv::api
