// Transport: peer messaging for the raft core. Messages go over a plain TCP
// stream of length-prefixed MessageBatch frames (tcp_stream.h); snapshots
// and Join over gRPC (the dkv.raftpb.Raft service,
// proto/dkv/raftpb/raft.proto). Both arrive on the node's one RPC port,
// where a PortListener (port_listener.h) tells them apart.
//
// Outbound, per peer: a bounded queue (by count and bytes), one long-lived
// message stream written by a sender thread that batches whatever is queued
// into one write, reconnecting with exponential backoff (jittered, capped at
// ~1 s). While the stream is up and idle (nothing queued, no write in
// progress), send() writes the call's messages for the peer as one frame
// itself, with one non-blocking send: no hand-off to the sender thread.
// What the socket does not take then goes to the sender thread, which
// writes it before anything queued later; and a snapshot thread that streams kSnap messages in
// chunks on a separate gRPC connection, so that a large snapshot never delays heartbeats. A full
// queue or a peer known to be down drops the message and reports the peer unreachable: Raft
// retransmits (etcd's rafthttp does the same). Keepalive (1 s + 1 s: the stream's own beats and
// pings, gRPC's pings for snapshots) breaks a connection over a silently dead link.
//
// Snapshot data is streamed, never held whole: the sender reads it from a
// SnapshotSource (the node's opens the snapshot file named by the message's
// index and term; without one, the message's in-memory data is sent), and
// the receiver feeds the chunks to a SnapshotSink (the node's writes a file
// in its snap dir; the default reassembles in memory, for tests).
//
// Inbound: adopt_stream() takes the message streams the PortListener
// accepted; each is read by a thread of its own that hands the messages of
// each read to callbacks.on_messages (or one by one to on_message). service() is a grpc::Service
// that the node's single gRPC server registers next to the public services (see
// configure_server()): a snapshot goes through a SnapshotSink and is
// delivered as one kSnap message once the sink accepted all of it. Streams
// of another cluster id, or addressed to another node id, are refused
// (FAILED_PRECONDITION).
//
// Must not: block the raft thread. send() only moves messages into queues
// under short mutexes, or writes what the socket takes at once
// (MSG_DONTWAIT); it never waits for the network or calls a callback.
//
// Threading: every public method is thread-safe. on_unreachable and
// on_snapshot_status run on one notifier thread of the transport, in order,
// never inside send(); on_messages / on_message run on stream reader threads
// and on_message on gRPC threads (snapshots), the SnapshotSink on gRPC threads.
// All callbacks must be quick (enqueue for the raft thread) and must not call
// back into remove_peer() or the destructor.
//
// Lifetimes: the callbacks must stay callable until the destructor returns.
// A gRPC server that registered service(), and a PortListener that hands
// streams to adopt_stream(), must be stopped before the Transport is
// destroyed. Headers of gRPC and protobuf stay in the .cc files (pimpl);
// this header forward-declares the two gRPC types it names.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"
#include "tls/peer_files.h"
#include "util/status.h"
#include "wal/snapshot_stream.h"

struct ssl_st;  // OpenSSL's SSL.

namespace grpc {
class Channel;
class Service;
class ServerBuilder;
}  // namespace grpc

