// transport.h's Transport: the peers (peer.h: each a direct write, a
// message stream lane and a snapshot lane), the notifier thread that runs
// on_unreachable / on_snapshot_status (notifier.h), the inbound message
// streams (tcp_stream.h), and the Raft service's snapshot and Join reactors
// (inbound, here).
#include "transport/transport.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <utility>

#include "dkv/raftpb/raft.grpc.pb.h"
#include "tls/peer_tls.h"
#include "transport/admission.h"
#include "transport/codec.h"
#include "transport/message_frame.h"
#include "transport/notifier.h"
#include "transport/peer.h"
#include "transport/peer_channel.h"
#include "transport/peer_checks.h"
#include "transport/tcp_stream.h"
#include "util/assert.h"
#include "util/happens_before.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<std::uint64_t> metadata_u64(
    const std::multimap<grpc::string_ref, grpc::string_ref>& md, const char* key) {
  auto it = md.find(key);
  if (it == md.end()) return std::nullopt;
  return parse_u64(std::string_view(it->second.data(), it->second.size()));
}

grpc::Status to_grpc(const util::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

class MemorySnapshotSink final : public SnapshotSink {
 public:
  // Reserves at most 64 MiB up front: the announced size is the peer's word.
  explicit MemorySnapshotSink(std::uint64_t total_bytes) {
    data_.reserve(std::min<std::uint64_t>(total_bytes, 64 << 20));
  }
  util::Status write(std::string_view data) override {
    data_.append(data);
    return util::Status::ok();
  }
  util::Status finish(raft::Message* msg) override {
    DKV_ASSERT(msg->snapshot.has_value());
    msg->snapshot->data = std::move(data_);
    return util::Status::ok();
  }

 private:
  std::string data_;
};

// ---------------------------------------------------------------------------
// Inbound.

// What the reactors need; owned by Transport::Impl, outlives the server's
// calls (the server is shut down before the Transport is destroyed).
struct Inbound {
  std::uint64_t cluster_id = 0;
  raft::NodeId local_id = raft::kNoNode;
  std::uint64_t snapshot_bytes_max = 0;
  std::function<void(raft::Message)> on_message;
  SnapshotSinkFactory snapshot_sink;
  std::function<std::string()> membership;
  std::function<std::uint64_t()> commit_index;
};

// Refuses a stream whose client metadata names another cluster (checked
// before any message so that the sender learns it at once).
util::Status check_client_metadata(const Inbound& in, grpc::CallbackServerContext* ctx,
                                   raft::NodeId* from) {
  const auto cluster = metadata_u64(ctx->client_metadata(), kMetaClusterId);
  const auto sender = metadata_u64(ctx->client_metadata(), kMetaFrom);
  if (!cluster.has_value() || !sender.has_value()) {
    return {util::Code::kFailedPrecondition, "missing dkv-cluster-id or dkv-from metadata"};
  }
  *from = *sender;  // For the refusal's log line too.
  return check_cluster(in.cluster_id, *cluster);
}

// One SendSnapshot stream: checks the chunks' order and size, feeds them to a
// SnapshotSink, and delivers the completed kSnap message after the sender
// half-closes. Deletes itself in OnDone.
// Threading: gRPC runs the reactions one at a time, but each on whichever
// of its threads is free, and orders them by its own synchronisation, which
// ThreadSanitizer cannot see (libgrpc is not instrumented). Each reaction
// holds mu_ (never contended; StartRead and Finish start after it is
// released), so that the hand-off of the reader's state,
// the sink's buffer above all, is visible to TSan: without it every word of
// that buffer is a separate false race, and TSan's de-duplication of them
// (a linear scan per word) made a snapshot of a few MiB take minutes. For
// the same reason each chunk is parsed into a fresh message: gRPC parses it
// before the reaction starts, outside mu_, so a buffer reused from the
// previous chunk would be written by one thread after another with no order
// TSan can see (one allocation per chunk, next to its copy and its I/O).
class SnapshotReader final : public grpc::ServerReadReactor<raftpb::SnapshotChunk> {
 public:
  SnapshotReader(const Inbound& in, grpc::CallbackServerContext* ctx) : in_(in), ctx_(ctx) {
    std::optional<grpc::Status> finish;
    {
      util::MutexLock lk(mu_);
      const util::Status s = check_client_metadata(in_, ctx, &from_);
      if (!s.is_ok()) finish = refuse(s);
    }
    next(finish);
    util::happens_before(this);  // The hand-off to the reactions (util/happens_before.h).
  }

  void OnReadDone(bool ok) override {
    util::happens_after(this);
    std::optional<grpc::Status> finish;
    {
      util::MutexLock lk(mu_);
      finish = ok ? take_chunk() : end_of_stream();
      util::happens_before(&in_);  // Before the Transport's destructor (RaftService).
    }
    next(finish);
  }

  void OnDone() override {
    util::happens_after(this);
    { util::MutexLock lk(mu_); }  // After the last reaction, for TSan.
    util::happens_before(&in_);
    delete this;
  }

 private:
  util::Status start() DKV_REQUIRES(mu_) {
    if (!chunk_.has_message() || chunk_.offset() != 0) {
      return util::invalid_argument("first snapshot chunk lacks the message");
    }
    util::Status s = decode(std::move(*chunk_.mutable_message()), &header_);
    if (!s.is_ok()) return s;
    s = check_message(in_.local_id, from_, header_);
    if (!s.is_ok()) return s;
    if (header_.type != raft::MessageType::kSnap || !header_.snapshot.has_value() ||
        !header_.snapshot->data.empty()) {
      return util::invalid_argument("first snapshot chunk is not a kSnap without data");
    }
    total_bytes_ = chunk_.total_bytes();
    if (total_bytes_ > in_.snapshot_bytes_max) {
      return util::resource_exhausted("snapshot of " + std::to_string(total_bytes_) +
                                      " bytes exceeds " + std::to_string(in_.snapshot_bytes_max));
    }
    sink_ = in_.snapshot_sink ? in_.snapshot_sink(header_, total_bytes_)
                              : make_memory_snapshot_sink(total_bytes_);
    if (!sink_) return util::unavailable("no snapshot sink");
    started_ = Clock::now();
    return util::Status::ok();
  }

  util::Status absorb() DKV_REQUIRES(mu_) {
    util::Status s = check_header(in_.cluster_id, in_.local_id, from_, chunk_.header());
    if (!s.is_ok()) return s;
    if (!sink_) {
      s = start();
      if (!s.is_ok()) return s;
    } else if (chunk_.has_message()) {
      return util::invalid_argument("snapshot message repeated after the first chunk");
    }
    if (chunk_.offset() != received_bytes_) {
      return util::invalid_argument("snapshot chunk at " + std::to_string(chunk_.offset()) +
                                    ", expected " + std::to_string(received_bytes_));
    }
    if (chunk_.data().size() > total_bytes_ - received_bytes_) {
      return util::invalid_argument("snapshot data longer than announced");
    }
    s = sink_->write(chunk_.data());
    if (!s.is_ok()) return s;
    received_bytes_ += chunk_.data().size();
    return util::Status::ok();
  }

  util::Status complete() DKV_REQUIRES(mu_) {
    if (ctx_->IsCancelled()) return {util::Code::kCancelled, "sender cancelled the snapshot"};
    if (!sink_) return util::invalid_argument("snapshot stream without chunks");
    if (received_bytes_ != total_bytes_) {
      return util::invalid_argument("snapshot ended at " + std::to_string(received_bytes_) +
                                    " of " + std::to_string(total_bytes_) + " bytes");
    }
    const util::Status s = sink_->finish(&header_);
    if (!s.is_ok()) return s;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_).count();
    spdlog::info(
        "transport: received snapshot at index {} term {} ({} bytes) from node {} in {} ms",
        header_.snapshot->metadata.index, header_.snapshot->metadata.term, total_bytes_, from_, ms);
    in_.on_message(std::move(header_));
    return util::Status::ok();
  }

  // The last chunk was absorbed: the next read. Any error: Finish with it.
  std::optional<grpc::Status> take_chunk() DKV_REQUIRES(mu_) {
    const util::Status s = absorb();
    if (!s.is_ok()) return refuse(s);
    chunk_ = raftpb::SnapshotChunk();  // Frees the data: see the class comment.
    return std::nullopt;
  }

  // The sender half-closed: deliver the snapshot, and Finish.
  grpc::Status end_of_stream() DKV_REQUIRES(mu_) {
    const util::Status s = complete();
    if (!s.is_ok()) return refuse(s);
    return grpc::Status::OK;
  }

  grpc::Status refuse(const util::Status& s) DKV_REQUIRES(mu_) {
    spdlog::warn("transport: refused a snapshot stream from node {}: {}", from_, s.to_string());
    sink_.reset();
    return to_grpc(s);
  }

  // gRPC operations start without mu_ (gRPC parses the next chunk into
  // chunk_ before the reaction that reads it starts).
  void next(const std::optional<grpc::Status>& finish) DKV_EXCLUDES(mu_) {
    if (finish) {
      Finish(*finish);
    } else {
      StartRead(&chunk_);
    }
  }

  const Inbound& in_;
  grpc::CallbackServerContext* const ctx_;
  util::Mutex mu_;  // Held by each reaction (see the class comment).
  raft::NodeId from_ DKV_GUARDED_BY(mu_) = raft::kNoNode;
  raftpb::SnapshotChunk chunk_ DKV_GUARDED_BY(mu_);
  raft::Message header_ DKV_GUARDED_BY(mu_);
  std::unique_ptr<SnapshotSink> sink_ DKV_GUARDED_BY(mu_);  // Set by the first chunk.
  std::uint64_t total_bytes_ DKV_GUARDED_BY(mu_) = 0;
  std::uint64_t received_bytes_ DKV_GUARDED_BY(mu_) = 0;  // Invariant: <= total_bytes_.
  Clock::time_point started_ DKV_GUARDED_BY(mu_);
};

