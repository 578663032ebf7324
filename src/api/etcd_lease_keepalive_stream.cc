#include "api/etcd_lease_keepalive_stream.h"

#include <grpcpp/alarm.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>

#include "api/grpc_dispatch.h"

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
    read_pending_ = true;
    start_read();
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    read_pending_ = false;
    if (!ok) {
      read_closed_ = true;  // The client is done (or gone).
      return advance(lock);
    }
    Renewal* r = reading_.get();
    r->retry_until = Clock::now() + retry_for_;
    queue_.push_back(std::move(reading_));
    ++renewing_;
    lock.unlock();
    attempt(r);
    lock.lock();
    advance(lock);
  }

  void OnWriteDone(bool ok) override {
    std::unique_lock lock(mu_);
    write_pending_ = false;
    queue_.pop_front();
    if (!ok && !failed_) {
      failed_ = grpc::Status(grpc::StatusCode::CANCELLED, "keepalive stream closed");
    }
    advance(lock);
  }

  void OnDone() override { delete this; }

 private:
  struct Renewal {
    pb::LeaseKeepAliveRequest request;
    pb::LeaseKeepAliveResponse response;
    Clock::time_point retry_until;
    std::optional<util::Status> result;  // Set once renewed or given up.
    grpc::Alarm alarm;                   // The next try after a retriable failure.
  };

  // Only the read path touches reading_, and one read at a time.
  void start_read() {
    reading_ = std::make_unique<Renewal>();
    StartRead(&reading_->request);
  }

  void attempt(Renewal* r) {
    r->response.Clear();
    CallContext c = ctx_;
    c.deadline =
        std::min(ctx_.deadline, ctx_.forwarded ? r->retry_until : Clock::now() + kAttemptMax);
    renew_->handler(c, r->request, &r->response,
                    [this, r](util::Status s) { on_renewed(r, std::move(s)); });
  }

  void on_renewed(Renewal* r, util::Status s) {
    std::unique_lock lock(mu_);
    const bool retriable =
        s.code() == util::Code::kUnavailable || s.code() == util::Code::kDeadlineExceeded;
    if (retriable && !ctx_.forwarded && !failed_ && Clock::now() < r->retry_until) {
      lock.unlock();
      r->alarm.Set(std::chrono::system_clock::now() + kRetryEvery, [this, r](bool) { attempt(r); });
      return;
    }
    r->result = std::move(s);
    --renewing_;
    advance(lock);
  }

  // Starts what the state allows: the next answer's write, the next read,
  // or Finish. Called with mu_ held; releases it.
  void advance(std::unique_lock<std::mutex>& lock) {
    if (finished_) return;
    const pb::LeaseKeepAliveResponse* write = nullptr;
    if (!write_pending_ && !queue_.empty() && queue_.front()->result && !failed_) {
      if (queue_.front()->result->is_ok()) {
        write_pending_ = true;
        write = &queue_.front()->response;
      } else {
        failed_ = grpc_dispatch::to_grpc(*queue_.front()->result);
      }
    }
    const bool read =
        !failed_ && !read_closed_ && !read_pending_ && queue_.size() < kRenewalsInFlightMax;
    if (read) read_pending_ = true;
    std::optional<grpc::Status> finish;
    if ((failed_ || (read_closed_ && queue_.empty())) && renewing_ == 0 && !write_pending_) {
      finished_ = true;
      finish = failed_ ? *failed_ : grpc::Status::OK;
    }
    lock.unlock();
    if (write != nullptr) StartWrite(write);
    if (read) start_read();
    if (finish) Finish(*finish);
  }

  const Method* renew_;
  const CallContext ctx_;
  const std::chrono::milliseconds retry_for_;
  std::unique_ptr<Renewal> reading_;            // The buffer of the pending read.
  std::mutex mu_;                               // Guards everything below.
  std::deque<std::unique_ptr<Renewal>> queue_;  // Read, in order; the front is answered first.
  int renewing_ = 0;                            // Renewals in the handler or waiting to retry.
  bool read_pending_ = false, write_pending_ = false, read_closed_ = false, finished_ = false;
  std::optional<grpc::Status> failed_;  // The stream ends with this.
};

}  // namespace

grpc::ServerBidiReactor<pb::LeaseKeepAliveRequest, pb::LeaseKeepAliveResponse>*
new_keep_alive_stream(const Method* renew, const CallContext& ctx,
                      std::chrono::milliseconds retry_for) {
  return new KeepAliveStream(renew, ctx, retry_for);
}

}  // namespace dkv::api
