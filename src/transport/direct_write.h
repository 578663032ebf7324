// DirectWrite: a peer's message stream as send() writes to it itself. While
// the stream is up and idle (nothing queued, no write in progress), send()
// encodes the call's messages for the peer as one frame and writes it with
// one non-blocking send: no hand-off to the sender thread. What the socket
// does not take (the rest of the frame) and a failed write (its error) are
// left here for the sender thread (message_stream_lane.h), which writes the
// rest before anything queued later, or ends the stream.
//
// Owns: the write lock (whoever writes to the stream holds it: send() here,
// or the sender thread), the stream send() may write to (attached by the
// sender while it is up), the rest of a frame and a direct write's error,
// the scratch buffers, and the direct writes' counters.
//
// Threading: prefix() and counts() from any thread. Everything else under
// the write lock: write() on send()'s thread, which only tries the lock
// (a write in progress means "queue instead"); attach(), take_rest() and
// detach() on the sender thread. Lock order: the write lock before the
// message stream's lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dkv/raftpb/raft.pb.h"
#include "raft/types.h"
#include "transport/message_frame.h"
#include "transport/tcp_stream.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

namespace dkv::transport {

class DirectWrite {
 public:
  DirectWrite(FrameHeader header, std::uint64_t batch_bytes_max)
      : header_(header), batch_bytes_max_(batch_bytes_max) {}
  DirectWrite(const DirectWrite&) = delete;
  DirectWrite& operator=(const DirectWrite&) = delete;

  util::Mutex& write_lock() DKV_RETURN_CAPABILITY(write_mu_) { return write_mu_; }

  // How many of `msgs`, from the first, fit one direct frame (no kSnap,
  // each fits the wire, together at most batch_bytes_max unless only one).
  std::size_t prefix(const std::vector<raft::Message>& msgs) const;

  // A stream is attached, with no rest and no error pending: write() may go.
  bool open() const DKV_REQUIRES(write_mu_);
  // Writes msgs[0, n) (moved from) as one frame with one non-blocking send.
  // Requires open(). True if the sender has news: a rest to write, or a
  // broken stream to end.
  bool write(std::vector<raft::Message>& msgs, std::size_t n) DKV_REQUIRES(write_mu_);

  // The sender's stream is up: send() may write to it from now on.
  void attach(StreamWriter* stream) DKV_REQUIRES(write_mu_);
  // The rest of a frame a direct write began, and its message count, for
  // the sender to write first (empty if none); or the error of a direct
  // write that broke the stream.
  util::Status take_rest(std::string* rest, std::size_t* msgs) DKV_REQUIRES(write_mu_);
  // The stream ends: send() no longer writes to it; a rest is lost with it
  // (counted dropped: a new stream starts at a frame boundary). Returns the
  // error of a direct write that broke it, if any.
  util::Status detach() DKV_REQUIRES(write_mu_);

  struct Counts {
    std::uint64_t sent = 0;     // Direct frames written whole, in messages.
    std::uint64_t direct = 0;   // Messages written directly (whole or begun).
    std::uint64_t rests = 0;    // Direct writes the socket took only part of.
    std::uint64_t dropped = 0;  // Lost with a failed write or a lost rest.
  };
  Counts counts() const;

 private:
  const FrameHeader header_;
  const std::uint64_t batch_bytes_max_;
  util::Mutex write_mu_;
  StreamWriter* stream_ DKV_GUARDED_BY(write_mu_) = nullptr;  // Attached, borrowed.
  std::string rest_ DKV_GUARDED_BY(write_mu_);
  std::size_t rest_msgs_ DKV_GUARDED_BY(write_mu_) = 0;  // Messages in that frame.
  util::Status error_ DKV_GUARDED_BY(write_mu_);
  raftpb::MessageBatch batch_ DKV_GUARDED_BY(write_mu_);  // Scratch of write().
  std::string framed_ DKV_GUARDED_BY(write_mu_);
  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> direct_{0};
  std::atomic<std::uint64_t> rests_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace dkv::transport