// Threading: gRPC's threads. gRPC publishes the service to them when the
// server starts and waits for them when it shuts down, which TSan cannot
// see: each call and reaction that reads the Inbound starts with
// happens_after(&in) and ends with happens_before(&in), paired with the
// Transport's constructor and destructor (util/happens_before.h).
class RaftService final : public raftpb::Raft::CallbackService {
 public:
  explicit RaftService(const Inbound& in) : in_(in) {}

  grpc::ServerReadReactor<raftpb::SnapshotChunk>* SendSnapshot(grpc::CallbackServerContext* ctx,
                                                               raftpb::SnapshotResponse*) override {
    util::happens_after(&in_);
    auto* reader = new SnapshotReader(in_, ctx);
    util::happens_before(&in_);
    return reader;
  }
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* ctx, const raftpb::JoinRequest* req,
                                 raftpb::JoinResponse* resp) override {
    util::happens_after(&in_);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const bool served = static_cast<bool>(in_.membership);
    answer_join(*req, resp);
    util::happens_before(&in_);
    reactor->Finish(served ? grpc::Status::OK
                           : grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "join not served here"));
    return reactor;
  }

 private:
  void answer_join(const raftpb::JoinRequest& req, raftpb::JoinResponse* resp) {
    if (!in_.membership) return;
    resp->set_cluster_id(in_.cluster_id);
    resp->set_membership(in_.membership());
    if (in_.commit_index) resp->set_commit_index(in_.commit_index());
    spdlog::debug("transport: node {} asked for the membership; told it {}",
                  req.node_id().substr(0, 64), resp->membership());
  }

  const Inbound& in_;
};

