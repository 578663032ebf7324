#include "api/etcd_grpc_services.h"
#include "api/etcd_lease_keepalive_stream.h"
#include "api/grpc_dispatch.h"

#include <grpcpp/grpcpp.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <optional>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "util/assert.h"
#include "util/happens_before.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

constexpr std::size_t kSnapshotChunkBytes = 256u << 10;
constexpr int kSnapshotStreamsMax = 2;  // Each pins an LMDB read transaction.

using grpc_dispatch::context_of;
using grpc_dispatch::dispatch;
using grpc_dispatch::must_find;

#define DKV_ETCD_UNARY(Name, member)                                                             \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* ctx, const pb::Name##Request* req, \
                                 pb::Name##Response* resp) override {                            \
    return dispatch(member, ctx, req, resp);                                                     \
  }

class EtcdKvService final : public pb::KV::CallbackService {
 public:
  explicit EtcdKvService(const MethodRegistry& r)
      : range_(must_find(r, "etcdserverpb.KV/Range")),
        put_(must_find(r, "etcdserverpb.KV/Put")),
        delete_range_(must_find(r, "etcdserverpb.KV/DeleteRange")),
        txn_(must_find(r, "etcdserverpb.KV/Txn")),
        compact_(must_find(r, "etcdserverpb.KV/Compact")) {}

  DKV_ETCD_UNARY(Range, range_)
  DKV_ETCD_UNARY(Put, put_)
  DKV_ETCD_UNARY(DeleteRange, delete_range_)
  DKV_ETCD_UNARY(Txn, txn_)

  // Its request type is not named after the method.
  grpc::ServerUnaryReactor* Compact(grpc::CallbackServerContext* ctx,
                                    const pb::CompactionRequest* req,
                                    pb::CompactionResponse* resp) override {
    return dispatch(compact_, ctx, req, resp);
  }

 private:
  const Method* range_;
  const Method* put_;
  const Method* delete_range_;
  const Method* txn_;
  const Method* compact_;
};

class EtcdClusterService final : public pb::Cluster::CallbackService {
 public:
  explicit EtcdClusterService(const MethodRegistry& r)
      : add_(must_find(r, "etcdserverpb.Cluster/MemberAdd")),
        remove_(must_find(r, "etcdserverpb.Cluster/MemberRemove")),
        update_(must_find(r, "etcdserverpb.Cluster/MemberUpdate")),
        list_(must_find(r, "etcdserverpb.Cluster/MemberList")),
        promote_(must_find(r, "etcdserverpb.Cluster/MemberPromote")) {}

  DKV_ETCD_UNARY(MemberAdd, add_)
  DKV_ETCD_UNARY(MemberRemove, remove_)
  DKV_ETCD_UNARY(MemberUpdate, update_)
  DKV_ETCD_UNARY(MemberList, list_)
  DKV_ETCD_UNARY(MemberPromote, promote_)

 private:
  const Method* add_;
  const Method* remove_;
  const Method* update_;
  const Method* list_;
  const Method* promote_;
};

// Zeros up to the next multiple of 512 bytes, counting the image's length
// (8 bytes, little-endian) that ends them: etcdctl refuses a file whose size
// is not 512 * n + 32 ("sha256 checksum not found").
std::string backup_padding(std::uint64_t image_bytes) {
  const std::size_t zeros = (512 - (image_bytes + 8) % 512) % 512;
  std::string out(zeros, '\0');
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((image_bytes >> (8 * i)) & 0xff));
  return out;
}

