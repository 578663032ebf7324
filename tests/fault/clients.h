// Clients of the fault suite: one KvClient talks to one dkv node over REST or
// gRPC and turns each call into a recorded Op with its outcome:
//   kOk      the call answered (a get's 404 is "absent", not an error);
//   kFailed  it certainly did not happen: 400/429/INVALID_ARGUMENT, the
//            connection was refused before the request was sent, or a node
//            removed from the cluster refused it (503/UNAVAILABLE "this node
//            was removed from the cluster": refused before it reaches raft);
//   kUnknown anything else (503, timeout, connection lost mid-request): the
//            write may or may not have happened.
// gRPC headers stay in clients_grpc.cc (they are slow to compile).
//
// Threading: a KvClient is used by one client thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "checker.h"

namespace dkv::fault {

// Monotonic time in ns since `epoch` (the run's start).
std::int64_t since_ns(std::chrono::steady_clock::time_point epoch);

// The start of dkv's refusal by a removed node (src/node/node.cc).
inline constexpr const char* kRemovedRefusal = "this node was removed from the cluster";

std::string base64(const std::string& in);
// Std or URL-safe base64; "" on bad input.
std::string unbase64(const std::string& in);

class KvClient {
 public:
  virtual ~KvClient() = default;
  // Runs one op and fills in `op` (kind, key and, for a put, value are set by
  // the caller): outcome, result, invoke/complete times, note.
  virtual void run(Op& op, std::chrono::steady_clock::time_point epoch) = 0;
};

// REST on a new connection per request to host:port (127.0.0.1, or a node's
// address in a TestNetwork); `timeout` bounds the whole request. With
// `serializable_reads`, gets ask for a local read that may be stale
// (serializable=true): the canary's way to misbehave.
std::unique_ptr<KvClient> make_rest_client(std::uint16_t port, std::chrono::milliseconds timeout,
                                           std::string node, bool serializable_reads = false,
                                           const std::string& host = "127.0.0.1");
// gRPC over one channel to host:port (fast reconnects); `timeout` is each
// call's deadline.
std::unique_ptr<KvClient> make_grpc_client(std::uint16_t port, std::chrono::milliseconds timeout,
                                           std::string node, bool serializable_reads = false,
                                           const std::string& host = "127.0.0.1");

// etcd's KV service (etcdserverpb.KV) over one channel to host:port: the CAS
// workload's client (clients_etcd.cc), for dkv and for etcd itself. Runs
// kRange, kCas, kPut (recording revisions), kGet and kDelete; an
// UNIMPLEMENTED answer (no etcd KV service) is kFailed.
std::unique_ptr<KvClient> make_etcd_client(std::uint16_t port, std::chrono::milliseconds timeout,
                                           std::string node, const std::string& host = "127.0.0.1");

// One increment of the CAS workload (counter_check.h) by client `id`: a
// range of `key` (its value n and mod_revision r), then Txn If(mod_revision
// == r) Then(Put n+1) Else(Range key), writing "<n+1>/c<id>-<seq>". Both ops
// go to `history`; returns the txn (kCas). The txn is skipped (and the
// range returned) when the range did not succeed.
Op increment_counter(KvClient& client, int id, const std::string& key, std::uint64_t* seq,
                     std::chrono::steady_clock::time_point epoch, std::vector<Op>* history);

}  // namespace dkv::fault