// Answers a SendSnapshot from a stranger: refused before reading anything.
class RefusedSnapshotReader final : public grpc::ServerReadReactor<raftpb::SnapshotChunk> {
 public:
  explicit RefusedSnapshotReader(const grpc::Status& status) {
    Finish(status);
    util::happens_before(this);  // The hand-off to OnDone (util/happens_before.h).
  }
  void OnDone() override {
    util::happens_after(this);
    delete this;
  }
};

// The Raft service as strangers see it (connections from no member's
// address): every call is refused, counted and logged (rate-limited).
class StrangerRaftService final : public raftpb::Raft::CallbackService {
 public:
  explicit StrangerRaftService(PeerAdmission* admission) : admission_(admission) {}

  grpc::ServerReadReactor<raftpb::SnapshotChunk>* SendSnapshot(grpc::CallbackServerContext* ctx,
                                                               raftpb::SnapshotResponse*) override {
    refuse(kRefusedSnapshotNotMember, "a snapshot stream", ctx);
    return new RefusedSnapshotReader(denied());
  }
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* ctx, const raftpb::JoinRequest*,
                                 raftpb::JoinResponse*) override {
    refuse(kRefusedJoinNotMember, "a Join call", ctx);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(denied());
    return reactor;
  }

 private:
  static grpc::Status denied() {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "peer calls are accepted only from members' addresses");
  }
  void refuse(std::string_view reason, const std::string& what, grpc::CallbackServerContext* ctx) {
    if (admission_ != nullptr)
      admission_->refused(reason, what + " from no member's address (" + ctx->peer() + ")");
  }

  PeerAdmission* const admission_;
};

}  // namespace

std::unique_ptr<SnapshotSink> make_memory_snapshot_sink(std::uint64_t total_bytes) {
  return std::make_unique<MemorySnapshotSink>(total_bytes);
}

