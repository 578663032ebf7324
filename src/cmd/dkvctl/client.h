// dkvctl's gRPC client: one channel per endpoint, made on first use. A call
// goes to the endpoint that answered last (the first one at start); if it
// cannot connect (refused, or not within --dial-timeout) or, for calls that
// may be repeated, the node answers UNAVAILABLE (no leader, shutting down),
// the next endpoint is tried, until all were tried or --command-timeout
// passed. Other errors are the answer. Errors come back as util::Status
// (gRPC's codes), their message naming the endpoint when it could not be reached.
// --command-timeout bounds the calls with failover of one Client together,
// from its construction: one Client serves one command, and a command that
// makes two calls (dkv.v0 after etcd's API was UNIMPLEMENTED) keeps to it.
// The only file of dkvctl that includes gRPC headers.
// Threading: one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "util/status.h"

namespace grpc {
class ClientContext;
class Status;
}  // namespace grpc

namespace dkv::ctl {

struct ClientOptions {
  std::vector<std::string> endpoints;
  std::chrono::milliseconds command_timeout{5000};
  std::chrono::milliseconds dial_timeout{2000};
  // TLS when cacert is set (PEM file paths); cert and key: client auth.
  std::string cacert, cert, key;
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  util::Status put(const v0::PutRequest& request, v0::PutResponse* response);
  util::Status get(const v0::GetRequest& request, v0::GetResponse* response);
  util::Status del(const v0::DeleteRequest& request, v0::DeleteResponse* response);
  util::Status member_list(v0::MemberListResponse* response);
  // Membership changes and leadership transfer are not repeated on another
  // endpoint after UNAVAILABLE: the first attempt may have been applied.
  util::Status member_add(const v0::MemberAddRequest& request, v0::MemberAddResponse* response);
  util::Status member_promote(const v0::MemberPromoteRequest& request,
                              v0::MemberPromoteResponse* response);
  util::Status member_remove(const v0::MemberRemoveRequest& request,
                             v0::MemberRemoveResponse* response);
  util::Status move_leader(const v0::MoveLeaderRequest& request, v0::MoveLeaderResponse* response);
  // etcd's KV service (etcdserverpb.KV). Only Range moves on to the next
  // endpoint after UNAVAILABLE: as clientv3, writes are not repeated once
  // a node answered, since the first attempt may have been applied.
  util::Status etcd_range(const etcdserverpb::RangeRequest& request,
                          etcdserverpb::RangeResponse* response);
  util::Status etcd_put(const etcdserverpb::PutRequest& request,
                        etcdserverpb::PutResponse* response);
  util::Status etcd_delete(const etcdserverpb::DeleteRangeRequest& request,
                           etcdserverpb::DeleteRangeResponse* response);
  util::Status etcd_txn(const etcdserverpb::TxnRequest& request,
                        etcdserverpb::TxnResponse* response);
  util::Status etcd_compact(const etcdserverpb::CompactionRequest& request,
                            etcdserverpb::CompactionResponse* response);

  // etcd's Lease service. Grant and Revoke are not repeated after
  // UNAVAILABLE (as writes above); TimeToLive and Leases are.
  util::Status etcd_lease_grant(const etcdserverpb::LeaseGrantRequest& request,
                                etcdserverpb::LeaseGrantResponse* response);
  util::Status etcd_lease_revoke(const etcdserverpb::LeaseRevokeRequest& request,
                                 etcdserverpb::LeaseRevokeResponse* response);
  util::Status etcd_lease_timetolive(const etcdserverpb::LeaseTimeToLiveRequest& request,
                                     etcdserverpb::LeaseTimeToLiveResponse* response);
  util::Status etcd_lease_leases(etcdserverpb::LeaseLeasesResponse* response);

  // Streams on the first endpoint that connects (no failover once a stream
  // is open), until `on_response` returns false, the stream ends, or
  // `stop_at` passes (then OK; time_point::max(): never). The command
  // timeout does not apply: these run until stopped.
  // KeepAlive: sends a renewal of `id` at once, then every TTL/3 after each
  // answer (as clientv3), until an answer has TTL <= 0 (lease gone).
  util::Status etcd_keepalive(
      std::int64_t id, bool once,
      const std::function<bool(const etcdserverpb::LeaseKeepAliveResponse&)>& on_response,
      std::chrono::system_clock::time_point stop_at);
  // Watch: sends `create` with etcd's "hasleader" metadata (as etcdctl:
  // no events without a leader) and hands on every response.
  util::Status etcd_watch(
      const etcdserverpb::WatchCreateRequest& create,
      const std::function<bool(const etcdserverpb::WatchResponse&)>& on_response,
      std::chrono::system_clock::time_point stop_at);

  // Status of the first endpoint that answers (with failover).
  util::Status status(v0::StatusResponse* response);

  // Calls on one named endpoint (it need not be in the list), no failover:
  // for `endpoint status` and `endpoint health`.
  util::Status status_of(const std::string& endpoint, v0::StatusResponse* response);
  util::Status get_from(const std::string& endpoint, const v0::GetRequest& request,
                        v0::GetResponse* response);

  // Streams dkv.v0.Maintenance/Snapshot from the first endpoint that
  // connects; `on_message` gets each message in order and may stop the
  // stream by returning an error (which is then the result). No deadline:
  // a large backup takes its time; the dial timeout still applies.
  util::Status snapshot(const std::function<util::Status(const v0::SnapshotResponse&)>& on_message,
                        std::string* endpoint);

  // The endpoint that answered the last call.
  const std::string& last_endpoint() const { return last_endpoint_; }

 private:
  struct Conn;
  template <typename Call>
  util::Status with_failover(bool repeatable, const Call& call);
  template <typename Stub, typename Request, typename Response>
  using UnaryMethod = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&, Response*);
  template <typename Stub, typename Request, typename Response>
  util::Status unary(bool repeatable, std::unique_ptr<Stub> Conn::*stub,
                     UnaryMethod<Stub, Request, Response> method, const Request& request,
                     Response* response);
  Conn& conn(const std::string& endpoint);
  util::Status connect(Conn& c, std::chrono::system_clock::time_point deadline);
  // The first endpoint that connects (for streams), or the error.
  util::Status stream_conn(Conn** out);

  const ClientOptions options_;
  const std::chrono::system_clock::time_point command_deadline_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::size_t preferred_ = 0;  // Index into options_.endpoints.
  std::string last_endpoint_;
};

}  // namespace dkv::ctl
