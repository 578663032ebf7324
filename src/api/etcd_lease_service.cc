#include "api/etcd_lease_service.h"

#include <mutex>
#include <random>
#include <utility>

#include "api/etcd_errors.h"
#include "api/etcd_header.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/lease.h"
#include "kv/mvcc_request.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

const google::protobuf::ServiceDescriptor* lease_service() {
  return pb::LeaseGrantRequest::descriptor()->file()->FindServiceByName("Lease");
}

util::Status precheck(const CallContext& ctx, const node::Node& node) {
  if (ctx.require_leader && !node.has_leader()) return etcd_no_leader();
  return util::Status::ok();
}

// Proposes a lease entry; `done` gets etcd's error or OK once applied here.
void propose(node::Node* node, kv::Command command, node::Deadline deadline,
             pb::ResponseHeader* header, UnaryDone done) {
  node->write(std::move(command), deadline,
              [node, header, done = std::move(done)](util::Status s, kv::ApplyResult r) {
                if (!s.is_ok()) return done(etcd_error_of(s));
                if (r.etcd == nullptr) return done(util::internal_error("etcdserver: no result"));
                if (!r.etcd->status.is_ok()) return done(etcd_error_of(r.etcd->status));
                header->set_revision(r.etcd->revision);
                fill_etcd_header(*node, header);
                done(util::Status::ok());
              });
}

// Runs `local` if this node leads; else forwards the call to the leader.
void on_leader(node::Node* node, const ServiceOptions& options, const std::string& method,
               const CallContext& ctx, const google::protobuf::Message& request,
               google::protobuf::Message* response, UnaryDone done,
               const std::function<void(UnaryDone)>& local) {
  const node::NodeStatus st = node->status();
  if (st.role == "leader") return local(std::move(done));
  if (st.leader_id.empty()) return done(etcd_no_leader());
  const node::Membership members = node->membership();
  const node::MemberAddress* leader = members.find(node::node_id_of(st.leader_id));
  if (ctx.forwarded || !options.forward || leader == nullptr) {
    return done(util::unavailable("etcdserver: not the leader; the leader is " + st.leader_id));
  }
  CallContext forwarded = ctx;
  forwarded.deadline = request_deadline(ctx, options);
  options.forward(leader->address(), "/etcdserverpb.Lease/" + method, forwarded, request, response,
                  std::move(done));
}

void register_grant(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  auto rng = std::make_shared<std::pair<std::mutex, std::mt19937_64>>();
  rng->second.seed(std::random_device{}() ^ (node->raft_id() << 1));
  registry->add<pb::LeaseGrantRequest, pb::LeaseGrantResponse>(
      lease_service(), "LeaseGrant",
      [node, options, rng](const CallContext& ctx, const pb::LeaseGrantRequest& req,
                           pb::LeaseGrantResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        if (auto s = lease_entries_allowed(*node); !s.is_ok()) return done(std::move(s));
        pb::LeaseGrantRequest grant = req;
        util::Status s;
        {
          std::lock_guard lock(rng->first);
          s = kv::prepare_grant(&grant, node->lessor().min_ttl_seconds(), rng->second);
        }
        if (!s.is_ok()) return done(std::move(s));
        resp->set_id(grant.id());
        resp->set_ttl(grant.ttl());
        propose(node, kv::lease_grant_command(grant), request_deadline(ctx, options),
                resp->mutable_header(), std::move(done));
      });
}

void register_revoke(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  registry->add<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>(
      lease_service(), "LeaseRevoke",
      [node, options](const CallContext& ctx, const pb::LeaseRevokeRequest& req,
                      pb::LeaseRevokeResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        if (auto s = lease_entries_allowed(*node); !s.is_ok()) return done(std::move(s));
        propose(node, kv::lease_revoke_command(req.id(), 0), request_deadline(ctx, options),
                resp->mutable_header(), std::move(done));
      });
}

