// TcpStream: the raft message stream from one transport to a peer's, over a
// plain TCP connection to the peer's RPC port (the port gRPC serves too:
// port_listener.h routes the connection by its first bytes), or with peer
// TLS through a TLS session on it (OpenSSL, non-blocking, read and written
// by the stream's own threads; the bytes inside are the same). Snapshots
// and Join stay on gRPC (transport.cc).
//
// Wire format, integers big-endian:
//   dialer -> acceptor, once: the hello, kStreamHelloBytes:
//       kStreamMagic (8 bytes), u64 cluster_id, u64 from, u64 to.
//   acceptor -> dialer, once: the answer:
//       u32 code (util::Code; 0 = accepted), u64 the acceptor's node id,
//       u32 n, n bytes of reason (n <= kAnswerReasonBytesMax).
//   dialer -> acceptor, then: frames, u32 n + n bytes of a
//       raftpb::MessageBatch; n = 0 is a keepalive ping (a batch always has
//       a header, so never encodes to 0 bytes); n > kWireMessageBytesMax is
//       refused (the acceptor closes the connection).
//   acceptor -> dialer, then: one byte (0) every keepalive_time_ms: alive.
// The acceptor refuses (answer code FAILED_PRECONDITION, then closes) a
// hello of another cluster or addressed to another node, and answers
// PERMISSION_DENIED to a sender StreamOptions::admit refuses; a dialer that is
// answered by another node id than it meant treats it as refused too.
//
// Liveness (a partition drops packets, it does not reset connections): each
// side closes the stream when it heard nothing from the other for its
// limit: the dialer keepalive_time + keepalive_timeout (the acceptor beats
// every keepalive_time), the acceptor 2 * keepalive_time + keepalive_timeout
// (the dialer pings after keepalive_time without writing). TCP keepalive
// and TCP_USER_TIMEOUT are set on both ends as well.
//
// Threading: a StreamWriter is used by one thread at a time (the peer's
// sender, or send() writing directly: DirectWrite's write lock serialises
// them, direct_write.h) except interrupt(), which any thread may call.
// StreamReaders runs one thread per accepted stream; its methods are
// thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "raft/types.h"
#include "util/mutex.h"
#include "util/status.h"
#include "util/thread_annotations.h"

struct ssl_st;  // OpenSSL's SSL.

namespace dkv::transport {

// The first bytes of a raft message stream; anything else on the RPC port
// is gRPC (whose HTTP/2 preface starts "PRI * HT").
inline constexpr std::string_view kStreamMagic = "DKVRAFT1";
inline constexpr std::size_t kStreamHelloBytes = 8 + 3 * 8;
inline constexpr std::size_t kAnswerReasonBytesMax = 1024;

struct StreamOptions {
  std::uint64_t cluster_id = 0;
  raft::NodeId local_id = raft::kNoNode;
  int keepalive_time_ms = 1000;
  int keepalive_timeout_ms = 1000;
  // Optional: a peer's name for logs and reader threads' names.
  std::function<std::string(raft::NodeId)> peer_name;
  // Optional (unset: every sender is admitted). Whether an accepted stream
  // whose hello claims `from` may be served when its connection comes from
  // `source` (admission.h), `tls_verified` if it came through peer TLS (a
  // certificate of the peer CA); non-OK is the answer (the callee counts and
  // logs the refusal).
  std::function<util::Status(raft::NodeId from, const std::string& source, bool tls_verified)>
      admit;
  // Optional (unset: plain TCP). Peer TLS for outgoing streams
  // (tls/peer_tls.h PeerDialer::handshake): runs the TLS handshake on the
  // connected socket by `until` and hands back the session (owned by the
  // caller), through which the stream then reads and writes.
  std::function<util::Status(int fd, std::chrono::steady_clock::time_point until, ssl_st** ssl)>
      tls_handshake;
};

// The outbound end: connects, says hello, then writes frames.
class StreamWriter {
 public:
  explicit StreamWriter(const StreamOptions& options);
  ~StreamWriter();  // Closes the connection.
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  // Connects to `address` ("host:port") and asks for a stream to node `to`,
  // waiting at most `timeout` in all. OK: accepted. FAILED_PRECONDITION:
  // refused, or answered by another node (*answered_by then names it, else
  // kNoNode). UNAVAILABLE: unreachable, no answer in time, or interrupted.
  util::Status open(const std::string& address, raft::NodeId to, std::chrono::milliseconds timeout,
                    raft::NodeId* answered_by);

