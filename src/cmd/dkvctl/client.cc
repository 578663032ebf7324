#include "client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <thread>

#include "dkv/v0/cluster.grpc.pb.h"
#include "dkv/v0/kv.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "http_probe.h"

namespace dkv::ctl {
namespace {

using Clock = std::chrono::system_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Insecure, or TLS with a CA (and a client certificate).
std::shared_ptr<grpc::ChannelCredentials> credentials(const ClientOptions& o) {
  if (o.cacert.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file(o.cacert);
  if (!o.cert.empty()) ssl.pem_cert_chain = read_file(o.cert);
  if (!o.key.empty()) ssl.pem_private_key = read_file(o.key);
  return grpc::SslCredentials(ssl);
}

util::Status from_grpc(const grpc::Status& s) {
  if (s.ok()) return util::Status::ok();
  return {static_cast<util::Code>(s.error_code()), s.error_message()};
}

// A REST port answers HTTP/1.1 where gRPC needs HTTP/2: say so.
std::string http_hint(const std::string& endpoint) {
  if (!answers_http1(endpoint, std::chrono::milliseconds(1000))) return "";
  return ": it answers HTTP/1.1, so it looks like a node's REST port (DKV_REST_PORT); dkvctl "
         "needs the gRPC port (DKV_RPC_PORT)";
}

}  // namespace

struct Client::Conn {
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v0::KV::Stub> kv;
  std::unique_ptr<v0::Cluster::Stub> cluster;
  std::unique_ptr<v0::Maintenance::Stub> maintenance;
  std::unique_ptr<etcdserverpb::KV::Stub> etcd_kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> etcd_lease;
  std::unique_ptr<etcdserverpb::Watch::Stub> etcd_watch;
};

Client::Client(ClientOptions options)
    : options_(std::move(options)), command_deadline_(Clock::now() + options_.command_timeout) {}

Client::~Client() = default;

Client::Conn& Client::conn(const std::string& endpoint) {
  for (auto& c : conns_) {
    if (c->endpoint == endpoint) return *c;
  }
  auto c = std::make_unique<Conn>();
  c->endpoint = endpoint;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);  // A 1 MiB value or snapshot chunk, with room.
  // Each endpoint its own connection, even to one host.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  c->channel = grpc::CreateCustomChannel(endpoint, credentials(options_), args);
  c->kv = v0::KV::NewStub(c->channel);
  c->cluster = v0::Cluster::NewStub(c->channel);
  c->maintenance = v0::Maintenance::NewStub(c->channel);
  c->etcd_kv = etcdserverpb::KV::NewStub(c->channel);
  c->etcd_lease = etcdserverpb::Lease::NewStub(c->channel);
  c->etcd_watch = etcdserverpb::Watch::NewStub(c->channel);
  conns_.push_back(std::move(c));
  return *conns_.back();
}

// Waits until the channel is connected; fails fast once a connection
// attempt failed (refused, unreachable) rather than waiting for gRPC's
// reconnect backoff.
util::Status Client::connect(Conn& c, Clock::time_point deadline) {
  const auto dial_deadline = std::min(deadline, Clock::now() + options_.dial_timeout);
  grpc_connectivity_state state = c.channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      return util::unavailable("cannot connect to " + c.endpoint + http_hint(c.endpoint));
    }
    if (!c.channel->WaitForStateChange(state, dial_deadline)) {
      return util::unavailable("cannot connect to " + c.endpoint + " within the dial timeout");
    }
    state = c.channel->GetState(true);
  }
  return util::Status::ok();
}

