#include "api/etcd_watch_service.h"

#include <grpcpp/grpcpp.h>

#include "api/etcd_errors.h"
#include "api/etcd_watch_sender.h"
#include "api/grpc_dispatch.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "util/happens_before.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

// One stream. Reads requests one at a time into its session; the session
// writes through it (one write in flight). Deletes itself in OnDone.
// Threading: gRPC runs the reactions one at a time, each on any of its
// threads, ordered by its own synchronisation, which ThreadSanitizer cannot
// see (libgrpc is not instrumented); the session's own mutex orders what
// it shares with the sender thread. OnReadDone holds mu_ (never contended)
// while the session reads the request, and OnDone takes it before the
// delete, so that TSan sees that hand-off too. The session may start a
// write from handle(), under mu_: gRPC never runs a reaction inside
// StartWrite (its write completion always goes through its executor), and
// start_write and finish, which the sender thread calls under the
// session's mutex, never take mu_ (the lock order is mu_, then the
// session's).
class WatchReactor final : public grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse>,
                           public WatchWriter {
 public:
  WatchReactor(std::shared_ptr<WatchSession> session) : session_(std::move(session)) {
    session_->attach(this);
    StartRead(&request_);
    util::happens_before(this);  // The hand-off to the reactions (util/happens_before.h).
  }

  void OnReadDone(bool ok) override {
    util::happens_after(this);
    if (!ok) {  // The client closed its side, or the stream broke.
      session_->end(util::Status::ok());
      return;
    }
    {
      util::MutexLock lock(mu_);
      session_->handle(request_);
    }
    StartRead(&request_);
  }
  void OnWriteDone(bool ok) override {
    util::happens_after(this);
    session_->write_done(ok);
  }
  void OnDone() override {
    util::happens_after(this);
    { util::MutexLock lock(mu_); }  // After the last OnReadDone, for TSan.
    session_->close();
    delete this;
  }

  void start_write(const pb::WatchResponse& response) override { StartWrite(&response); }
  void finish(const util::Status& status) override { Finish(grpc_dispatch::to_grpc(status)); }

 private:
  const std::shared_ptr<WatchSession> session_;
  util::Mutex mu_;
  pb::WatchRequest request_ DKV_GUARDED_BY(mu_);  // Written by gRPC between reads.
};

class Refusal final : public grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse> {
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

class EtcdWatchService final : public pb::Watch::CallbackService {
 public:
  EtcdWatchService(node::Node* node, const WatchOptions& options,
                   std::shared_ptr<WatchSender> sender)
      : node_(node), options_(options), sender_(std::move(sender)) {}

  grpc::ServerBidiReactor<pb::WatchRequest, pb::WatchResponse>* Watch(
      grpc::CallbackServerContext* ctx) override {
    const CallContext call = grpc_dispatch::context_of(ctx);
    if (call.require_leader && !node_->has_leader()) {
      return new Refusal(grpc_dispatch::to_grpc(etcd_no_leader()));
    }
    return new WatchReactor(
        std::make_shared<WatchSession>(*node_, *sender_, options_, call.require_leader));
  }

 private:
  node::Node* node_;
  const WatchOptions options_;
  std::shared_ptr<WatchSender> sender_;
};

}  // namespace

EtcdWatchServices etcd_watch_services(node::Node* node, const WatchOptions& options) {
  auto sender = std::make_shared<WatchSender>();
  EtcdWatchServices out;
  out.make = [node, options, sender] {
    std::vector<std::unique_ptr<grpc::Service>> services;
    services.push_back(std::make_unique<EtcdWatchService>(node, options, sender));
    return services;
  };
  std::weak_ptr<WatchSender> weak = sender;
  out.end_streams = [weak] {
    if (auto s = weak.lock()) s->end_all(util::unavailable(etcd_error::kStopped));
  };
  return out;
}

}  // namespace dkv::api