// The readers' hand-off: on_messages, else on_message for each.
MessagesHandler messages_handler(const TransportCallbacks& cb) {
  if (cb.on_messages) return cb.on_messages;
  return [&cb](std::vector<raft::Message> msgs) {
    for (raft::Message& m : msgs) cb.on_message(std::move(m));
  };
}

// StreamOptions::admit from the transport's admission (none: admit all).
std::function<util::Status(raft::NodeId, const std::string&, bool)> admit_function(
    PeerAdmission* admission) {
  if (admission == nullptr) return nullptr;
  return [admission](raft::NodeId from, const std::string& source, bool tls_verified) {
    return admission->admit_stream(from, source, tls_verified);
  };
}

// The peer TLS client of outgoing streams (null without peer TLS, or if its
// files no longer load: then streams fail to open, never go plain).
std::unique_ptr<tls::PeerDialer> make_dialer(const tls::PeerTlsFiles& files) {
  std::unique_ptr<tls::PeerDialer> dialer;
  if (!files.on()) return dialer;
  if (auto s = tls::PeerDialer::create(files, &dialer); !s.is_ok()) {
    spdlog::error("transport: peer TLS: {}; message streams cannot open", s.message());
  }
  return dialer;
}

// StreamOptions::tls_handshake through `dialer` (none without peer TLS).
std::function<util::Status(int, Clock::time_point, ssl_st**)> handshake_function(
    const tls::PeerTlsFiles& files, tls::PeerDialer* dialer) {
  if (!files.on()) return nullptr;
  return [dialer](int fd, Clock::time_point until, ssl_st** ssl) {
    if (dialer == nullptr) return util::unavailable("peer TLS files do not load");
    return dialer->handshake(fd, until, ssl);
  };
}

// Member order is destruction order reversed: peers (using notifier and
// options) go first, then the notifier, the stream readers, then the
// service and what it reads.
struct Transport::Impl {
  Impl(TransportOptions o, TransportCallbacks cb)
      : options(std::move(o)),
        callbacks(std::move(cb)),
        dialer(make_dialer(options.peer_tls)),
        stream_options{options.cluster_id,
                       options.local_id,
                       options.keepalive_time_ms,
                       options.keepalive_timeout_ms,
                       options.peer_name,
                       admit_function(options.admission),
                       handshake_function(options.peer_tls, dialer.get())},
        inbound{options.cluster_id,    options.local_id,        options.snapshot_bytes_max,
                callbacks.on_message,  callbacks.snapshot_sink, callbacks.membership,
                callbacks.commit_index},
        service(inbound),
        stranger_service(options.admission),
        readers(stream_options, messages_handler(callbacks)),
        notifier(callbacks) {}

  const TransportOptions options;
  const TransportCallbacks callbacks;
  const std::unique_ptr<tls::PeerDialer> dialer;  // Outlives the peers' streams.
  const StreamOptions stream_options;
  const Inbound inbound;
  RaftService service;
  StrangerRaftService stranger_service;
  StreamReaders readers;
  Notifier notifier;
  mutable util::Mutex mu;
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers DKV_GUARDED_BY(mu);
};

Transport::Transport(TransportOptions options, TransportCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(callbacks))) {
  DKV_ASSERT(impl_->options.local_id != raft::kNoNode);
  DKV_ASSERT(impl_->callbacks.on_message != nullptr);
  DKV_ASSERT(impl_->options.queue_msgs_max > 0);
  DKV_ASSERT(impl_->options.batch_bytes_max > 0);
  DKV_ASSERT(impl_->options.snapshot_chunk_bytes > 0);
  DKV_ASSERT(impl_->options.snapshot_chunk_bytes + kWireHeadroomBytes <
             static_cast<std::uint64_t>(kWireMessageBytesMax));
  DKV_ASSERT(impl_->options.backoff_initial_ms > 0);
  DKV_ASSERT(impl_->options.backoff_max_ms >= impl_->options.backoff_initial_ms);
  util::happens_before(&impl_->inbound);  // Published to gRPC's threads (RaftService).
}

Transport::~Transport() {
  util::happens_after(&impl_->inbound);  // Their servers are stopped (RaftService).
  std::map<raft::NodeId, std::unique_ptr<Peer>> peers;
  {
    util::MutexLock lk(impl_->mu);
    peers.swap(impl_->peers);
  }
  for (auto& [id, peer] : peers) peer->stop();  // Cancel all first, then join.
  peers.clear();
}

