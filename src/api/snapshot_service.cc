#include "api/snapshot_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <optional>

#include "dkv/v0/cluster.grpc.pb.h"
#include "util/crc32c.h"
#include "util/happens_before.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::api {
namespace {

// One Snapshot stream: reads the next chunk when the previous write is done,
// so at most one chunk is buffered; the last write carries the CRC and
// finishes the call. Deletes itself in OnDone.
// Threading: gRPC runs the reactions one at a time, each on any of its
// threads, ordered by its own synchronisation, which ThreadSanitizer cannot
// see (libgrpc is not instrumented). Each reaction holds mu_ (never
// contended) while it touches the stream's state, so that TSan sees those
// hand-offs too, and starts the write or Finish after releasing it.
class SnapshotReactor final : public grpc::ServerWriteReactor<v0::SnapshotResponse> {
 public:
  SnapshotReactor(std::unique_ptr<kv::Store::ImageReader> reader, std::atomic<int>* streams)
      : streams_(streams) {
    Next next;
    {
      util::MutexLock lock(mu_);
      reader_ = std::move(reader);
      next = next_chunk();
    }
    start(next);
    util::happens_before(this);  // The hand-off to the reactions (util/happens_before.h).
  }

  void OnWriteDone(bool ok) override {
    util::happens_after(this);
    Next next;
    {
      util::MutexLock lock(mu_);
      if (!ok) {  // Cancelled by the client, or the connection broke.
        spdlog::info("snapshot stream cancelled after {} of {} bytes", sent_bytes_,
                     reader_->size_bytes());
        next.failed = grpc::Status(grpc::StatusCode::CANCELLED, "snapshot stream cancelled");
      } else {
        next = next_chunk();
      }
    }
    start(next);
  }

  void OnDone() override {
    util::happens_after(this);
    {
      util::MutexLock lock(mu_);
      reader_.reset();  // Ends the read transaction before the count drops.
    }
    streams_->fetch_sub(1);
    delete this;
  }

 private:
  // What the next chunk asks of gRPC: built under mu_, started without it.
  struct Next {
    bool last = false;                   // Write response_ and finish the call.
    std::optional<grpc::Status> failed;  // Finish with this, writing nothing.
  };

  Next next_chunk() DKV_REQUIRES(mu_) {
    Next next;
    std::string chunk;
    bool done = false;
    if (auto s = reader_->next(&chunk, &done); !s.is_ok()) {
      spdlog::error("snapshot stream failed: {}", s.to_string());
      next.failed = grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
      return next;
    }
    crc_ = util::crc32c::extend(crc_, chunk.data(), chunk.size());
    sent_bytes_ += chunk.size();
    response_.Clear();
    if (first_) response_.set_applied_index(reader_->applied_index());
    first_ = false;
    response_.set_remaining_bytes(reader_->size_bytes() - sent_bytes_);
    response_.set_blob(std::move(chunk));
    if (done) {
      response_.set_crc32c(crc_);
      spdlog::info("snapshot stream of {} bytes at applied index {} sent", sent_bytes_,
                   reader_->applied_index());
      next.last = true;
    }
    return next;
  }

  // gRPC serializes response_ inside StartWrite, before it returns; the
  // next change to it waits for OnWriteDone.
  void start(const Next& next) DKV_EXCLUDES(mu_) {
    if (next.failed) {
      Finish(*next.failed);
    } else if (next.last) {
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
    } else {
      StartWrite(&response_);
    }
  }

  std::atomic<int>* const streams_;
  util::Mutex mu_;  // Held by each reaction (see the class comment).
  std::unique_ptr<kv::Store::ImageReader> reader_ DKV_GUARDED_BY(mu_);
  v0::SnapshotResponse response_ DKV_GUARDED_BY(mu_);  // Borrowed by gRPC until OnWriteDone.
  std::uint32_t crc_ DKV_GUARDED_BY(mu_) = 0;
  std::uint64_t sent_bytes_ DKV_GUARDED_BY(mu_) = 0;
  bool first_ DKV_GUARDED_BY(mu_) = true;
};

class SnapshotService final : public v0::Maintenance::CallbackService {
 public:
  SnapshotService(OpenSnapshot open, SnapshotServiceOptions options)
      : open_(std::move(open)), options_(options) {}

  grpc::ServerWriteReactor<v0::SnapshotResponse>* Snapshot(grpc::CallbackServerContext* ctx,
                                                           const v0::SnapshotRequest*) override {
    if (streams_.fetch_add(1) >= options_.streams_max) {
      streams_.fetch_sub(1);
      return refuse(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          "too many snapshots in progress (at most " + std::to_string(options_.streams_max) + ")"));
    }
    std::unique_ptr<kv::Store::ImageReader> reader;
    if (auto s = open_(options_.chunk_bytes, &reader); !s.is_ok()) {
      streams_.fetch_sub(1);
      return refuse(grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message()));
    }
    return new SnapshotReactor(std::move(reader), &streams_);
  }

 private:
  // A reactor that finishes at once with `status`.
  class Refusal final : public grpc::ServerWriteReactor<v0::SnapshotResponse> {
   public:
    explicit Refusal(const grpc::Status& status) {
      Finish(status);
      util::happens_before(this);
    }
    void OnDone() override {
      util::happens_after(this);
      delete this;
    }
  };
  static grpc::ServerWriteReactor<v0::SnapshotResponse>* refuse(const grpc::Status& status) {
    return new Refusal(status);
  }

  const OpenSnapshot open_;
  const SnapshotServiceOptions options_;
  std::atomic<int> streams_{0};
};

}  // namespace

std::unique_ptr<grpc::Service> make_snapshot_service(OpenSnapshot open,
                                                     SnapshotServiceOptions options) {
  return std::make_unique<SnapshotService>(std::move(open), options);
}

}  // namespace dkv::api
