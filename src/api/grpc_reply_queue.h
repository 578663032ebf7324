// ReplyQueue: finishes gRPC unary calls answered on a node thread.
//
// A handler answers on whichever thread has the answer: writes on the raft
// thread once applied, linearizable reads on the node's read thread. Calling
// ServerUnaryReactor::Finish there runs gRPC's whole reply path on that
// thread (serializing, the HTTP/2 frames, the socket write): measured at
// ~12 us of the raft thread's time per put and ~9 us of the read thread's
// per get (docs/performance.md), which those threads then cannot spend on
// the next batch. So finish() queues such answers for one thread of its own
// here, which the node's thread wakes at most once per batch (only when the
// queue's thread is idle), as the REST gateway posts its answers to its I/O
// threads. Inside a util::ReplyBatch (the applier's and the read path's
// loops) answers wait for the loop's end: a lone answer is then finished at
// once on the node's thread (a hand-off would add a wake-up to a single
// client's latency), several go to the queue together. Answers given inside
// dispatch() (bad requests, serializable reads, Status) finish at once on
// gRPC's thread.
//
// Internal to dkv_grpc_server (it includes gRPC).
// Threading: finish() from any thread; the queue's thread runs for the rest
// of the process (one for every server in it: calls never outlive it).
#pragma once

#include <grpcpp/grpcpp.h>

namespace dkv::api::grpc_dispatch {

// Marks the running thread as inside gRPC's call of a handler, for its
// lifetime: finish() called meanwhile on this thread finishes at once.
class InlineScope {
 public:
  InlineScope();
  ~InlineScope();
  InlineScope(const InlineScope&) = delete;
  InlineScope& operator=(const InlineScope&) = delete;

 private:
  bool outer_;
};

// Finishes `reactor`'s call with `status`: at once inside an InlineScope;
// at the end of the thread's ReplyBatch if one is open (at once there if it
// was the batch's only answer); else on the queue's thread, in call order.
void finish(grpc::ServerUnaryReactor* reactor, grpc::Status status);

}  // namespace dkv::api::grpc_dispatch