// `call(conn, ctx)` makes one RPC and returns its gRPC status. The node
// answers a little before our deadline (api/kv_service.h), so that its
// reason ("no leader or no quorum ...") is what we report rather than
// DEADLINE_EXCEEDED; if a later endpoint then runs out of time, the earlier
// answer is still the better explanation.
template <typename Call>
util::Status Client::with_failover(bool repeatable, const Call& call) {
  const auto deadline = command_deadline_;
  const std::size_t n = options_.endpoints.size();
  util::Status last = util::unavailable("no endpoints given");
  util::Status answered;  // The last UNAVAILABLE a node answered with, if any.
  for (std::size_t attempt = 0; attempt < n && Clock::now() < deadline; ++attempt) {
    const std::size_t i = (preferred_ + attempt) % n;
    Conn& c = conn(options_.endpoints[i]);
    if (auto s = connect(c, deadline); !s.is_ok()) {
      last = s;
      continue;
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    const grpc::Status gs = call(c, &ctx);
    last_endpoint_ = c.endpoint;
    if (gs.ok()) {
      preferred_ = i;
      return util::Status::ok();
    }
    last = from_grpc(gs);
    if (gs.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && !answered.is_ok()) {
      return answered;
    }
    if (gs.error_code() != grpc::StatusCode::UNAVAILABLE || !repeatable) return last;
    last = util::unavailable(c.endpoint + ": " + gs.error_message());
    answered = last;
  }
  if (!answered.is_ok()) return answered;
  if (Clock::now() >= deadline && last.code() == util::Code::kUnavailable) {
    return {util::Code::kDeadlineExceeded,
            "no endpoint answered within the command timeout (" + last.message() + ")"};
  }
  return last;
}

// One unary call of `method` on the connection's stub `stub`, with
// with_failover's rules.
template <typename Stub, typename Request, typename Response>
util::Status Client::unary(bool repeatable, std::unique_ptr<Stub> Conn::*stub,
                           UnaryMethod<Stub, Request, Response> method, const Request& request,
                           Response* response) {
  return with_failover(repeatable, [&](Conn& c, grpc::ClientContext* ctx) {
    return ((*(c.*stub)).*method)(ctx, request, response);
  });
}

util::Status Client::put(const v0::PutRequest& request, v0::PutResponse* response) {
  return unary(true, &Conn::kv, &v0::KV::Stub::Put, request, response);
}

util::Status Client::get(const v0::GetRequest& request, v0::GetResponse* response) {
  return unary(true, &Conn::kv, &v0::KV::Stub::Get, request, response);
}

util::Status Client::del(const v0::DeleteRequest& request, v0::DeleteResponse* response) {
  return unary(true, &Conn::kv, &v0::KV::Stub::Delete, request, response);
}

util::Status Client::etcd_range(const etcdserverpb::RangeRequest& request,
                                etcdserverpb::RangeResponse* response) {
  return unary(true, &Conn::etcd_kv, &etcdserverpb::KV::Stub::Range, request, response);
}

util::Status Client::etcd_put(const etcdserverpb::PutRequest& request,
                              etcdserverpb::PutResponse* response) {
  return unary(false, &Conn::etcd_kv, &etcdserverpb::KV::Stub::Put, request, response);
}

util::Status Client::etcd_delete(const etcdserverpb::DeleteRangeRequest& request,
                                 etcdserverpb::DeleteRangeResponse* response) {
  return unary(false, &Conn::etcd_kv, &etcdserverpb::KV::Stub::DeleteRange, request, response);
}

util::Status Client::etcd_txn(const etcdserverpb::TxnRequest& request,
                              etcdserverpb::TxnResponse* response) {
  return unary(false, &Conn::etcd_kv, &etcdserverpb::KV::Stub::Txn, request, response);
}

util::Status Client::etcd_compact(const etcdserverpb::CompactionRequest& request,
                                  etcdserverpb::CompactionResponse* response) {
  return unary(false, &Conn::etcd_kv, &etcdserverpb::KV::Stub::Compact, request, response);
}

util::Status Client::etcd_lease_grant(const etcdserverpb::LeaseGrantRequest& request,
                                      etcdserverpb::LeaseGrantResponse* response) {
  return unary(false, &Conn::etcd_lease, &etcdserverpb::Lease::Stub::LeaseGrant, request, response);
}

util::Status Client::etcd_lease_revoke(const etcdserverpb::LeaseRevokeRequest& request,
                                       etcdserverpb::LeaseRevokeResponse* response) {
  return unary(false, &Conn::etcd_lease, &etcdserverpb::Lease::Stub::LeaseRevoke, request,
               response);
}

util::Status Client::etcd_lease_timetolive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                                           etcdserverpb::LeaseTimeToLiveResponse* response) {
  return unary(true, &Conn::etcd_lease, &etcdserverpb::Lease::Stub::LeaseTimeToLive, request,
               response);
}

util::Status Client::etcd_lease_leases(etcdserverpb::LeaseLeasesResponse* response) {
  return unary(true, &Conn::etcd_lease, &etcdserverpb::Lease::Stub::LeaseLeases,
               etcdserverpb::LeaseLeasesRequest(), response);
}

util::Status Client::stream_conn(Conn** out) {
  const std::size_t n = options_.endpoints.size();
  util::Status last = util::unavailable("no endpoints given");
  for (std::size_t attempt = 0; attempt < n; ++attempt) {
    Conn& c = conn(options_.endpoints[(preferred_ + attempt) % n]);
    if (auto s = connect(c, Clock::now() + options_.dial_timeout); !s.is_ok()) {
      last = s;
      continue;
    }
    last_endpoint_ = c.endpoint;
    *out = &c;
    return util::Status::ok();
  }
  return last;
}

util::Status Client::etcd_keepalive(
    std::int64_t id, bool once,
    const std::function<bool(const etcdserverpb::LeaseKeepAliveResponse&)>& on_response,
    Clock::time_point stop_at) {
  Conn* c = nullptr;
  if (auto s = stream_conn(&c); !s.is_ok()) return s;
  grpc::ClientContext ctx;
  ctx.set_deadline(once ? std::min(stop_at, command_deadline_) : stop_at);
  auto stream = c->etcd_lease->LeaseKeepAlive(&ctx);
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(id);
  etcdserverpb::LeaseKeepAliveResponse resp;
  while (stream->Write(req) && stream->Read(&resp)) {
    if (!on_response(resp) || once || resp.ttl() <= 0) break;
    // clientv3's pace: the next renewal a third of the TTL after an answer.
    const auto next = Clock::now() +
                      std::chrono::milliseconds(std::max<std::int64_t>(resp.ttl() * 1000 / 3, 500));
    std::this_thread::sleep_until(std::min(next, stop_at));
    if (Clock::now() >= stop_at) break;
  }
  ctx.TryCancel();
  const grpc::Status gs = stream->Finish();
  if (gs.error_code() == grpc::StatusCode::CANCELLED || Clock::now() >= stop_at) {
    return util::Status::ok();
  }
  return from_grpc(gs);
}

