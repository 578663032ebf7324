// SnapshotLane: a peer's snapshots, off its message stream, so that a large
// snapshot never delays heartbeats. A thread of its own streams one kSnap
// at a time over gRPC (the Raft service's SendSnapshot, on a channel of its
// own: peer_channel.h): the message without data first, then the data from
// its SnapshotSource in chunks of snapshot_chunk_bytes (one chunk in memory
// at a time), and reports the outcome through the Notifier.
// Owns: the slot of the snapshot waiting to go, the call in flight (so that
// stop() can cancel it), its thread and its counters.
// Threading: offer(), stop() and counts() are thread-safe and quick (offer()
// never waits for the network); the destructor stops and joins.
// Lifetime: the options, the source factory and the Notifier must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "raft/types.h"
#include "transport/notifier.h"
#include "transport/transport.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace dkv::transport {

class SnapshotLane {
 public:
  SnapshotLane(const TransportOptions& o, const SnapshotSourceFactory& source, Notifier& notifier,
               raft::NodeId id, std::string name, std::shared_ptr<grpc::Channel> channel);
  ~SnapshotLane();
  SnapshotLane(const SnapshotLane&) = delete;
  SnapshotLane& operator=(const SnapshotLane&) = delete;

  // Takes the kSnap `m` to send. One at a time: while another is waiting or
  // in flight, `m` is dropped and reported failed (the core sends one at a
  // time; a second one fails on its own). Dropped silently once stopping.
  void offer(raft::Message&& m);
  // Ends the thread: cancels the call in flight; does not wait.
  void stop();

  struct Counts {
    std::uint64_t sent = 0;
    std::uint64_t failed = 0;
  };
  Counts counts() const;

 private:
  void run();
  // Streams one kSnap. True iff the receiver answered OK.
  bool send(raft::Message m);
  // Publishes `ctx` as the call stop() cancels; false if stopping already.
  bool register_call(grpc::ClientContext* ctx);
  void unregister_call();

  const TransportOptions& o_;
  const SnapshotSourceFactory& source_;
  Notifier& notifier_;
  const raft::NodeId id_;
  const std::string name_;  // For logs.
  const std::shared_ptr<grpc::Channel> channel_;

  mutable util::Mutex mu_;
  util::CondVar cv_;  // The slot or stopping_ changed.
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::optional<raft::Message> pending_ DKV_GUARDED_BY(mu_);
  bool busy_ DKV_GUARDED_BY(mu_) = false;                    // The thread is sending one.
  grpc::ClientContext* call_ DKV_GUARDED_BY(mu_) = nullptr;  // Borrowed while live.
  Counts counts_ DKV_GUARDED_BY(mu_);
  std::thread thread_;  // Last: starts after the fields above exist.
};

}  // namespace dkv::transport