  // Writes one frame holding `batch` (a serialized MessageBatch, with
  // kFrameHeaderBytes of room before it: frame_buffer()). Blocks while the
  // socket is full, watching liveness. Non-OK: the stream is broken.
  util::Status write_frame(std::string* framed);
  // Writes `data` (a sealed frame, or the rest of one) without waiting: as
  // much as the socket takes now. *written says how much (all of it, part,
  // or none when the socket is full). Non-OK: the stream is broken.
  util::Status try_write(std::string_view data, std::size_t* written);
  // Writes all of `data`, the rest of a frame try_write() began; blocks like
  // write_frame().
  util::Status write_rest(std::string_view data);
  // Between writes: reads the peer's beats, pings when nothing was written
  // for keepalive_time. Quick. Non-OK: the stream is broken.
  util::Status check_alive();

  // Breaks the connection from another thread: open() and write_frame()
  // return UNAVAILABLE soon.
  void interrupt();

  static constexpr std::size_t kFrameHeaderBytes = 4;
  // Fills the frame header of `framed` (kFrameHeaderBytes, then the batch).
  static void seal_frame(std::string* framed);

 private:
  using Clock = std::chrono::steady_clock;
  util::Status write_all(const char* data, std::size_t size);
  util::Status wait_socket(short events, Clock::time_point until, short* revents);
  // open()'s steps: a connected socket in fd_/sock_; then the hello and
  // its answer (through the TLS session if there is one).
  util::Status connect_to(const std::string& address, Clock::time_point until);
  util::Status exchange_hello(raft::NodeId to, Clock::time_point until, raft::NodeId* answered_by);
  util::Status drain_beats();
  util::Status check_silence() const;

  const StreamOptions& o_;
  util::Mutex fd_mu_;
  int fd_ DKV_GUARDED_BY(fd_mu_) = -1;
  bool interrupted_ DKV_GUARDED_BY(fd_mu_) = false;
  int sock_ = -1;          // fd_, read without the lock by the owning thread.
  ssl_st* ssl_ = nullptr;  // Peer TLS on sock_, or null; the owning thread's.
  Clock::time_point last_heard_;
  Clock::time_point last_written_;
};

// Hands messages from one stream to the node, in order: all that one read
// completed at once (one lock and one wake-up for the raft thread).
using MessagesHandler = std::function<void(std::vector<raft::Message>)>;

// The inbound ends: one thread per accepted stream, checking the hello and
// handing every message to on_messages, in order.
class StreamReaders {
 public:
  StreamReaders(StreamOptions options, MessagesHandler on_messages);
  ~StreamReaders();  // stop().

  // Serves the accepted connection `fd` (owned from now on), whose first
  // bytes are kStreamMagic, from `source` (its peer's IP, for
  // StreamOptions::admit). `tls`: null for plain TCP, or the peer TLS
  // session on `fd` (handshaken and verified by the terminator; owned from
  // now on; `fd` non-blocking), through which the stream is read.
  // Closes it at once after stop().
  void adopt(int fd, std::string source, ssl_st* tls = nullptr);
  // Closes every stream, waits for their threads, refuses new ones.
  void stop();

 private:
  struct Reader;
  void serve(Reader* r);
  void reap_finished() DKV_REQUIRES(mu_);

  const StreamOptions o_;
  const MessagesHandler on_messages_;
  util::Mutex mu_;
  bool stopped_ DKV_GUARDED_BY(mu_) = false;
  std::list<std::unique_ptr<Reader>> readers_ DKV_GUARDED_BY(mu_);
};

// Sets what both ends of a stream want: TCP_NODELAY, keepalive probes after
// keepalive_time (then every second, 2 unanswered break it) and
// TCP_USER_TIMEOUT of keepalive_time + keepalive_timeout for unacknowledged
// data.
void set_stream_socket_options(int fd, const StreamOptions& o);

}  // namespace dkv::transport