namespace dkv::transport {

class PeerAdmission;

// Largest frame of a message stream, and largest gRPC message on the Raft
// service, either direction; both the channels (send) and
// configure_server() (receive) use it. Fits a batch of
// batch_bytes_max plus one oversize raft message (the core sends at least
// one entry per MsgApp even past its max_msg_bytes, and entries are ~1 MiB).
inline constexpr int kWireMessageBytesMax = 16 * 1024 * 1024;

struct TransportOptions {
  std::uint64_t cluster_id = 0;              // Must match every peer's.
  raft::NodeId local_id = raft::kNoNode;     // This node; must be non-zero.
  std::size_t queue_msgs_max = 4096;         // Per peer, messages waiting to be written.
  std::uint64_t queue_bytes_max = 64 << 20;  // Per peer, their approximate bytes.
  // One stream write holds queued messages up to this many bytes (at least
  // one message).
  std::uint64_t batch_bytes_max = 4 << 20;
  std::uint64_t snapshot_chunk_bytes = 1 << 20;
  // Largest snapshot accepted from a peer.
  std::uint64_t snapshot_bytes_max = std::uint64_t{16} << 30;
  // Reconnect delay after the n-th consecutive failure: a random value in
  // [d/2, d] where d = min(backoff_initial_ms * 2^(n-1), backoff_max_ms).
  int backoff_initial_ms = 50;
  int backoff_max_ms = 1000;
  // A ping every keepalive_time_ms; no answer within keepalive_timeout_ms
  // breaks the connection (a partition drops packets, it does not reset).
  int keepalive_time_ms = 1000;
  int keepalive_timeout_ms = 1000;
  // Optional: a peer's name for logs ("b" rather than its raft id).
  std::function<std::string(raft::NodeId)> peer_name;
  // Optional, borrowed (must outlive the Transport): who may open a message
  // stream (admission.h). Unset: every sender is admitted (tests).
  PeerAdmission* admission = nullptr;
  // Peer TLS (on(): DKV_PEER_*): outgoing message streams and gRPC calls
  // (snapshots) are mutual TLS against the peer CA (tls/peer_tls.h). The
  // files were checked at start; if they no longer load, streams fail to
  // open (and are retried) rather than fall back to plain text.
  tls::PeerTlsFiles peer_tls;
};

// The byte-stream interfaces of a snapshot transfer live beside the
// snapshot files (wal/snapshot_stream.h), so that node/ implements them
// without depending on the transport.
using SnapshotSink = wal::SnapshotSink;
using SnapshotSource = wal::SnapshotSource;

// Makes the sink for an incoming snapshot. `header` is the kSnap message with
// empty snapshot data; `total_bytes` the size of the data to come.
using SnapshotSinkFactory = std::function<std::unique_ptr<SnapshotSink>(const raft::Message& header,
                                                                        std::uint64_t total_bytes)>;

// A sink that accumulates the data in memory and moves it into the message.
std::unique_ptr<SnapshotSink> make_memory_snapshot_sink(std::uint64_t total_bytes);

// Opens the data of the kSnap message `msg` (by its metadata).
using SnapshotSourceFactory =
    std::function<util::Status(const raft::Message& msg, std::unique_ptr<SnapshotSource>* out)>;

struct TransportCallbacks {
  // Required. Every message received from a peer, in order per sender stream.
  std::function<void(raft::Message)> on_message;
  // Optional. Several messages of one sender stream at once, in order (what
  // one read from the stream completed): one hand-off instead of one each.
  // Unset: they go to on_message one by one. Snapshots use on_message.
  std::function<void(std::vector<raft::Message>)> on_messages;
  // Optional. A message to `peer` was dropped or a stream to it failed; the
  // core wants a kUnreachable from `peer`. Coalesced: one pending report per
  // peer at a time.
  std::function<void(raft::NodeId peer)> on_unreachable;
  // Optional. Exactly once per kSnap given to send() (unless the peer is
  // removed or the transport destroyed before it is done): ok iff the
  // receiver accepted the whole snapshot; a kSnap to an unknown peer fails.
  // The core wants a kSnapStatus (reject = !ok).
  std::function<void(raft::NodeId peer, bool ok)> on_snapshot_status;
  // Optional. Defaults to make_memory_snapshot_sink.
  SnapshotSinkFactory snapshot_sink;
  // Optional. Unset: a kSnap's data is the message's snapshot.data.
  SnapshotSourceFactory snapshot_source;
  // Optional. The applied membership, encoded, for a joining node's Join
  // call (on a gRPC thread). Unset: Join is refused.
  std::function<std::string()> membership;
  // Optional. The commit index, for the same call (0 if unset).
  std::function<std::uint64_t()> commit_index;
};

// What a member tells a joining node (the Raft service's Join call).
struct JoinInfo {
  std::uint64_t cluster_id = 0;
  std::string membership;
  std::uint64_t commit_index = 0;  // 0: its cluster has committed nothing yet.
};
// Asks the member at `address` (host:port) for the cluster id and its
// membership, waiting at most `timeout`. UNAVAILABLE if it cannot be reached.
// With peer TLS (`tls`.on()) the call is mutual TLS against the peer CA.
util::Status fetch_join_info(const std::string& address, const std::string& node_id,
                             std::chrono::milliseconds timeout, JoinInfo* out,
                             const tls::PeerTlsFiles& tls = {});

// A gRPC channel to the member at `address` for this node's own calls to
// it (Join, forwarded calls): plain, or with `tls`.on() mutual TLS against
// the peer CA (its certificate files re-read when they change, within
// kPeerFilesRecheckSeconds; the member's certificate is checked against the
// peer CA, not against its host name).
std::shared_ptr<grpc::Channel> make_peer_channel(const std::string& address,
                                                 const tls::PeerTlsFiles& tls);

// Counters of one peer, for metrics and tests.
struct PeerStats {
  std::uint64_t sent_msgs = 0;     // Written to a stream (not necessarily received).
  std::uint64_t direct_msgs = 0;   // Of those, written by send() itself (whole or begun).
  std::uint64_t direct_rests = 0;  // Direct writes the socket took only part of.
  std::uint64_t dropped_msgs = 0;  // Queue full, peer down, or lost with a broken stream.
  std::uint64_t queued_msgs = 0;
  std::uint64_t queued_bytes = 0;
  std::uint64_t connects = 0;  // Streams the peer accepted.
  std::uint64_t snapshots_sent = 0;
  std::uint64_t snapshots_failed = 0;
  bool connected = false;  // A stream is up right now.
};

class Transport {
 public:
  Transport(TransportOptions options, TransportCallbacks callbacks);
  // Stops every peer's threads (cancelling streams in flight) and returns
  // when they are gone. Queued messages are dropped without reports.
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Starts sending to `id` at `address` ("host:port"). Re-adding a peer with
  // another address replaces it (its queue is dropped); with the same
  // address it is a no-op. `id` must not be local_id.
  void add_peer(raft::NodeId id, std::string address);
  // Stops sending to `id`; queued messages are dropped without reports. A
  // no-op for an unknown peer. Does not wait for the network.
  void remove_peer(raft::NodeId id);
  // Queues each message for its `to` peer and returns at once. kSnap
  // messages go through the snapshot stream. Messages to unknown peers, to a
  // peer known to be down, or beyond a full queue are dropped and the peer
  // reported unreachable.
  void send(std::vector<raft::Message> msgs);

