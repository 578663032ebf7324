#include "api/etcd_cluster_service.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "api/etcd_header.h"
#include "dkv/v0/cluster.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "util/assert.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

std::string url_of(const std::string& address, const EtcdOptions& etcd) {
  return (etcd.client_tls ? "https://" : "http://") + address;
}

void fill_member(const v0::Member& in, const EtcdOptions& etcd, pb::Member* out) {
  out->set_id(node::node_id_of(in.id()));
  out->set_name(in.id());
  out->add_peerurls(url_of(in.address(), etcd));
  out->add_clienturls(url_of(in.address(), etcd));
  out->set_islearner(in.is_learner());
}

void fill_members(const google::protobuf::RepeatedPtrField<v0::Member>& in, const EtcdOptions& etcd,
                  google::protobuf::RepeatedPtrField<pb::Member>* out) {
  for (const auto& m : in) fill_member(m, etcd, out->Add());
}

const Method* v0_method(const MethodRegistry& registry, const std::string& name) {
  const Method* m = registry.find("dkv.v0.Cluster/" + name);
  DKV_ASSERT(m != nullptr);  // register_services() runs first.
  return m;
}

// Calls dkv.v0.Cluster's handler `method` with `request`; `then` gets its
// answer (the v0 response stays alive until `then` returns) and must call
// `done`. Refusals are mapped to etcd's errors.
template <typename V0Req, typename V0Resp>
void call_v0(const Method* method, const CallContext& ctx, std::shared_ptr<V0Req> request,
             UnaryDone done, std::function<void(const V0Resp&)> then) {
  auto response = std::make_shared<V0Resp>();
  method->handler(
      ctx, *request, response.get(),
      [request, response, done = std::move(done), then = std::move(then)](util::Status s) {
        if (!s.is_ok()) return done(etcd_member_error(s));
        then(*response);
        done(util::Status::ok());
      });
}

util::Status member_not_found() { return util::not_found("etcdserver: member not found"); }

// The member's name, by its etcd ID, in the applied membership.
bool name_of(const node::Node& node, std::uint64_t id, std::string* name) {
  *name = node.membership().name_of(id);
  return !name->empty();
}

// The DKV_* variables to start a member added through the etcd API with.
void log_start_lines(const v0::MemberAddResponse& resp) {
  std::string cluster;
  for (const auto& m : resp.members()) {
    cluster += (cluster.empty() ? "" : ",") + m.id() + "@" + m.address();
  }
  const std::string& address = resp.member().address();
  spdlog::info(
      "member {} added at {}; start it with DKV_NODE_ID={} DKV_RPC_PORT={} "
      "DKV_CLUSTER_STATE=existing DKV_CLUSTER=\"{}\"",
      resp.member().id(), address, resp.member().id(), address.substr(address.rfind(':') + 1),
      cluster);
}

void add_member_list(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                     node::Node* node, const ServiceOptions& options, const EtcdOptions& etcd) {
  registry->add<pb::MemberListRequest, pb::MemberListResponse>(
      service, "MemberList",
      [node, options, etcd](const CallContext& ctx, const pb::MemberListRequest&,
                            pb::MemberListResponse* resp, UnaryDone done) {
        node->list_members(
            request_deadline(ctx, options),
            [node, resp, etcd, done = std::move(done)](util::Status s, node::Membership m) {
              if (!s.is_ok()) return done(etcd_member_error(s));
              fill_etcd_header(*node, resp->mutable_header());
              v0::MemberListResponse v0;
              for (const auto& a : m.voters()) {
                auto* member = v0.add_members();
                member->set_id(a.id);
                member->set_address(a.address());
              }
              for (const auto& a : m.learners()) {
                auto* member = v0.add_members();
                member->set_id(a.id);
                member->set_address(a.address());
                member->set_is_learner(true);
              }
              fill_members(v0.members(), etcd, resp->mutable_members());
              done(util::Status::ok());
            });
      });
}