// One Snapshot stream: the image in chunks, then the padding, the image's
// length and the SHA-256 of all that as the last blob. Reads the next chunk when the previous write
// is done (one chunk in memory). Deletes itself in OnDone.
// Threading: gRPC runs the reactions one at a time, each on any of its
// threads, ordered by its own synchronisation, which ThreadSanitizer cannot
// see (libgrpc is not instrumented). Each reaction holds mu_ (never
// contended) while it touches the stream's state, so that TSan sees those
// hand-offs too, and starts the write or Finish after releasing it.
class EtcdSnapshotReactor final : public grpc::ServerWriteReactor<pb::SnapshotResponse> {
 public:
  EtcdSnapshotReactor(std::unique_ptr<kv::Store::ImageReader> reader, std::atomic<int>* streams)
      : streams_(streams) {
    Next next;
    {
      util::MutexLock lock(mu_);
      reader_ = std::move(reader);
      sha_ = EVP_MD_CTX_new();
      DKV_ASSERT(sha_ != nullptr);
      DKV_ASSERT(EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr) == 1);
      next = next_chunk();
    }
    start(next);
    util::happens_before(this);  // The hand-off to the reactions (util/happens_before.h).
  }
  ~EtcdSnapshotReactor() override { EVP_MD_CTX_free(sha_); }  // After OnDone's lock.

  void OnWriteDone(bool ok) override {
    util::happens_after(this);
    Next next;
    {
      util::MutexLock lock(mu_);
      if (finished_) return;  // The last write carried the Finish.
      if (!ok) {              // Cancelled by the client, or the connection broke.
        finished_ = true;
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
    response_.Clear();
    if (image_done_) {  // The tail: padding, the image's length, the SHA-256.
      std::string tail = backup_padding(sent_bytes_);
      DKV_ASSERT(EVP_DigestUpdate(sha_, tail.data(), tail.size()) == 1);
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      DKV_ASSERT(EVP_DigestFinal_ex(sha_, digest, &length) == 1);
      DKV_ASSERT(length == 32);
      tail.append(reinterpret_cast<const char*>(digest), length);
      DKV_ASSERT((sent_bytes_ + tail.size()) % 512 == 32);
      response_.set_blob(std::move(tail));
      finished_ = true;
      spdlog::info("etcd snapshot stream of {} bytes (+32 of SHA-256) at applied index {} sent",
                   sent_bytes_, reader_->applied_index());
      next.last = true;
      return next;
    }
    std::string chunk;
    if (auto s = reader_->next(&chunk, &image_done_); !s.is_ok()) {
      spdlog::error("etcd snapshot stream failed: {}", s.to_string());
      finished_ = true;
      next.failed = grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
      return next;
    }
    DKV_ASSERT(EVP_DigestUpdate(sha_, chunk.data(), chunk.size()) == 1);
    sent_bytes_ += chunk.size();
    response_.set_remaining_bytes(reader_->size_bytes() - sent_bytes_);
    response_.set_blob(std::move(chunk));
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
  EVP_MD_CTX* sha_ DKV_GUARDED_BY(mu_) = nullptr;
  pb::SnapshotResponse response_ DKV_GUARDED_BY(mu_);  // Borrowed by gRPC until OnWriteDone.
  std::uint64_t sent_bytes_ DKV_GUARDED_BY(mu_) = 0;
  bool image_done_ DKV_GUARDED_BY(mu_) = false;
  bool finished_ DKV_GUARDED_BY(mu_) = false;
};

class Refusal final : public grpc::ServerWriteReactor<pb::SnapshotResponse> {
 public:
  explicit Refusal(const grpc::Status& status) {
    Finish(status);
    util::happens_before(this);  // The hand-off to OnDone (util/happens_before.h).
  }
  void OnDone() override {
    util::happens_after(this);
    delete this;
  }
};

class EtcdMaintenanceService final : public pb::Maintenance::CallbackService {
 public:
  EtcdMaintenanceService(const MethodRegistry& r, OpenSnapshot open)
      : status_(must_find(r, "etcdserverpb.Maintenance/Status")),
        alarm_(must_find(r, "etcdserverpb.Maintenance/Alarm")),
        move_leader_(must_find(r, "etcdserverpb.Maintenance/MoveLeader")),
        defragment_(must_find(r, "etcdserverpb.Maintenance/Defragment")),
        hash_kv_(must_find(r, "etcdserverpb.Maintenance/HashKV")),
        open_(std::move(open)) {}

  DKV_ETCD_UNARY(Status, status_)
  DKV_ETCD_UNARY(Alarm, alarm_)
  DKV_ETCD_UNARY(MoveLeader, move_leader_)
  DKV_ETCD_UNARY(Defragment, defragment_)
  DKV_ETCD_UNARY(HashKV, hash_kv_)

  grpc::ServerWriteReactor<pb::SnapshotResponse>* Snapshot(grpc::CallbackServerContext*,
                                                           const pb::SnapshotRequest*) override {
    if (!open_) return new Refusal(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no snapshots"));
    if (streams_.fetch_add(1) >= kSnapshotStreamsMax) {
      streams_.fetch_sub(1);
      return new Refusal(
          grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "etcdserver: too many requests"));
    }
    std::unique_ptr<kv::Store::ImageReader> reader;
    if (auto s = open_(kSnapshotChunkBytes, &reader); !s.is_ok()) {
      streams_.fetch_sub(1);
      return new Refusal(grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message()));
    }
    return new EtcdSnapshotReactor(std::move(reader), &streams_);
  }

 private:
  const Method* status_;
  const Method* alarm_;
  const Method* move_leader_;
  const Method* defragment_;
  const Method* hash_kv_;
  const OpenSnapshot open_;
  std::atomic<int> streams_{0};
};

class EtcdLeaseService final : public pb::Lease::CallbackService {
 public:
  EtcdLeaseService(const MethodRegistry& r, std::chrono::milliseconds retry_for)
      : grant_(must_find(r, "etcdserverpb.Lease/LeaseGrant")),
        revoke_(must_find(r, "etcdserverpb.Lease/LeaseRevoke")),
        keep_alive_(must_find(r, "etcdserverpb.Lease/LeaseKeepAlive")),
        time_to_live_(must_find(r, "etcdserverpb.Lease/LeaseTimeToLive")),
        leases_(must_find(r, "etcdserverpb.Lease/LeaseLeases")),
        retry_for_(retry_for) {}

  DKV_ETCD_UNARY(LeaseGrant, grant_)
  DKV_ETCD_UNARY(LeaseRevoke, revoke_)
  DKV_ETCD_UNARY(LeaseTimeToLive, time_to_live_)
  DKV_ETCD_UNARY(LeaseLeases, leases_)

  grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>* LeaseKeepAlive(
      grpc::CallbackServerContext* ctx) override {
    return new_keep_alive_stream(keep_alive_, context_of(ctx), retry_for_);
  }

 private:
  const Method* grant_;
  const Method* revoke_;
  const Method* keep_alive_;
  const Method* time_to_live_;
  const Method* leases_;
  const std::chrono::milliseconds retry_for_;
};

#undef DKV_ETCD_UNARY

}  // namespace

std::vector<std::unique_ptr<grpc::Service>> make_etcd_grpc_services(const MethodRegistry& registry,
                                                                    OpenSnapshot open) {
  std::vector<std::unique_ptr<grpc::Service>> services;
  if (registry.find("etcdserverpb.KV/Range") != nullptr) {
    services.push_back(std::make_unique<EtcdKvService>(registry));
  }
  if (registry.find("etcdserverpb.Cluster/MemberList") != nullptr) {
    services.push_back(std::make_unique<EtcdClusterService>(registry));
  }
  if (registry.find("etcdserverpb.Lease/LeaseGrant") != nullptr) {
    // Renewals retry for etcd's default request timeout (5 s) of a stream.
    services.push_back(std::make_unique<EtcdLeaseService>(registry, std::chrono::seconds(5)));
  }
  if (registry.find("etcdserverpb.Maintenance/Status") != nullptr) {
    services.push_back(std::make_unique<EtcdMaintenanceService>(registry, std::move(open)));
  }
  return services;
}

}  // namespace dkv::api
