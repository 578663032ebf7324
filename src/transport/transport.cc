// transport.h's peers and their threads: per peer a sender (the message
// stream, tcp_stream.h) and a snapshot thread (gRPC SendSnapshot); the Raft
// service's snapshot and Join reactors (inbound); and the notifier thread
// that runs on_unreachable / on_snapshot_status. The only translation unit of
// transport/ that includes gRPC (slow to compile: keep it one).
#include "transport/transport.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "dkv/raftpb/raft.grpc.pb.h"
#include "tls/peer_tls.h"
#include "transport/admission.h"
#include "transport/codec.h"
#include "transport/peer_checks.h"
#include "transport/tcp_stream.h"
#include "util/assert.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"
#include "util/thread_name.h"

namespace dkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kMetaClusterId[] = "dkv-cluster-id";
constexpr char kMetaFrom[] = "dkv-from";

// Headroom for the batch's framing when checking one message against the
// wire limit (message_size_bytes is an estimate).
constexpr std::uint64_t kWireHeadroomBytes = 64 * 1024;

// How often an idle sender checks that its connection is still up.
constexpr std::chrono::milliseconds kIdleCheck{100};

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

std::string describe(const grpc::Status& s) {
  return std::string(util::code_name(static_cast<util::Code>(s.error_code()))) + ": " +
         s.error_message();
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

// The data of a kSnap message held in memory (no SnapshotSourceFactory).
class MemorySnapshotSource final : public SnapshotSource {
 public:
  explicit MemorySnapshotSource(std::string data) : data_(std::move(data)) {}
  std::uint64_t total_bytes() const override { return data_.size(); }
  util::Status read(std::uint64_t max_bytes, std::string* data) override {
    const std::size_t n = std::min<std::uint64_t>(max_bytes, data_.size() - offset_);
    data->assign(data_, offset_, n);
    offset_ += n;
    return util::Status::ok();
  }

 private:
  const std::string data_;
  std::size_t offset_ = 0;
};

// ---------------------------------------------------------------------------
// Inbound.

// A peer's name for logs: options.peer_name's answer, else its raft id.
std::string peer_label(const TransportOptions& o, raft::NodeId id) {
  std::string name = o.peer_name ? o.peer_name(id) : std::string();
  return name.empty() ? std::to_string(id) : name;
}

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
class SnapshotReader final : public grpc::ServerReadReactor<raftpb::SnapshotChunk> {
 public:
  SnapshotReader(const Inbound& in, grpc::CallbackServerContext* ctx) : in_(in), ctx_(ctx) {
    const util::Status s = check_client_metadata(in_, ctx, &from_);
    if (!s.is_ok()) {
      refuse(s);
      return;
    }
    StartRead(&chunk_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      const util::Status s = complete();
      if (!s.is_ok()) {
        refuse(s);
        return;
      }
      Finish(grpc::Status::OK);
      return;
    }
    const util::Status s = absorb();
    if (!s.is_ok()) {
      refuse(s);
      return;
    }
    chunk_.Clear();
    StartRead(&chunk_);
  }

  void OnDone() override { delete this; }

 private:
  util::Status start() {
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

  util::Status absorb() {
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

  util::Status complete() {
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

  void refuse(const util::Status& s) {
    spdlog::warn("transport: refused a snapshot stream from node {}: {}", from_, s.to_string());
    sink_.reset();
    Finish(to_grpc(s));
  }

  const Inbound& in_;
  grpc::CallbackServerContext* ctx_;
  raft::NodeId from_ = raft::kNoNode;
  raftpb::SnapshotChunk chunk_;
  raft::Message header_;
  std::unique_ptr<SnapshotSink> sink_;  // Set by the first chunk.
  std::uint64_t total_bytes_ = 0;
  std::uint64_t received_bytes_ = 0;  // Invariant: <= total_bytes_.
  Clock::time_point started_;
};

class RaftService final : public raftpb::Raft::CallbackService {
 public:
  explicit RaftService(const Inbound& in) : in_(in) {}

  grpc::ServerReadReactor<raftpb::SnapshotChunk>* SendSnapshot(grpc::CallbackServerContext* ctx,
                                                               raftpb::SnapshotResponse*) override {
    return new SnapshotReader(in_, ctx);
  }
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* ctx, const raftpb::JoinRequest* req,
                                 raftpb::JoinResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!in_.membership) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "join not served here"));
      return reactor;
    }
    resp->set_cluster_id(in_.cluster_id);
    resp->set_membership(in_.membership());
    if (in_.commit_index) resp->set_commit_index(in_.commit_index());
    spdlog::debug("transport: node {} asked for the membership; told it {}",
                  req->node_id().substr(0, 64), resp->membership());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const Inbound& in_;
};

