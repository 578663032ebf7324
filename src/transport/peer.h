// Peer: one peer of the Transport, as its lanes:
//   DirectWrite        (direct_write.h) send() writes an idle stream itself;
//   MessageStreamLane  (message_stream_lane.h) the queue and the sender
//                      thread of the message stream, with its Backoff
//                      (backoff.h) between connection attempts;
//   SnapshotLane       (snapshot_lane.h) kSnap messages over gRPC, on a
//                      thread and a channel of their own.
// Peer routes a send() call's messages to them and sums their counters.
// Owns: its lanes (and through them two threads: "send-NAME", "snap-NAME").
// Threading: deliver() and enqueue() are called by Transport::send() under
// the Transport's lock (one caller at a time); stop() and stats() from any
// thread. stop() is quick; the destructor stops and joins the lanes.
// Lifetime: the options, the factories and the Notifier must outlive it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "raft/types.h"
#include "transport/direct_write.h"
#include "transport/message_stream_lane.h"
#include "transport/notifier.h"
#include "transport/snapshot_lane.h"
#include "transport/tcp_stream.h"
#include "transport/transport.h"

namespace dkv::transport {

// A peer's name for logs: options.peer_name's answer, else its raft id.
std::string peer_label(const TransportOptions& o, raft::NodeId id);

class Peer {
 public:
  Peer(const TransportOptions& o, const StreamOptions& stream_options,
       const SnapshotSourceFactory& source, Notifier& notifier, raft::NodeId id,
       std::string address);
  ~Peer();
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  const std::string& address() const { return address_; }

  // Signals both lanes to end and breaks their connections; does not wait.
  void stop();

  // `msgs` to this peer, in order: the first of them go out directly
  // (DirectWrite) while the stream is up and idle, the rest are
  // enqueue()d. Never waits for the network. True if the sender has news
  // (call wake() once done).
  bool deliver(std::vector<raft::Message>& msgs);
  // Queues `m` on its lane (kSnap: the snapshot lane) or drops it. True if
  // the sender has news (call wake() once done enqueueing).
  bool enqueue(raft::Message&& m);
  // Wakes the sender for what deliver() or enqueue() left it.
  void wake() { stream_.wake(); }

  PeerStats stats() const;

 private:
  const std::string address_;
  DirectWrite direct_;        // Before the lanes: the stream lane borrows it.
  MessageStreamLane stream_;  // Its thread ends before direct_ goes.
  SnapshotLane snapshots_;
};

}  // namespace dkv::transport
