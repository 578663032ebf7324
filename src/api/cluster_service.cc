// dkv.v0.Cluster's membership calls: validation, forwarding to the leader,
// and the mapping between node::Membership and the API's Member messages.
// Members are named by their DKV_CLUSTER ids everywhere.
#include <algorithm>
#include <functional>

#include "api/kv_service.h"
#include "dkv/v0/cluster.pb.h"

namespace dkv::api {
namespace {

node::Deadline effective_deadline(const CallContext& ctx, const ServiceOptions& options) {
  return request_deadline(ctx, options);
}

void fill_members(const node::Membership& m, google::protobuf::RepeatedPtrField<v0::Member>* out) {
  for (const auto& v : m.voters()) {
    auto* member = out->Add();
    member->set_id(v.id);
    member->set_address(v.address());
  }
  for (const auto& l : m.learners()) {
    auto* member = out->Add();
    member->set_id(l.id);
    member->set_address(l.address());
    member->set_is_learner(true);
  }
}

util::Status check_id(const std::string& id) {
  std::vector<node::MemberAddress> parsed;
  if (id.empty()) return util::invalid_argument("member id is empty");
  if (!node::parse_cluster(id + "@h:1", &parsed).is_ok()) {
    return util::invalid_argument("bad member id '" + id + "' (letters, digits, -_.)");
  }
  return util::Status::ok();
}

// Runs `local` on the leader; elsewhere forwards the call to the leader.
void on_leader(node::Node* node, const ServiceOptions& options, const std::string& method,
               const CallContext& ctx, const google::protobuf::Message& request,
               google::protobuf::Message* response, UnaryDone done,
               const std::function<void(UnaryDone)>& local) {
  if (node->removed()) {
    return done(util::unavailable("this node was removed from the cluster; use another member"));
  }
  const node::NodeStatus st = node->status();
  if (st.role == "leader") return local(std::move(done));
  if (st.leader_id.empty()) return done(util::unavailable("no leader; retry"));
  const node::Membership members = node->membership();
  const node::MemberAddress* leader = members.find(node::node_id_of(st.leader_id));
  if (ctx.forwarded || !options.forward || leader == nullptr) {
    return done(util::unavailable("not the leader; the leader is " + st.leader_id));
  }
  CallContext forwarded = ctx;
  forwarded.deadline = effective_deadline(ctx, options);
  options.forward(leader->address(), "/dkv.v0.Cluster/" + method, forwarded, request, response,
                  std::move(done));
}

// The leader is asked to remove itself: it hands leadership to the most
// caught-up voter first, and the removal goes to that new leader, so the
// cluster never waits an election timeout without a leader.
void remove_leader(node::Node* node, const ServiceOptions& options, const std::string& method,
                   const CallContext& ctx, const node::ChangeRequest& change,
                   const google::protobuf::Message& request, google::protobuf::Message* response,
                   UnaryDone done, const std::function<void(UnaryDone)>& propose_here) {
  node->hand_off_before_removal(
      change, effective_deadline(ctx, options),
      [node, options, method, ctx, &request, response, done = std::move(done), propose_here](
          util::Status s, std::string new_leader) mutable {
        if (!s.is_ok()) return done(std::move(s));
        // No voter to hand over to: the core hands off when it applies it.
        if (new_leader == node->status().node_id) return propose_here(std::move(done));
        const node::MemberAddress* to = node->membership().find(node::node_id_of(new_leader));
        if (!options.forward || to == nullptr) {
          return done(
              util::unavailable("leadership moved to " + new_leader + "; send the removal there"));
        }
        CallContext forwarded = ctx;
        forwarded.deadline = effective_deadline(ctx, options);
        options.forward(to->address(), "/dkv.v0.Cluster/" + method, forwarded, request, response,
                        std::move(done));
      });
}

using ChangeCall =
    std::function<void(const CallContext& ctx, const std::string& id, bool force,
                       const google::protobuf::Message& req, google::protobuf::Message* resp,
                       google::protobuf::RepeatedPtrField<v0::Member>* members, UnaryDone done)>;

// The handler shared by MemberPromote and MemberRemove: check the id, then
// propose on the leader (a leader removing itself hands off first).
ChangeCall change_call(node::Node* node, const ServiceOptions& options, const std::string& method,
                       node::ChangeKind kind) {
  return [node, options, method, kind](
             const CallContext& ctx, const std::string& id, bool force,
             const google::protobuf::Message& req, google::protobuf::Message* resp,
             google::protobuf::RepeatedPtrField<v0::Member>* members, UnaryDone done) {
    if (auto s = check_id(id); !s.is_ok()) return done(std::move(s));
    node::ChangeRequest change;
    change.kind = kind;
    change.member.id = id;
    change.force = force;
    auto propose_here = [=](UnaryDone done) {
      node->change_membership(
          change, effective_deadline(ctx, options),
          [members, done = std::move(done)](util::Status s, node::Membership m) {
            if (s.is_ok()) fill_members(m, members);
            done(std::move(s));
          });
    };
    const bool removes_leader = kind == node::ChangeKind::kRemove && node->status().node_id == id;
    const google::protobuf::Message* request = &req;  // Lives until done() is called.
    on_leader(node, options, method, ctx, req, resp, std::move(done), [=](UnaryDone done) {
      if (!removes_leader) return propose_here(std::move(done));
      remove_leader(node, options, method, ctx, change, *request, resp, std::move(done),
                    propose_here);
    });
  };
}

void add_member_list(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                     node::Node* node, const ServiceOptions& options) {
  registry->add<v0::MemberListRequest, v0::MemberListResponse>(
      service, "MemberList",
      [node, options](const CallContext& ctx, const v0::MemberListRequest&,
                      v0::MemberListResponse* resp, UnaryDone done) {
        node->list_members(effective_deadline(ctx, options),
                           [resp, done = std::move(done)](util::Status s, node::Membership m) {
                             if (s.is_ok()) fill_members(m, resp->mutable_members());
                             done(std::move(s));
                           });
      });
}

void add_member_add(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                    node::Node* node, const ServiceOptions& options) {
  registry->add<v0::MemberAddRequest, v0::MemberAddResponse>(
      service, "MemberAdd",
      [node, options](const CallContext& ctx, const v0::MemberAddRequest& req,
                      v0::MemberAddResponse* resp, UnaryDone done) {
        if (auto s = check_id(req.id()); !s.is_ok()) return done(std::move(s));
        std::vector<node::MemberAddress> parsed;
        if (auto s = node::parse_cluster(req.id() + "@" + req.address(), &parsed); !s.is_ok()) {
          return done(util::invalid_argument("bad address '" + req.address() +
                                             "': want host:port (the member's RPC address)"));
        }
        node::ChangeRequest change;
        change.kind = req.voter() ? node::ChangeKind::kAddVoter : node::ChangeKind::kAddLearner;
        change.member = parsed.front();
        change.force = req.force();
        on_leader(node, options, "MemberAdd", ctx, req, resp, std::move(done), [=](UnaryDone done) {
          node->change_membership(
              change, effective_deadline(ctx, options),
              [resp, change, done = std::move(done)](util::Status s, node::Membership m) {
                if (s.is_ok()) {
                  resp->mutable_member()->set_id(change.member.id);
                  resp->mutable_member()->set_address(change.member.address());
                  resp->mutable_member()->set_is_learner(change.kind ==
                                                         node::ChangeKind::kAddLearner);
                  fill_members(m, resp->mutable_members());
                }
                done(std::move(s));
              });
        });
      });
}

void add_member_changes(MethodRegistry* registry,
                        const google::protobuf::ServiceDescriptor* service, node::Node* node,
                        const ServiceOptions& options) {
  registry->add<v0::MemberPromoteRequest, v0::MemberPromoteResponse>(
      service, "MemberPromote",
      [call = change_call(node, options, "MemberPromote", node::ChangeKind::kPromote)](
          const CallContext& ctx, const v0::MemberPromoteRequest& req,
          v0::MemberPromoteResponse* resp, UnaryDone done) {
        call(ctx, req.id(), req.force(), req, resp, resp->mutable_members(), std::move(done));
      });

  registry->add<v0::MemberRemoveRequest, v0::MemberRemoveResponse>(
      service, "MemberRemove",
      [call = change_call(node, options, "MemberRemove", node::ChangeKind::kRemove)](
          const CallContext& ctx, const v0::MemberRemoveRequest& req,
          v0::MemberRemoveResponse* resp, UnaryDone done) {
        call(ctx, req.id(), req.force(), req, resp, resp->mutable_members(), std::move(done));
      });
}

void add_move_leader(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                     node::Node* node, const ServiceOptions& options) {
  registry->add<v0::MoveLeaderRequest, v0::MoveLeaderResponse>(
      service, "MoveLeader",
      [node, options](const CallContext& ctx, const v0::MoveLeaderRequest& req,
                      v0::MoveLeaderResponse* resp, UnaryDone done) {
        if (auto s = check_id(req.id()); !s.is_ok()) return done(std::move(s));
        const node::Membership m = node->membership();
        // Answered here when it needs no leader: already leading, unknown.
        if (m.find(node::node_id_of(req.id())) == nullptr) {
          return done(util::not_found("no member '" + req.id() + "'"));
        }
        if (node->status().leader_id == req.id()) {
          resp->set_leader_id(req.id());
          return done(util::Status::ok());
        }
        on_leader(
            node, options, "MoveLeader", ctx, req, resp, std::move(done), [=](UnaryDone done) {
              node->move_leader(req.id(), effective_deadline(ctx, options),
                                [resp, done = std::move(done)](util::Status s, std::string leader) {
                                  if (s.is_ok()) resp->set_leader_id(leader);
                                  done(std::move(s));
                                });
            });
      });
}

}  // namespace

void register_membership_services(MethodRegistry* registry, node::Node* node,
                                  const ServiceOptions& options) {
  const auto* service = v0::StatusRequest::descriptor()->file()->FindServiceByName("Cluster");
  add_member_list(registry, service, node, options);
  add_member_add(registry, service, node, options);
  add_member_changes(registry, service, node, options);
  add_move_leader(registry, service, node, options);
}

}  // namespace dkv::api