// Answers a SendSnapshot from a stranger: refused before reading anything.
class RefusedSnapshotReader final : public grpc::ServerReadReactor<raftpb::SnapshotChunk> {
 public:
  explicit RefusedSnapshotReader(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
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

// ---------------------------------------------------------------------------
// Callbacks.

// Runs on_unreachable and on_snapshot_status on one thread, in order, so that
// neither send() (the raft thread) nor a sender thread ever runs them.
// Pending unreachable reports are coalesced per peer.
class Notifier {
 public:
  explicit Notifier(const TransportCallbacks& cb)
      : cb_(cb), thread_([this] {
          util::set_thread_name("transport-note");
          run();
        }) {}
  ~Notifier() {
    {
      util::MutexLock lk(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void unreachable(raft::NodeId id) {
    {
      util::MutexLock lk(mu_);
      if (!unreachable_pending_.insert(id).second) return;  // Already pending.
      events_.push_back({id, false, false});
    }
    cv_.notify_one();
  }

  void snapshot_status(raft::NodeId id, bool ok) {
    {
      util::MutexLock lk(mu_);
      events_.push_back({id, true, ok});
    }
    cv_.notify_one();
  }

 private:
  struct Event {
    raft::NodeId id;
    bool snapshot;  // false: unreachable.
    bool ok;
  };

  void run() {
    util::MutexLock lk(mu_);
    while (true) {
      while (!stopping_ && events_.empty()) cv_.wait(mu_);
      if (stopping_) return;
      const Event e = events_.front();
      events_.pop_front();
      if (!e.snapshot) unreachable_pending_.erase(e.id);
      lk.unlock();
      if (e.snapshot && cb_.on_snapshot_status) cb_.on_snapshot_status(e.id, e.ok);
      if (!e.snapshot && cb_.on_unreachable) cb_.on_unreachable(e.id);
      lk.lock();
    }
  }

  const TransportCallbacks& cb_;
  util::Mutex mu_;
  util::CondVar cv_;
  std::deque<Event> events_ DKV_GUARDED_BY(mu_);
  std::set<raft::NodeId> unreachable_pending_ DKV_GUARDED_BY(mu_);
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::thread thread_;  // Last: starts after the fields above exist.
};

// ---------------------------------------------------------------------------
// Outbound.

// Peers' gRPC credentials: with peer TLS, the member's certificate and key
// and the peer CA, watched for replacement by gRPC; the server's
// certificate is verified against the peer CA (not its host name). One per
// set of files in the process: each has a file watcher.
std::shared_ptr<grpc::ChannelCredentials> peer_credentials(const tls::PeerTlsFiles& f) {
  if (!f.on()) return grpc::InsecureChannelCredentials();
  static util::Mutex mu;
  static std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>> made;
  util::MutexLock lk(mu);
  auto& creds = made[f.cert_file + "\n" + f.key_file + "\n" + f.trusted_ca_file];
  if (creds) return creds;
  namespace ex = grpc::experimental;
  ex::TlsChannelCredentialsOptions o;
  o.set_certificate_provider(std::make_shared<ex::FileWatcherCertificateProvider>(
      f.key_file, f.cert_file, f.trusted_ca_file, tls::kPeerFilesRecheckSeconds));
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_verify_server_certs(true);
  o.set_check_call_host(false);
  o.set_certificate_verifier(std::make_shared<ex::NoOpCertificateVerifier>());
  creds = ex::TlsCredentials(o);
  return creds;
}

// With peer TLS, the server name that selects the member's peer side.
void set_peer_channel_args(const tls::PeerTlsFiles& f, grpc::ChannelArguments* args) {
  if (f.on()) args->SetSslTargetNameOverride(std::string(tls::kPeerServerName));
}

std::shared_ptr<grpc::Channel> make_channel(const std::string& address, const TransportOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kWireMessageBytesMax);
  args.SetMaxReceiveMessageSize(1 << 20);  // Responses are empty.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, o.keepalive_time_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, o.keepalive_timeout_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Keep pinging however long we send no data.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gRPC's own reconnect backoff (default up to 120 s) must not outlast ours;
  // the minimum is also the connect timeout.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, o.backoff_initial_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, o.backoff_max_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, o.backoff_max_ms);
  // A connection of our own per channel: the message and snapshot channels
  // of a peer, and transports of other nodes in one test process, never share.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  set_peer_channel_args(o.peer_tls, &args);
  return grpc::CreateCustomChannel(address, peer_credentials(o.peer_tls), args);
}

// One peer: its queue, the sender thread running the message stream and the
// snapshot thread. stop() is quick; the destructor joins.
class Peer {
 public:
  Peer(const TransportOptions& o, const StreamOptions& stream_options,
       const SnapshotSourceFactory& source, Notifier& notifier, raft::NodeId id,
       std::string address)
      : o_(o),
        stream_options_(stream_options),
        source_(source),
        notifier_(notifier),
        id_(id),
        name_(peer_label(o, id)),
        address_(std::move(address)),
        snap_stub_(raftpb::Raft::NewStub(make_channel(address_, o_))),
        rng_(std::random_device{}()) {
    sender_ = std::thread([this] {
      util::set_thread_name(("send-" + name_).c_str());
      run_sender();
    });
    snapshotter_ = std::thread([this] {
      util::set_thread_name(("snap-" + name_).c_str());
      run_snapshots();
    });
  }

  ~Peer() {
    stop();
    sender_.join();
    snapshotter_.join();
  }

  const std::string& address() const { return address_; }

  // Signals both threads to end and breaks their connections; does not wait.
  void stop() {
    {
      util::MutexLock lk(mu_);
      stopping_ = true;
      if (stream_ != nullptr) stream_->interrupt();
      if (snap_ctx_ != nullptr) snap_ctx_->TryCancel();
    }
    cv_.notify_all();
    snap_cv_.notify_all();
  }

  // From send(): `msgs` (to this peer, in order). While the stream is up,
  // nothing is queued and no write is in progress, writes the first of them
  // (up to batch_bytes_max) as one frame right here with one non-blocking
  // send, sparing the hand-off to the sender thread; what the socket does
  // not take now is left for the sender to write first. The rest are
  // enqueue()d. Never waits for the network. True if the sender has news
  // (call wake() once done).
  bool deliver(std::vector<raft::Message>& msgs) {
    std::size_t direct = 0;  // msgs[0, direct) go out directly.
    bool news = false;
    if (write_mu_.try_lock()) {  // Only tried: a write in progress means "enqueue".
      StreamWriter* stream = nullptr;
      {
        util::MutexLock lk(mu_);
        if (!stopping_ && writable_ != nullptr && queue_.empty() && tail_.empty() &&
            direct_error_.is_ok()) {
          stream = writable_;
          direct = direct_prefix(msgs);
        }
      }
      if (direct > 0) news = write_direct(stream, msgs, direct);
      write_mu_.unlock();
    }
    for (std::size_t i = direct; i < msgs.size(); ++i) news |= enqueue(std::move(msgs[i]));
    return news;
  }

  // How many of `msgs`, from the first, fit one direct frame.
  std::size_t direct_prefix(const std::vector<raft::Message>& msgs) const {
    std::size_t direct = 0;
    std::uint64_t bytes = 0;
    for (const raft::Message& m : msgs) {
      if (m.type == raft::MessageType::kSnap) break;
      const std::uint64_t size = message_size_bytes(m);
      if (!fits_wire(size) || (direct > 0 && bytes + size > o_.batch_bytes_max)) break;
      bytes += size;
      ++direct;
    }
    return direct;
  }

  // From send(): queues `m` or drops it. Never waits for the network. True
  // if the sender has news (call wake() once done enqueueing).
  bool enqueue(raft::Message&& m) {
    if (m.type == raft::MessageType::kSnap) {
      enqueue_snapshot(std::move(m));
      return false;
    }
    const std::uint64_t size = message_size_bytes(m);
    {
      util::MutexLock lk(mu_);
      if (stopping_) return false;
      if (!down_ && queue_.size() < o_.queue_msgs_max &&
          queued_bytes_ + size <= o_.queue_bytes_max && fits_wire(size)) {
        queue_.push_back(std::move(m));
        queued_bytes_ += size;
        return true;
      }
      ++stats_.dropped_msgs;
    }
    notifier_.unreachable(id_);
    return false;
  }

  // Wakes the sender for what enqueue() queued.
  void wake() { cv_.notify_one(); }

  PeerStats stats() const {
    util::MutexLock lk(mu_);
    PeerStats s = stats_;
    s.queued_msgs = queue_.size();
    s.queued_bytes = queued_bytes_;
    return s;
  }

 private:
  static bool fits_wire(std::uint64_t size) {
    return size + kWireHeadroomBytes <= static_cast<std::uint64_t>(kWireMessageBytesMax);
  }

  // Encodes `msgs` as one sealed frame into *framed (kFrameHeaderBytes, then
  // the MessageBatch). `batch` is scratch space.
  void encode_frame(std::vector<raft::Message>::iterator first,
                    std::vector<raft::Message>::iterator last, raftpb::MessageBatch* batch,
                    std::string* framed) const {
    batch->Clear();
    fill_header(batch->mutable_header());
    batch->mutable_messages()->Reserve(static_cast<int>(last - first));
    for (auto it = first; it != last; ++it) encode(std::move(*it), batch->add_messages());
    const std::size_t body = batch->ByteSizeLong();
    framed->resize(StreamWriter::kFrameHeaderBytes + body);
    batch->SerializeWithCachedSizesToArray(
        reinterpret_cast<std::uint8_t*>(framed->data() + StreamWriter::kFrameHeaderBytes));
    StreamWriter::seal_frame(framed);
  }

  // deliver()'s write of msgs[0, n) to `stream`, holding write_mu_. True if
  // the sender has news: a rest to write, or a broken stream to end.
  bool write_direct(StreamWriter* stream, std::vector<raft::Message>& msgs, std::size_t n)
      DKV_REQUIRES(write_mu_) {
    encode_frame(msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(n), &direct_batch_,
                 &direct_framed_);
    std::size_t written = 0;
    const util::Status s = stream->try_write(direct_framed_, &written);
    util::MutexLock lk(mu_);
    if (!s.is_ok()) {
      stats_.dropped_msgs += n;
      direct_error_ = s;  // The sender ends the stream and reports the peer.
      return true;
    }
    stats_.direct_msgs += n;
    if (written == direct_framed_.size()) {
      stats_.sent_msgs += n;
      return false;
    }
    tail_.assign(direct_framed_, written);  // Still under write_mu_: nothing got in between.
    tail_msgs_ = n;
    ++stats_.direct_rests;
    return true;
  }

  void enqueue_snapshot(raft::Message&& m) {
    DKV_ASSERT(m.snapshot.has_value());
    bool busy = false;
    {
      util::MutexLock lk(mu_);
      if (stopping_) return;
      busy = snap_pending_.has_value() || snap_busy_;
      if (!busy) snap_pending_ = std::move(m);
    }
    if (busy) {  // The core sends one at a time; a second one fails on its own.
      spdlog::warn("transport: dropped a snapshot for node {}: another one is in flight", name_);
      notifier_.snapshot_status(id_, false);
      return;
    }
    snap_cv_.notify_one();
  }

  // Publishes `ctx` as the call stop() cancels; false if stopping already.
  bool register_ctx(grpc::ClientContext** slot, grpc::ClientContext* ctx) {
    util::MutexLock lk(mu_);
    if (stopping_) return false;
    *slot = ctx;
    return true;
  }

  void unregister_ctx(grpc::ClientContext** slot) {
    util::MutexLock lk(mu_);
    *slot = nullptr;
  }

  void add_metadata(grpc::ClientContext* ctx) const {
    ctx->AddMetadata(kMetaClusterId, std::to_string(o_.cluster_id));
    ctx->AddMetadata(kMetaFrom, std::to_string(o_.local_id));
    ctx->set_wait_for_ready(false);  // Fail fast while the peer is down.
  }

  void fill_header(raftpb::Header* h) const {
    h->set_cluster_id(o_.cluster_id);
    h->set_from(o_.local_id);
    h->set_to(id_);
  }

  // The delay before the `failures`-th reconnect (failures >= 1).
  std::chrono::milliseconds backoff(int failures) {
    const int shift = std::min(failures - 1, 20);
    const std::int64_t d =
        std::min<std::int64_t>(std::int64_t{o_.backoff_initial_ms} << shift, o_.backoff_max_ms);
    std::uniform_int_distribution<std::int64_t> jitter(d / 2, d);
    return std::chrono::milliseconds(jitter(rng_));
  }

  void run_sender() {
    int failures = 0;  // Consecutive attempts that ended without a stream.
    while (true) {
      if (failures > 0) {
        util::MutexLock lk(mu_);
        const auto until = Clock::now() + backoff(failures);
        while (!stopping_ && cv_.wait_until(mu_, until)) {
        }
        if (stopping_) return;
      }
      const bool accepted = run_stream(failures);
      failures = accepted ? 1 : failures + 1;
      util::MutexLock lk(mu_);
      if (stopping_) return;
    }
  }

  // One message stream, from connect to break. Returns whether the peer
  // accepted it. While it is down, send() drops instead of queueing.
  bool run_stream(int failures) {
    StreamWriter stream(stream_options_);
    {
      util::MutexLock lk(mu_);
      if (stopping_) return false;
      stream_ = &stream;
    }
    raft::NodeId answered_by = raft::kNoNode;
    util::Status status = stream.open(address_, id_, connect_timeout(), &answered_by);
    const bool accepted = status.is_ok();
    if (accepted) {
      {
        util::MutexLock lk(mu_);
        down_ = false;
        stats_.connected = true;
        ++stats_.connects;
      }
      spdlog::info("transport: connected to node {} at {}", name_, address_);
      status = write_batches(&stream);
    }
    {
      // A direct write in progress finishes first; a rest of a frame is
      // lost with the stream (a new one starts at a frame boundary).
      util::MutexLock write_lk(write_mu_);
      util::MutexLock lk(mu_);
      stream_ = nullptr;
      writable_ = nullptr;
      stats_.dropped_msgs += tail_msgs_;
      tail_.clear();
      tail_msgs_ = 0;
      if (status.is_ok() && !direct_error_.is_ok()) status = direct_error_;
      direct_error_ = util::Status::ok();
    }
    go_down(accepted, failures, status);
    return accepted;
  }

  // Connecting and the peer's answer: as long as gRPC's connect timeout was
  // (its minimum reconnect backoff), and never below keepalive's verdict.
  std::chrono::milliseconds connect_timeout() const {
    return std::chrono::milliseconds(
        std::max(o_.backoff_max_ms, o_.keepalive_time_ms + o_.keepalive_timeout_ms));
  }

  // Writes what send() left (the rest of a direct write, then batches of
  // queued messages) until the stream breaks or stop().
  util::Status write_batches(StreamWriter* stream) {
    {
      util::MutexLock lk(mu_);
      writable_ = stream;  // send() may write directly from now on.
    }
    std::vector<raft::Message> taken;
    raftpb::MessageBatch batch;
    std::string framed;
    std::string tail;
    auto next_check = Clock::now() + kIdleCheck;
    while (true) {
      taken.clear();
      tail.clear();
      std::size_t tail_msgs = 0;
      {
        util::MutexLock lk(mu_);
        // While idle, look at the connection every kIdleCheck: read the
        // peer's beats, ping it, notice a dead link. Direct writes do not
        // do that: they leave it to this.
        while (!wait_for_work(kIdleCheck)) {
          lk.unlock();
          util::Status s;
          {
            util::MutexLock write_lk(write_mu_);
            s = stream->check_alive();
          }
          lk.lock();
          if (!s.is_ok()) return s;
        }
        if (stopping_) return util::Status::ok();
      }
      util::MutexLock write_lk(write_mu_);  // Before mu_ (deliver() only tries it).
      {
        util::MutexLock lk(mu_);
        if (stopping_) return util::Status::ok();
        if (!direct_error_.is_ok()) return direct_error_;
        tail.swap(tail_);
        tail_msgs = std::exchange(tail_msgs_, 0);
        std::uint64_t bytes = 0;
        while (!queue_.empty() && (taken.empty() || bytes < o_.batch_bytes_max)) {
          const std::uint64_t size = message_size_bytes(queue_.front());
          if (!taken.empty() && bytes + size > o_.batch_bytes_max) break;
          bytes += size;
          queued_bytes_ -= size;
          taken.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      util::Status s = tail.empty() ? util::Status::ok() : stream->write_rest(tail);
      if (s.is_ok() && !taken.empty()) {
        encode_frame(taken.begin(), taken.end(), &batch, &framed);
        s = stream->write_frame(&framed);
      }
      // Busy streams never idle: look at the peer's beats now and then.
      if (s.is_ok() && Clock::now() >= next_check) {
        s = stream->check_alive();
        next_check = Clock::now() + kIdleCheck;
      }
      util::MutexLock lk(mu_);
      if (!s.is_ok()) {
        stats_.dropped_msgs += tail_msgs + taken.size();
        return s;
      }
      stats_.sent_msgs += tail_msgs + taken.size();
    }
  }

  bool has_work() const DKV_REQUIRES(mu_) {
    return !queue_.empty() || !tail_.empty() || !direct_error_.is_ok();
  }

  // Waits up to `timeout` for stopping_ or has_work(); false if neither.
  bool wait_for_work(std::chrono::milliseconds timeout) DKV_REQUIRES(mu_) {
    const auto until = Clock::now() + timeout;
    while (!stopping_ && !has_work()) {
      if (!cv_.wait_until(mu_, until)) break;
    }
    return stopping_ || has_work();
  }

  // The stream ended: drop what is queued (stale by the time the peer is
  // back; Raft retransmits) and report the peer unreachable.
  void go_down(bool was_accepted, int failures, const util::Status& status) {
    {
      util::MutexLock lk(mu_);
      if (stopping_) return;
      down_ = true;
      stats_.connected = false;
      stats_.dropped_msgs += queue_.size();
      queue_.clear();
      queued_bytes_ = 0;
    }
    // One line per outage: the loss (or the first failed attempt at start);
    // the retries that follow are debug.
    if (was_accepted) {
      spdlog::warn(
          "transport: lost the stream to node {} at {}: {}; reconnecting (backoff <= {} ms)", name_,
          address_, status.to_string(), o_.backoff_max_ms);
    } else if (failures == 0) {
      spdlog::warn("transport: cannot reach node {} at {}: {}; retrying (backoff <= {} ms)", name_,
                   address_, status.to_string(), o_.backoff_max_ms);
    } else {
      spdlog::debug("transport: attempt {} to reach node {} at {} failed: {}", failures + 1, name_,
                    address_, status.to_string());
    }
    notifier_.unreachable(id_);
  }

  void run_snapshots() {
    while (true) {
      raft::Message m;
      {
        util::MutexLock lk(mu_);
        while (!stopping_ && !snap_pending_.has_value()) snap_cv_.wait(mu_);
        if (stopping_) return;
        m = std::move(*snap_pending_);
        snap_pending_.reset();
        snap_busy_ = true;
      }
      const bool ok = send_snapshot(std::move(m));
      {
        util::MutexLock lk(mu_);
        snap_busy_ = false;
        if (stopping_) return;
        ++(ok ? stats_.snapshots_sent : stats_.snapshots_failed);
      }
      notifier_.snapshot_status(id_, ok);
    }
  }

  // Streams one kSnap: the message without data first, then the data from
  // its source in chunks of snapshot_chunk_bytes (one chunk in memory at a
  // time). True iff the receiver answered OK.
  bool send_snapshot(raft::Message m) {
    DKV_ASSERT(m.snapshot.has_value());  // enqueue_snapshot checked it.
    const raft::Index index = m.snapshot->metadata.index;
    const auto started = Clock::now();
    std::unique_ptr<SnapshotSource> source;
    if (source_) {
      if (const util::Status s = source_(m, &source); !s.is_ok()) {
        spdlog::warn("transport: cannot open snapshot at index {} for node {}: {}", index, name_,
                     s.to_string());
        return false;
      }
    } else {
      source = std::make_unique<MemorySnapshotSource>(std::move(m.snapshot->data));
    }
    m.snapshot->data.clear();
    const std::uint64_t total = source->total_bytes();
    grpc::ClientContext ctx;
    add_metadata(&ctx);
    if (!register_ctx(&snap_ctx_, &ctx)) return false;
    raftpb::SnapshotResponse response;
    auto writer = snap_stub_->SendSnapshot(&ctx, &response);
    raftpb::SnapshotChunk chunk;
    std::uint64_t offset = 0;
    bool ok = true;
    util::Status read_status;
    std::string data;
    do {
      chunk.Clear();
      fill_header(chunk.mutable_header());
      if (offset == 0) {
        encode(std::move(m), chunk.mutable_message());
        chunk.set_total_bytes(total);
      }
      read_status = source->read(o_.snapshot_chunk_bytes, &data);
      if (!read_status.is_ok() || (data.empty() && offset < total) ||
          data.size() > total - offset) {
        ok = false;  // Cancelled below: the receiver must not take a partial snapshot.
        break;
      }
      chunk.set_offset(offset);
      chunk.set_data(std::move(data));
      ok = writer->Write(chunk);
      offset += chunk.data().size();
    } while (ok && offset < total);
    if (!read_status.is_ok() || offset < total) ctx.TryCancel();
    if (ok) ok = writer->WritesDone();
    const grpc::Status status = writer->Finish();
    unregister_ctx(&snap_ctx_);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    if (ok && status.ok()) {
      spdlog::info("transport: sent snapshot at index {} ({} bytes) to node {} in {} ms", index,
                   total, name_, ms);
      return true;
    }
    spdlog::warn("transport: snapshot at index {} to node {} failed after {} ms: {}", index, name_,
                 ms, read_status.is_ok() ? describe(status) : read_status.to_string());
    return false;
  }

  const TransportOptions& o_;
  const StreamOptions& stream_options_;  // Transport::Impl's; outlive peers.
  const SnapshotSourceFactory& source_;
  Notifier& notifier_;
  const raft::NodeId id_;
  const std::string name_;  // For logs.
  const std::string address_;
  const std::unique_ptr<raftpb::Raft::Stub> snap_stub_;  // Snapshots' own channel.
  std::mt19937_64 rng_;                                  // Sender thread only.

  mutable util::Mutex mu_;
  util::CondVar cv_;       // Queue or stopping_ changed (the sender waits).
  util::CondVar snap_cv_;  // Snapshot slot or stopping_ changed.
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  // The last stream attempt failed: send() drops until a stream is accepted.
  bool down_ DKV_GUARDED_BY(mu_) = false;
  std::deque<raft::Message> queue_ DKV_GUARDED_BY(mu_);
  std::uint64_t queued_bytes_ DKV_GUARDED_BY(mu_) = 0;  // Sum of message_size_bytes(queue_).
  std::optional<raft::Message> snap_pending_ DKV_GUARDED_BY(mu_);
  bool snap_busy_ DKV_GUARDED_BY(mu_) = false;          // The snapshot thread is sending one.
  StreamWriter* stream_ DKV_GUARDED_BY(mu_) = nullptr;  // Borrowed while live.
  // Held by whoever writes to the stream: the sender thread, or send()
  // directly (deliver() only try_locks it, under mu_). Order: write_mu_
  // before mu_.
  util::Mutex write_mu_;
  // The accepted stream, while send() may write to it (under write_mu_).
  StreamWriter* writable_ DKV_GUARDED_BY(mu_) = nullptr;
  // The rest of a frame a direct write began: the sender writes it first.
  std::string tail_ DKV_GUARDED_BY(mu_);
  std::size_t tail_msgs_ DKV_GUARDED_BY(mu_) = 0;  // Messages in that frame.
  // A direct write broke the stream: the sender ends it.
  util::Status direct_error_ DKV_GUARDED_BY(mu_);
  raftpb::MessageBatch direct_batch_ DKV_GUARDED_BY(write_mu_);  // Scratch of write_direct().
  std::string direct_framed_ DKV_GUARDED_BY(write_mu_);
  grpc::ClientContext* snap_ctx_ DKV_GUARDED_BY(mu_) = nullptr;  // Borrowed while live.
  PeerStats stats_ DKV_GUARDED_BY(mu_);
  std::thread sender_;
  std::thread snapshotter_;
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
}

Transport::~Transport() {
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

std::shared_ptr<grpc::Channel> make_peer_channel(const std::string& address,
                                                 const tls::PeerTlsFiles& tls) {
  grpc::ChannelArguments args;
  set_peer_channel_args(tls, &args);
  return grpc::CreateCustomChannel(address, peer_credentials(tls), args);
}

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