util::Status Client::etcd_watch(
    const etcdserverpb::WatchCreateRequest& create,
    const std::function<bool(const etcdserverpb::WatchResponse&)>& on_response,
    Clock::time_point stop_at) {
  Conn* c = nullptr;
  if (auto s = stream_conn(&c); !s.is_ok()) return s;
  grpc::ClientContext ctx;
  ctx.set_deadline(stop_at);
  ctx.AddMetadata("hasleader", "true");  // clientv3.WithRequireLeader, as etcdctl.
  auto stream = c->etcd_watch->Watch(&ctx);
  etcdserverpb::WatchRequest req;
  *req.mutable_create_request() = create;
  etcdserverpb::WatchResponse resp;
  bool stopped = false;
  if (stream->Write(req)) {
    while (stream->Read(&resp)) {
      if (!on_response(resp)) {
        stopped = true;
        break;
      }
    }
  }
  ctx.TryCancel();
  const grpc::Status gs = stream->Finish();
  if (stopped || Clock::now() >= stop_at) return util::Status::ok();
  if (gs.ok()) return util::unavailable("the server closed the watch stream");
  return from_grpc(gs);
}

util::Status Client::member_list(v0::MemberListResponse* response) {
  return unary(true, &Conn::cluster, &v0::Cluster::Stub::MemberList, v0::MemberListRequest(),
               response);
}

util::Status Client::member_add(const v0::MemberAddRequest& request,
                                v0::MemberAddResponse* response) {
  return unary(false, &Conn::cluster, &v0::Cluster::Stub::MemberAdd, request, response);
}

util::Status Client::member_promote(const v0::MemberPromoteRequest& request,
                                    v0::MemberPromoteResponse* response) {
  return unary(false, &Conn::cluster, &v0::Cluster::Stub::MemberPromote, request, response);
}

util::Status Client::member_remove(const v0::MemberRemoveRequest& request,
                                   v0::MemberRemoveResponse* response) {
  return unary(false, &Conn::cluster, &v0::Cluster::Stub::MemberRemove, request, response);
}

util::Status Client::move_leader(const v0::MoveLeaderRequest& request,
                                 v0::MoveLeaderResponse* response) {
  return unary(false, &Conn::cluster, &v0::Cluster::Stub::MoveLeader, request, response);
}

util::Status Client::status(v0::StatusResponse* response) {
  return unary(true, &Conn::cluster, &v0::Cluster::Stub::Status, v0::StatusRequest(), response);
}

util::Status Client::status_of(const std::string& endpoint, v0::StatusResponse* response) {
  const auto deadline = Clock::now() + options_.command_timeout;
  Conn& c = conn(endpoint);
  if (auto s = connect(c, deadline); !s.is_ok()) return s;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  last_endpoint_ = endpoint;
  return from_grpc(c.cluster->Status(&ctx, v0::StatusRequest(), response));
}

util::Status Client::get_from(const std::string& endpoint, const v0::GetRequest& request,
                              v0::GetResponse* response) {
  const auto deadline = Clock::now() + options_.command_timeout;
  Conn& c = conn(endpoint);
  if (auto s = connect(c, deadline); !s.is_ok()) return s;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  last_endpoint_ = endpoint;
  return from_grpc(c.kv->Get(&ctx, request, response));
}

util::Status Client::snapshot(
    const std::function<util::Status(const v0::SnapshotResponse&)>& on_message,
    std::string* endpoint) {
  const std::size_t n = options_.endpoints.size();
  util::Status last = util::unavailable("no endpoints given");
  for (std::size_t attempt = 0; attempt < n; ++attempt) {
    const std::size_t i = (preferred_ + attempt) % n;
    Conn& c = conn(options_.endpoints[i]);
    if (auto s = connect(c, Clock::now() + options_.dial_timeout); !s.is_ok()) {
      last = s;
      continue;
    }
    *endpoint = c.endpoint;
    last_endpoint_ = c.endpoint;
    grpc::ClientContext ctx;
    auto reader = c.maintenance->Snapshot(&ctx, v0::SnapshotRequest());
    v0::SnapshotResponse message;
    util::Status stopped;
    while (reader->Read(&message)) {
      stopped = on_message(message);
      if (!stopped.is_ok()) {
        ctx.TryCancel();
        while (reader->Read(&message)) {
        }
        break;
      }
    }
    const grpc::Status gs = reader->Finish();
    if (!stopped.is_ok()) return stopped;
    return from_grpc(gs);
  }
  return last;
}

}  // namespace dkv::ctl