// The leader's renewal: a ReadIndex round confirms its leadership, then
// the Lessor renews; a stored checkpoint is cleared before the answer.
void renew_here(node::Node* node, node::Deadline deadline, const pb::LeaseKeepAliveRequest& req,
                pb::LeaseKeepAliveResponse* resp, UnaryDone done) {
  const std::int64_t id = req.id();
  auto renewal = std::make_shared<node::Lessor::Renewal>();
  node->read_store(
      [node, id, renewal](const kv::Store&) {
        *renewal = node->lessor().renew(id, node::LeaseClock::now());
        return util::Status::ok();
      },
      /*serializable=*/false, deadline,
      [node, id, renewal, resp, deadline, done = std::move(done)](util::Status s) {
        if (!s.is_ok()) return done(etcd_error_of(s));
        resp->set_id(id);
        fill_etcd_header_at_current_revision(*node, resp->mutable_header());
        if (renewal->status.code() == util::Code::kNotFound) return done(util::Status::ok());
        if (!renewal->status.is_ok()) return done(renewal->status);
        resp->set_ttl(renewal->ttl);
        if (!renewal->clear_checkpoint) return done(util::Status::ok());
        node->write(kv::lease_checkpoint_command({{id, 0}}), deadline,
                    [done](util::Status ws, kv::ApplyResult) {
                      done(ws.is_ok() ? ws : etcd_error_of(ws));
                    });
      });
}

void register_keep_alive(MethodRegistry* registry, node::Node* node,
                         const ServiceOptions& options) {
  registry->add<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>(
      lease_service(), "LeaseKeepAlive",
      [node, options](const CallContext& ctx, const pb::LeaseKeepAliveRequest& req,
                      pb::LeaseKeepAliveResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        on_leader(node, options, "LeaseKeepAlive", ctx, req, resp, std::move(done),
                  [node, options, ctx, &req, resp](UnaryDone d) {
                    renew_here(node, request_deadline(ctx, options), req, resp, std::move(d));
                  });
      });
}

void register_time_to_live(MethodRegistry* registry, node::Node* node,
                           const ServiceOptions& options) {
  registry->add<pb::LeaseTimeToLiveRequest, pb::LeaseTimeToLiveResponse>(
      lease_service(), "LeaseTimeToLive",
      [node, options](const CallContext& ctx, const pb::LeaseTimeToLiveRequest& req,
                      pb::LeaseTimeToLiveResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        on_leader(
            node, options, "LeaseTimeToLive", ctx, req, resp, std::move(done),
            [node, options, ctx, &req, resp](UnaryDone d) {
              node->read_store(
                  [node, &req, resp](const kv::Store& store) {
                    resp->set_id(req.id());
                    kv::LeaseInfo info;
                    std::vector<std::string> keys;
                    util::Status s = store.lease(req.id(), &info, req.keys() ? &keys : nullptr);
                    if (s.code() == util::Code::kNotFound) {
                      resp->set_ttl(-1);
                      return util::Status::ok();
                    }
                    if (!s.is_ok()) return s;
                    resp->set_grantedttl(info.ttl);
                    const auto left = node->lessor().remaining(req.id(), node::LeaseClock::now());
                    resp->set_ttl(left ? *left
                                       : (info.remaining_ttl > 0 ? info.remaining_ttl : info.ttl));
                    for (auto& k : keys) resp->add_keys(std::move(k));
                    return util::Status::ok();
                  },
                  /*serializable=*/false, request_deadline(ctx, options),
                  [node, resp, d = std::move(d)](util::Status s) {
                    if (!s.is_ok()) return d(etcd_error_of(s));
                    fill_etcd_header_at_current_revision(*node, resp->mutable_header());
                    d(util::Status::ok());
                  });
            });
      });
}

void register_leases(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  registry->add<pb::LeaseLeasesRequest, pb::LeaseLeasesResponse>(
      lease_service(), "LeaseLeases",
      [node, options](const CallContext& ctx, const pb::LeaseLeasesRequest&,
                      pb::LeaseLeasesResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        node->read_store(
            [resp](const kv::Store& store) {
              std::vector<kv::LeaseInfo> all;
              if (auto s = store.leases(&all); !s.is_ok()) return s;
              for (const auto& l : all) resp->add_leases()->set_id(l.id);
              return util::Status::ok();
            },
            /*serializable=*/false, request_deadline(ctx, options),
            [node, resp, done = std::move(done)](util::Status s) {
              if (!s.is_ok()) return done(etcd_error_of(s));
              fill_etcd_header_at_current_revision(*node, resp->mutable_header());
              done(util::Status::ok());
            });
      });
}

}  // namespace

util::Status lease_entries_allowed(const node::Node& node) {
  return kv::check_proposal(kv::lease_revoke_command(0, 0), node.feature_level());
}

void register_etcd_lease_service(MethodRegistry* registry, node::Node* node,
                                 const ServiceOptions& options) {
  register_grant(registry, node, options);
  register_revoke(registry, node, options);
  register_keep_alive(registry, node, options);
  register_time_to_live(registry, node, options);
  register_leases(registry, node, options);
}

}  // namespace dkv::api
