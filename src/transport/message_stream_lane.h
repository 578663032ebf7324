// MessageStreamLane: a peer's raft messages over its long-lived message
// stream (tcp_stream.h). send() queues them (bounded by count and bytes);
// a sender thread connects, writes the rest of a frame a direct write began
// (direct_write.h), then batches whatever is queued into one frame per
// write, and reconnects after a broken stream with jittered exponential
// backoff (backoff.h). While the stream is down, send() drops instead of
// queueing and the peer is reported unreachable (Raft retransmits). While
// idle, the sender looks at the connection every kIdleCheck (the peer's
// beats, pings, a dead link).
//
// Owns: the queue, the down flag, the stream while it is live (so that
// stop() can break it), the backoff, the sender thread and the stream's
// counters. Borrows the peer's DirectWrite.
//
// Threading: enqueue(), wake(), idle(), stop() and counts() are
// thread-safe and never wait for the network. The sender thread writes the
// stream under DirectWrite's write lock, which comes before this lane's
// lock. The destructor stops and joins.
// Lifetime: the options, the Notifier and the DirectWrite must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>

#include "raft/types.h"
#include "transport/backoff.h"
#include "transport/direct_write.h"
#include "transport/notifier.h"
#include "transport/tcp_stream.h"
#include "transport/transport.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::transport {

class MessageStreamLane {
 public:
  MessageStreamLane(const TransportOptions& o, const StreamOptions& stream_options,
                    Notifier& notifier, DirectWrite& direct, raft::NodeId id, std::string name,
                    std::string address);
  ~MessageStreamLane();
  MessageStreamLane(const MessageStreamLane&) = delete;
  MessageStreamLane& operator=(const MessageStreamLane&) = delete;

  // Queues `m` (not a kSnap) or drops it (queue full, stream down, too big
  // for the wire, stopping) and reports the peer unreachable. True if the
  // sender has news: call wake() once done enqueueing.
  bool enqueue(raft::Message&& m);
  // Wakes the sender: something was queued, or DirectWrite left it a rest
  // or an error.
  void wake();
  // Nothing is queued and not stopping: a direct write keeps the order.
  bool idle() const;
  // Ends the sender thread: breaks the stream; does not wait.
  void stop();

  struct Counts {
    std::uint64_t sent = 0;     // Written by the sender (batches and rests), in messages.
    std::uint64_t dropped = 0;  // Queue full, down, or lost with a broken stream.
    std::uint64_t queued_msgs = 0;
    std::uint64_t queued_bytes = 0;
    std::uint64_t connects = 0;  // Streams the peer accepted.
    bool connected = false;      // A stream is up right now.
  };
  Counts counts() const;

 private:
  void run();
  // One stream, from connect to break. True if the peer accepted it.
  bool run_stream(int failures);
  // Writes what send() left and queued batches until the stream breaks.
  util::Status write_batches(StreamWriter* stream);
  // Waits for work or stopping (*stopping); while idle, looks at the
  // connection every kIdleCheck. Non-OK: the stream is broken.
  util::Status await_work(StreamWriter* stream, bool* stopping);
  // Waits up to `timeout` for stopping_ or work; false if neither.
  bool wait_for_work(std::chrono::milliseconds timeout) DKV_REQUIRES(mu_);
  bool has_work() const DKV_REQUIRES(mu_) { return !queue_.empty() || news_; }
  // Moves a batch (at least one message, up to batch_bytes_max) off the queue.
  void take_batch(std::vector<raft::Message>* taken) DKV_REQUIRES(mu_);
  // The stream ended: drop the queue, report the peer, log the outage.
  void go_down(bool was_accepted, int failures, const util::Status& status);
  std::chrono::milliseconds connect_timeout() const;

  const TransportOptions& o_;
  const StreamOptions& stream_options_;
  Notifier& notifier_;
  DirectWrite& direct_;
  const raft::NodeId id_;
  const std::string name_;  // For logs.
  const std::string address_;
  const FrameHeader header_;
  Backoff backoff_;  // Sender thread only.

  mutable util::Mutex mu_;
  util::CondVar cv_;  // Queue, news_ or stopping_ changed (the sender waits).
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  // The last stream attempt failed: enqueue() drops until one is accepted.
  bool down_ DKV_GUARDED_BY(mu_) = false;
  // wake() since the sender last looked: DirectWrite may hold a rest or error.
  bool news_ DKV_GUARDED_BY(mu_) = false;
  std::deque<raft::Message> queue_ DKV_GUARDED_BY(mu_);
  std::uint64_t queued_bytes_ DKV_GUARDED_BY(mu_) = 0;  // Sum of message_size_bytes(queue_).
  StreamWriter* stream_ DKV_GUARDED_BY(mu_) = nullptr;  // Borrowed while live.
  Counts counts_ DKV_GUARDED_BY(mu_);                   // queued_* unused here.
  std::thread thread_;  // Last: starts after the fields above exist.
};

}  // namespace dkv::transport
