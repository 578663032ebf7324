#include "api/etcd_maintenance_service.h"

#include <memory>

#include "api/etcd_header.h"
#include "dkv/v0/cluster.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
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
        fill_etcd_header(*node, resp->mutable_header());
        resp->set_version(etcd.version);
        const auto db_bytes = static_cast<std::int64_t>(node->db_size_bytes());
        resp->set_dbsize(db_bytes);
        resp->set_dbsizeinuse(db_bytes);
        resp->set_leader(st.leader_id.empty() ? 0 : node::node_id_of(st.leader_id));
        resp->set_raftindex(st.commit_index);
        resp->set_raftterm(st.term);
        resp->set_raftappliedindex(st.applied_index);
        resp->set_islearner(st.role == "learner");
        done(util::Status::ok());
      });
}

void add_alarm(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
               node::Node* node) {
  registry->add<pb::AlarmRequest, pb::AlarmResponse>(
      service, "Alarm",
      [node](const CallContext&, const pb::AlarmRequest& req, pb::AlarmResponse* resp,
             UnaryDone done) {
        if (req.action() == pb::AlarmRequest::ACTIVATE) {
          return done({util::Code::kUnimplemented,
                       "dkv keeps no alarms: writes over DKV_QUOTA_BYTES are refused one by one"});
        }
        fill_etcd_header(*node, resp->mutable_header());
        done(util::Status::ok());  // GET, DEACTIVATE: no alarm is ever raised.
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
                           fill_etcd_header(*node, resp->mutable_header());
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
        fill_etcd_header(*node, resp->mutable_header());
        done(util::Status::ok());
      });
}

}  // namespace

void register_etcd_maintenance_service(MethodRegistry* registry, node::Node* node,
                                       const EtcdOptions& etcd) {
  const auto* service = pb::StatusRequest::descriptor()->file()->FindServiceByName("Maintenance");
  add_status(registry, service, node, etcd);
  add_alarm(registry, service, node);
  add_move_leader(registry, service, node);
  add_defragment(registry, service, node);
}

std::string etcd_version_json(const std::string& version) {
  const size_t second_dot = version.find('.', version.find('.') + 1);
  const std::string cluster = version.substr(0, second_dot) + ".0";
  return "{\"etcdserver\":\"" + version + "\",\"etcdcluster\":\"" + cluster + "\"}";
}

EtcdHealth etcd_health(const node::Node& node) {
  const bool healthy = !node.removed() && !node.status().leader_id.empty();
  if (healthy) return {200, "{\"health\":\"true\"}"};
  return {503, "{\"health\":\"false\"}"};
}

}  // namespace dkv::api