void add_member_add(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                    node::Node* node, const EtcdOptions& etcd) {
  const Method* v0_add = v0_method(*registry, "MemberAdd");
  registry->add<pb::MemberAddRequest, pb::MemberAddResponse>(
      service, "MemberAdd",
      [node, etcd, v0_add](const CallContext& ctx, const pb::MemberAddRequest& req,
                           pb::MemberAddResponse* resp, UnaryDone done) {
        node::MemberAddress member;
        const std::vector<std::string> urls(req.peerurls().begin(), req.peerurls().end());
        const node::Membership m = node->membership();
        if (auto s = parse_peer_urls(urls, m, &member); !s.is_ok()) return done(std::move(s));
        // Checked here first: the derived name of a used address is taken
        // too, and etcd names the URL.
        if (m.find_address(member.address()) != nullptr) {
          return done({util::Code::kFailedPrecondition, "etcdserver: Peer URLs already exists"});
        }
        auto v0_req = std::make_shared<v0::MemberAddRequest>();
        v0_req->set_id(member.id);
        v0_req->set_address(member.address());
        v0_req->set_voter(!req.islearner());
        call_v0<v0::MemberAddRequest, v0::MemberAddResponse>(
            v0_add, ctx, v0_req, std::move(done),
            [node, resp, etcd](const v0::MemberAddResponse& v0) {
              fill_etcd_header(*node, resp->mutable_header());
              fill_member(v0.member(), etcd, resp->mutable_member());
              fill_members(v0.members(), etcd, resp->mutable_members());
              log_start_lines(v0);
            });
      });
}

// MemberRemove and MemberPromote: the ID to a name, then dkv's call.
template <typename Req, typename Resp, typename V0Req, typename V0Resp>
void add_change_by_id(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                      node::Node* node, const EtcdOptions& etcd, const std::string& name) {
  const Method* v0 = v0_method(*registry, name);
  registry->add<Req, Resp>(
      service, name,
      [node, etcd, v0](const CallContext& ctx, const Req& req, Resp* resp, UnaryDone done) {
        auto v0_req = std::make_shared<V0Req>();
        std::string member;
        if (!name_of(*node, req.id(), &member)) return done(member_not_found());
        v0_req->set_id(member);
        call_v0<V0Req, V0Resp>(v0, ctx, v0_req, std::move(done),
                               [node, resp, etcd](const V0Resp& answer) {
                                 fill_etcd_header(*node, resp->mutable_header());
                                 fill_members(answer.members(), etcd, resp->mutable_members());
                               });
      });
}

void add_member_update(MethodRegistry* registry, const google::protobuf::ServiceDescriptor* service,
                       node::Node* node, const ServiceOptions& options, const EtcdOptions& etcd) {
  registry->add<pb::MemberUpdateRequest, pb::MemberUpdateResponse>(
      service, "MemberUpdate",
      [node, options, etcd](const CallContext& ctx, const pb::MemberUpdateRequest& req,
                            pb::MemberUpdateResponse* resp, UnaryDone done) {
        const node::Membership m = node->membership();
        const node::MemberAddress* member = m.find(req.id());
        if (member == nullptr) return done(member_not_found());
        const std::string current = url_of(member->address(), etcd);
        if (req.peerurls_size() != 1 || req.peerurls(0) != current) {
          return done(
              {util::Code::kUnimplemented,
               "dkv cannot change a member's peer URLs (it has one address, " + current +
                   "): remove the member, then add it at the new address with an empty data "
                   "directory"});
        }
        // Unchanged: answer as etcd does, with the membership.
        node->list_members(
            request_deadline(ctx, options),
            [node, resp, etcd, done = std::move(done)](util::Status s, node::Membership m) {
              if (!s.is_ok()) return done(etcd_member_error(s));
              fill_etcd_header(*node, resp->mutable_header());
              for (const auto& a : m.all()) {
                v0::Member v0;
                v0.set_id(a.id);
                v0.set_address(a.address());
                v0.set_is_learner(m.is_learner(node::node_id_of(a.id)));
                fill_member(v0, etcd, resp->add_members());
              }
              done(util::Status::ok());
            });
      });
}

}  // namespace

