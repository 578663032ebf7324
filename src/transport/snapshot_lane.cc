#include "transport/snapshot_lane.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "dkv/raftpb/raft.grpc.pb.h"
#include "transport/codec.h"
#include "transport/message_frame.h"
#include "transport/peer_channel.h"
#include "util/assert.h"
#include "util/thread_name.h"

namespace dkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

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

std::string describe(const grpc::Status& s) {
  return std::string(util::code_name(static_cast<util::Code>(s.error_code()))) + ": " +
         s.error_message();
}

// Writes the chunks of the kSnap `m` (its data empty) with the data of
// `source`: `m` and the total size in the first. *offset: the bytes
// written. False if a write failed or the source did not give the data as
// announced (*read_status non-OK if it failed; the caller cancels).
bool write_chunks(grpc::ClientWriter<raftpb::SnapshotChunk>& writer, const FrameHeader& header,
                  raft::Message m, SnapshotSource& source, std::uint64_t chunk_bytes,
                  std::uint64_t* offset, util::Status* read_status) {
  const std::uint64_t total = source.total_bytes();
  raftpb::SnapshotChunk chunk;
  std::string data;
  bool ok = true;
  do {
    chunk.Clear();
    fill_header(header, chunk.mutable_header());
    if (*offset == 0) {
      encode(std::move(m), chunk.mutable_message());
      chunk.set_total_bytes(total);
    }
    *read_status = source.read(chunk_bytes, &data);
    if (!read_status->is_ok() || (data.empty() && *offset < total) ||
        data.size() > total - *offset) {
      return false;  // The receiver must not take a partial snapshot.
    }
    chunk.set_offset(*offset);
    chunk.set_data(std::move(data));
    ok = writer.Write(chunk);
    *offset += chunk.data().size();
  } while (ok && *offset < total);
  return ok;
}

}  // namespace

SnapshotLane::SnapshotLane(const TransportOptions& o, const SnapshotSourceFactory& source,
                           Notifier& notifier, raft::NodeId id, std::string name,
                           std::shared_ptr<grpc::Channel> channel)
    : o_(o),
      source_(source),
      notifier_(notifier),
      id_(id),
      name_(std::move(name)),
      channel_(std::move(channel)) {
  thread_ = std::thread([this] {
    util::set_thread_name(("snap-" + name_).c_str());
    run();
  });
}

SnapshotLane::~SnapshotLane() {
  stop();
  thread_.join();
}

void SnapshotLane::stop() {
  {
    util::MutexLock lk(mu_);
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
  }
  cv_.notify_all();
}

void SnapshotLane::offer(raft::Message&& m) {
  DKV_ASSERT(m.snapshot.has_value());
  bool busy = false;
  {
    util::MutexLock lk(mu_);
    if (stopping_) return;
    busy = pending_.has_value() || busy_;
    if (!busy) pending_ = std::move(m);
  }
  if (busy) {
    spdlog::warn("transport: dropped a snapshot for node {}: another one is in flight", name_);
    notifier_.snapshot_status(id_, false);
    return;
  }
  cv_.notify_one();
}

SnapshotLane::Counts SnapshotLane::counts() const {
  util::MutexLock lk(mu_);
  return counts_;
}

void SnapshotLane::run() {
  while (true) {
    raft::Message m;
    {
      util::MutexLock lk(mu_);
      while (!stopping_ && !pending_.has_value()) cv_.wait(mu_);
      if (stopping_) return;
      m = std::move(*pending_);
      pending_.reset();
      busy_ = true;
    }
    const bool ok = send(std::move(m));
    {
      util::MutexLock lk(mu_);
      busy_ = false;
      if (stopping_) return;
      ++(ok ? counts_.sent : counts_.failed);
    }
    notifier_.snapshot_status(id_, ok);
  }
}

bool SnapshotLane::register_call(grpc::ClientContext* ctx) {
  util::MutexLock lk(mu_);
  if (stopping_) return false;
  call_ = ctx;
  return true;
}

void SnapshotLane::unregister_call() {
  util::MutexLock lk(mu_);
  call_ = nullptr;
}

// The message without data first, then the data from its source in chunks
// (one in memory at a time); a failed read or short data cancels the call.
bool SnapshotLane::send(raft::Message m) {
  DKV_ASSERT(m.snapshot.has_value());  // offer() checked it.
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
  ctx.AddMetadata(kMetaClusterId, std::to_string(o_.cluster_id));
  ctx.AddMetadata(kMetaFrom, std::to_string(o_.local_id));
  ctx.set_wait_for_ready(false);  // Fail fast while the peer is down.
  if (!register_call(&ctx)) return false;
  auto stub = raftpb::Raft::NewStub(channel_);
  raftpb::SnapshotResponse response;
  auto writer = stub->SendSnapshot(&ctx, &response);
  std::uint64_t offset = 0;
  util::Status read_status;
  bool ok = write_chunks(*writer, FrameHeader{o_.cluster_id, o_.local_id, id_}, std::move(m),
                         *source, o_.snapshot_chunk_bytes, &offset, &read_status);
  if (!read_status.is_ok() || offset < total) ctx.TryCancel();
  if (ok) ok = writer->WritesDone();
  const grpc::Status status = writer->Finish();
  unregister_call();
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

}  // namespace dkv::transport