void Transport::add_peer(raft::NodeId id, std::string address) {
  DKV_ASSERT(id != raft::kNoNode);
  DKV_ASSERT(id != impl_->options.local_id);
  std::unique_ptr<Peer> old;
  {
    util::MutexLock lk(impl_->mu);
    auto it = impl_->peers.find(id);
    if (it != impl_->peers.end()) {
      if (it->second->address() == address) return;
      old = std::move(it->second);
      old->stop();
    }
    spdlog::info("transport: peer node {} at {}", peer_label(impl_->options, id), address);
    impl_->peers[id] =
        std::make_unique<Peer>(impl_->options, impl_->stream_options,
                               impl_->callbacks.snapshot_source, impl_->notifier, id, address);
  }
  // `old` joins here, outside the lock: its threads end promptly (cancelled).
}

void Transport::remove_peer(raft::NodeId id) {
  std::unique_ptr<Peer> old;
  {
    util::MutexLock lk(impl_->mu);
    auto it = impl_->peers.find(id);
    if (it == impl_->peers.end()) return;
    old = std::move(it->second);
    impl_->peers.erase(it);
    old->stop();
  }
  spdlog::info("transport: removed peer node {}", peer_label(impl_->options, id));
  // `old` joins here: its calls are cancelled, so this is quick.
}

void Transport::send(std::vector<raft::Message> msgs) {
  std::vector<std::pair<raft::NodeId, bool>> unknown;  // (to, was a kSnap)
  {
    util::MutexLock lk(impl_->mu);
    // Per peer, in order: one frame (written here if the stream is idle) or
    // one wake-up of its sender per call, not per message.
    std::vector<std::pair<Peer*, std::vector<raft::Message>>> by_peer;
    for (raft::Message& m : msgs) {
      auto it = impl_->peers.find(m.to);
      if (it == impl_->peers.end()) {
        unknown.emplace_back(m.to, m.type == raft::MessageType::kSnap);
        continue;
      }
      Peer* peer = it->second.get();
      if (m.type == raft::MessageType::kSnap) {
        peer->enqueue(std::move(m));  // Its own stream: no order to keep.
        continue;
      }
      auto group = std::find_if(by_peer.begin(), by_peer.end(),
                                [&](const auto& g) { return g.first == peer; });
      if (group == by_peer.end()) group = by_peer.insert(by_peer.end(), {peer, {}});
      group->second.push_back(std::move(m));
    }
    // Under mu: peers stay alive.
    for (auto& [peer, peer_msgs] : by_peer) {
      if (peer->deliver(peer_msgs)) peer->wake();
    }
  }
  for (auto [id, snap] : unknown) {
    spdlog::debug("transport: dropped a message to unknown node {}", id);
    impl_->notifier.unreachable(id);
    if (snap) impl_->notifier.snapshot_status(id, false);
  }
}

std::optional<PeerStats> Transport::peer_stats(raft::NodeId id) const {
  util::MutexLock lk(impl_->mu);
  auto it = impl_->peers.find(id);
  if (it == impl_->peers.end()) return std::nullopt;
  return it->second->stats();
}

grpc::Service* Transport::service() { return &impl_->service; }

grpc::Service* Transport::stranger_service() { return &impl_->stranger_service; }

void Transport::adopt_stream(int fd, std::string source, ssl_st* peer_tls) {
  impl_->readers.adopt(fd, std::move(source), peer_tls);
}

void Transport::stop_inbound() { impl_->readers.stop(); }

void Transport::configure_server(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kWireMessageBytesMax);
  // Peers' snapshot channels ping every second even between messages
  // (keepalive_time_ms); the
  // default policy (one ping per 5 min without data, 2 strikes) would close
  // their connections with GOAWAY "too_many_pings".
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Notice dead senders too, so their streams do not linger.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
}

}  // namespace dkv::transport

namespace dkv::transport {

util::Status fetch_join_info(const std::string& address, const std::string& node_id,
                             std::chrono::milliseconds timeout, JoinInfo* out,
                             const tls::PeerTlsFiles& tls) {
  auto channel = make_peer_channel(address, tls);
  auto stub = raftpb::Raft::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  raftpb::JoinRequest req;
  req.set_node_id(node_id);
  raftpb::JoinResponse resp;
  const grpc::Status s = stub->Join(&ctx, req, &resp);
  if (!s.ok()) return util::unavailable(address + ": " + s.error_message());
  out->cluster_id = resp.cluster_id();
  out->membership = resp.membership();
  out->commit_index = resp.commit_index();
  return util::Status::ok();
}

}  // namespace dkv::transport