util::Status etcd_member_error(const util::Status& s) {
  const std::string& msg = s.message();
  switch (s.code()) {
    case util::Code::kNotFound:
      return member_not_found();
    case util::Code::kAlreadyExists:
      if (contains(msg, "address")) {
        return {util::Code::kFailedPrecondition, "etcdserver: Peer URLs already exists"};
      }
      return {util::Code::kFailedPrecondition, "etcdserver: member ID already exist"};
    case util::Code::kFailedPrecondition:
      if (contains(msg, "is a voter already")) {
        return {util::Code::kFailedPrecondition, "etcdserver: can only promote a learner member"};
      }
      if (contains(msg, "is far behind")) {
        return {util::Code::kFailedPrecondition,
                "etcdserver: can only promote a learner member which is in sync with leader"};
      }
      if (contains(msg, "voters would be up") || contains(msg, "cannot remove the last voter")) {
        return {util::Code::kFailedPrecondition,
                "etcdserver: re-configuration failed due to not enough started members"};
      }
      return s;
    case util::Code::kUnavailable:
      if (contains(msg, "no leader")) return util::unavailable("etcdserver: no leader");
      if (contains(msg, "within the request")) {
        return util::unavailable("etcdserver: request timed out");
      }
      if (contains(msg, "leadership moved") || contains(msg, "lost in a leader change")) {
        return util::unavailable("etcdserver: leader changed");
      }
      return s;
    default:
      return s;
  }
}

std::string member_name_for_address(const node::Membership& m, const std::string& host,
                                    std::uint16_t port) {
  std::string base = host + "-" + std::to_string(port);
  for (char& c : base) {
    if (!name_char(c)) c = '-';
  }
  std::string name = base;
  for (int n = 2; m.was_removed(node::node_id_of(name)); ++n) {
    name = base + "-" + std::to_string(n);
  }
  return name;
}

util::Status parse_peer_urls(const std::vector<std::string>& urls, const node::Membership& m,
                             node::MemberAddress* out) {
  const util::Status invalid = util::invalid_argument("etcdserver: given member URLs are invalid");
  if (urls.size() != 1) return invalid;
  std::string rest = urls[0];
  for (const char* scheme : {"http://", "https://"}) {
    if (rest.rfind(scheme, 0) == 0) {
      rest = rest.substr(std::string(scheme).size());
      break;
    }
  }
  if (rest.size() == urls[0].size()) return invalid;  // No scheme.
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string name;
  if (const size_t at = rest.find('@'); at != std::string::npos) {
    name = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (name.empty()) return invalid;
    for (char c : name) {
      if (!name_char(c)) return invalid;
    }
  }
  std::vector<node::MemberAddress> parsed;
  if (rest.find('/') != std::string::npos || !node::parse_cluster("x@" + rest, &parsed).is_ok() ||
      parsed.size() != 1) {
    return invalid;
  }
  *out = parsed.front();
  out->id = name.empty() ? member_name_for_address(m, out->host, out->port) : name;
  return util::Status::ok();
}

void register_etcd_cluster_service(MethodRegistry* registry, node::Node* node,
                                   const ServiceOptions& options, const EtcdOptions& etcd) {
  const auto* service = pb::MemberListRequest::descriptor()->file()->FindServiceByName("Cluster");
  add_member_list(registry, service, node, options, etcd);
  add_member_add(registry, service, node, etcd);
  add_change_by_id<pb::MemberRemoveRequest, pb::MemberRemoveResponse, v0::MemberRemoveRequest,
                   v0::MemberRemoveResponse>(registry, service, node, etcd, "MemberRemove");
  add_change_by_id<pb::MemberPromoteRequest, pb::MemberPromoteResponse, v0::MemberPromoteRequest,
                   v0::MemberPromoteResponse>(registry, service, node, etcd, "MemberPromote");
  add_member_update(registry, service, node, options, etcd);
}

}  // namespace dkv::api