  // Counters of `id`, or nullopt if it is not a peer.
  std::optional<PeerStats> peer_stats(raft::NodeId id) const;

  // Serves the inbound message stream on the accepted connection `fd`
  // (owned from now on) from `source` (its peer's IP), whose first bytes are
  // kStreamMagic: the PortListener's on_stream; or, with `peer_tls` (owned
  // from now on), the TLS terminator's peer side: the session on `fd`,
  // handshaken and verified against the peer CA. Quick (starts the stream's
  // reader thread); TransportOptions::admission decides after the hello.
  void adopt_stream(int fd, std::string source, ssl_st* peer_tls = nullptr);

  // The inbound snapshots and Join, to register on the node's gRPC server:
  //   builder.RegisterService(transport.service());
  //   Transport::configure_server(builder);
  // Owned by this Transport. Register it only where peers' connections are
  // served (main adopts members' connections into a gRPC server of their
  // own); strangers' connections get stranger_service() instead.
  grpc::Service* service();
  // The same service for connections from no member's address: SendSnapshot
  // and Join answer PERMISSION_DENIED, counted and logged through
  // TransportOptions::admission. Owned by this Transport.
  grpc::Service* stranger_service();
  // Sets what the Raft service needs on the server that hosts it: receive
  // size kWireMessageBytesMax, and a ping policy that lets peers' keepalive
  // pings through (the default would answer them with GOAWAY). Call after
  // any SetMaxReceiveMessageSize of the server's own.
  static void configure_server(grpc::ServerBuilder& builder);

  // Ends the inbound message streams now, refuses new ones, and returns
  // once their threads are gone (no on_message from them after that).
  void stop_inbound();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dkv::transport
