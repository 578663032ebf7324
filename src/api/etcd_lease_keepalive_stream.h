// One gRPC LeaseKeepAlive stream of etcd's Lease service. Each request read
// is renewed through the registry's LeaseKeepAlive handler
// (etcd_lease_service.h: on the leader after a ReadIndex round, or
// forwarded to it), and answered in the order the requests came.
// Renewals are pipelined: the stream keeps reading while up to
// kRenewalsInFlightMax of its renewals are pending, so requests that arrive
// together reach the node together and share one ReadIndex round (the
// node's read path batches the reads of one raft turn), as renewals of
// other streams do.
// A renewal that fails with UNAVAILABLE or DEADLINE_EXCEEDED (no leader
// yet, the leader died, not yet confirmed) is tried again every 100 ms for
// the request timeout: clients keep their stream across a leader change.
// One that still fails ends the stream with its error once the answers
// before it are written. A forwarded call (one message, from another
// member) is not retried here: its sender retries.
// Threading: gRPC's reactions, renewal completions (raft, read, gRPC or
// caller's thread) and retry alarms may run at once; the stream's state is
// under one util::Mutex, which each of them holds (also how ThreadSanitizer
// sees the hand-offs between gRPC's threads), and handlers are called and
// reads, writes and Finish started without it. Finish is called once, when
// no renewal or write is pending; the reactor deletes itself in OnDone.
// Lifetime: `renew` must outlive it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstddef>

#include "api/method_registry.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace dkv::api {

inline constexpr std::size_t kRenewalsInFlightMax = 64;

grpc::ServerBidiReactor<etcdserverpb::LeaseKeepAliveRequest, etcdserverpb::LeaseKeepAliveResponse>*
new_keep_alive_stream(const Method* renew, const CallContext& ctx,
                      std::chrono::milliseconds retry_for);

}  // namespace dkv::api
