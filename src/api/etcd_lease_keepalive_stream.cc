#include "api/etcd_lease_keepalive_stream.h"

#include <grpcpp/alarm.h>

#include <deque>
#include <memory>
#include <optional>

#include "api/grpc_dispatch.h"
#include "util/happens_before.h"
#include "util/mutex.h"
#include "util/thread_annotations.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRetryEvery{100};
constexpr std::chrono::milliseconds kAttemptMax{1000};

class KeepAliveStream final
    : public grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse> {
 public:
  KeepAliveStream(const Method* renew, const CallContext& ctx, std::chrono::milliseconds retry_for)
      : renew_(renew), ctx_(ctx), retry_for_(retry_for) {
    pb::LeaseKeepAliveRequest* read = nullptr;
    {
      util::MutexLock lock(mu_);
      read_pending_ = true;
      read = next_read_buffer();
    }
    StartRead(read);
    util::happens_before(this);  // The hand-off to the reactions (util/happens_before.h).
  }

  void OnReadDone(bool ok) override {
    util::happens_after(this);
    Renewal* r = nullptr;
    {
      util::MutexLock lock(mu_);
      read_pending_ = false;
      if (!ok) {
        read_closed_ = true;  // The client is done (or gone).
      } else {
        r = reading_.get();
        r->retry_until = Clock::now() + retry_for_;
        queue_.push_back(std::move(reading_));
        ++renewing_;
      }
    }
    if (r != nullptr) attempt(r);  // Without mu_: the handler may answer inline.
    advance();
  }

  void OnWriteDone(bool ok) override {
    util::happens_after(this);
    {
      util::MutexLock lock(mu_);
      write_pending_ = false;
      queue_.pop_front();
      if (!ok && !failed_) {
        failed_ = grpc::Status(grpc::StatusCode::CANCELLED, "keepalive stream closed");
      }
    }
    advance();
  }

  void OnDone() override {
    util::happens_after(this);
    { util::MutexLock lock(mu_); }  // After every reaction and renewal, for TSan.
    delete this;
  }

 private:
  // A renewal's fields are written under mu_, except `response`, which
  // the handler owns from attempt() until it answers (on_renewed).
  struct Renewal {
    pb::LeaseKeepAliveRequest request;
    pb::LeaseKeepAliveResponse response;
    Clock::time_point retry_until;
    std::optional<util::Status> result;  // Set once renewed or given up.
    grpc::Alarm alarm;                   // The next try after a retriable failure.
  };

  // What advance() found to do, done after mu_ is released: gRPC
  // operations are never started under it.
  struct Next {
    const pb::LeaseKeepAliveResponse* write = nullptr;
    pb::LeaseKeepAliveRequest* read = nullptr;
    std::optional<grpc::Status> finish;
  };

  // The buffer of the next read (one read at a time).
  pb::LeaseKeepAliveRequest* next_read_buffer() DKV_REQUIRES(mu_) {
    reading_ = std::make_unique<Renewal>();
    return &reading_->request;
  }

  void attempt(Renewal* r) DKV_EXCLUDES(mu_) {
    CallContext c;
    {
      util::MutexLock lock(mu_);  // Orders this try after the last one's answer.
      c = ctx_;
      r->response.Clear();
      c.deadline =
          std::min(ctx_.deadline, ctx_.forwarded ? r->retry_until : Clock::now() + kAttemptMax);
    }
    renew_->handler(c, r->request, &r->response,
                    [this, r](util::Status s) { on_renewed(r, std::move(s)); });
  }

  void on_renewed(Renewal* r, util::Status s) DKV_EXCLUDES(mu_) {
    {
      util::MutexLock lock(mu_);
      const bool retriable =
          s.code() == util::Code::kUnavailable || s.code() == util::Code::kDeadlineExceeded;
      if (retriable && !ctx_.forwarded && !failed_ && Clock::now() < r->retry_until) {
        // Under mu_, so that the Renewal's destruction is ordered after it:
        // the alarm always runs its callback on gRPC's executor, never
        // inside Set (and gRPC stays initialised while an Alarm exists).
        r->alarm.Set(std::chrono::system_clock::now() + kRetryEvery, [this, r](bool) {
          util::happens_after(this);  // From gRPC's alarm thread.
          attempt(r);
        });
        return;
      }
      r->result = std::move(s);
      --renewing_;
    }
    advance();
  }

  // Starts what the state allows: the next answer's write, the next read,
  // or Finish.
  void advance() DKV_EXCLUDES(mu_) {
    Next next;
    {
      util::MutexLock lock(mu_);
      next = next_steps();
    }
    if (next.write != nullptr) StartWrite(next.write);
    if (next.read != nullptr) StartRead(next.read);
    if (next.finish) Finish(*next.finish);
  }

  Next next_steps() DKV_REQUIRES(mu_) {
    Next next;
    if (finished_) return next;
    if (!write_pending_ && !queue_.empty() && queue_.front()->result && !failed_) {
      if (queue_.front()->result->is_ok()) {
        write_pending_ = true;
        next.write = &queue_.front()->response;
      } else {
        failed_ = grpc_dispatch::to_grpc(*queue_.front()->result);
      }
    }
    if (!failed_ && !read_closed_ && !read_pending_ && queue_.size() < kRenewalsInFlightMax) {
      read_pending_ = true;
      next.read = next_read_buffer();
    }
    if ((failed_ || (read_closed_ && queue_.empty())) && renewing_ == 0 && !write_pending_) {
      finished_ = true;
      next.finish = failed_ ? *failed_ : grpc::Status::OK;
    }
    return next;
  }

  const Method* renew_;
  const CallContext ctx_;
  const std::chrono::milliseconds retry_for_;
  // Held by every reaction, renewal answer and retry (never across a read,
  // a write, Finish or a handler call): besides guarding the state, it is
  // how ThreadSanitizer sees the hand-offs between gRPC's threads, whose
  // own synchronisation it cannot see.
  util::Mutex mu_;
  std::unique_ptr<Renewal> reading_ DKV_GUARDED_BY(mu_);  // The buffer of the pending read.
  // Read, in order; the front is answered first.
  std::deque<std::unique_ptr<Renewal>> queue_ DKV_GUARDED_BY(mu_);
  int renewing_ DKV_GUARDED_BY(mu_) = 0;  // Renewals in the handler or waiting to retry.
  bool read_pending_ DKV_GUARDED_BY(mu_) = false;
  bool write_pending_ DKV_GUARDED_BY(mu_) = false;
  bool read_closed_ DKV_GUARDED_BY(mu_) = false;
  bool finished_ DKV_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> failed_ DKV_GUARDED_BY(mu_);  // The stream ends with this.
};

}  // namespace

grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>*
new_keep_alive_stream(const Method* renew, const CallContext& ctx,
                      std::chrono::milliseconds retry_for) {
  return new KeepAliveStream(renew, ctx, retry_for);
}

}  // namespace dkv::api
