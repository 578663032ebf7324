// dkv's hot unary RPCs (dkv.v0.KV Put and Get, etcdserverpb.KV Range, Put
// and Txn) on gRPC's completion-queue API instead of the callback API: a
// few completion queues, one polling thread each, that read a call, run its
// MethodRegistry handler and send the answers given inline, where the
// callback server hands every call between its threads and runs one more
// operation per call (docs/performance.md, "the ceiling per API style").
// The other methods of the same services stay on the callback API
// (grpc::Service::WithAsyncMethod_X over WithCallbackMethod_Y).
//
// Answers given later on a node thread go through the reply queue as the
// callback API's do (grpc_reply_queue.h). A cancelled call (deadline, the
// client gone) is answered as before: the handler runs on, its answer's
// Finish completes with ok = false and the call is deleted.
//
// Internal to dkv_grpc_server (it includes gRPC).
// Threading: a call's handler runs on its queue's thread; its answer may
// come from any thread. Lifetime: stop() after the server's Shutdown and
// before destroying the server; the queues and their threads live on until
// the last call handed to a handler is answered (node::Node::stop answers
// what it holds), then end by themselves.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "api/grpc_dispatch.h"
#include "api/method_registry.h"

namespace dkv::api::grpc_async {

// Calls requested ahead per method and queue (an arriving call that finds
// none waits in gRPC's queue until the next request).
inline constexpr int kRequestsAhead = 8;

// One completion-queue event's handler.
class Tag {
 public:
  virtual void proceed(bool ok) = 0;

 protected:
  ~Tag() = default;
};

// The completion queues of one server and their polling threads.
class Queues {
 public:
  // Adds `count` completion queues to `builder`, before it builds the server.
  static std::shared_ptr<Queues> add_to(grpc::ServerBuilder& builder, int count);
  ~Queues();

  // After the server started: `request_all(queue)` requests the first calls
  // of every async method on `queue` (kRequestsAhead each); then one thread
  // per queue polls it.
  void start(const std::function<void(grpc::ServerCompletionQueue*)>& request_all);

  // After the server's Shutdown: no call is requested any more; the queues
  // shut down once every call is gone (at once if none is live).
  void stop();

  // Runs `request` (which makes a new call) unless stopped; the server is
  // alive meanwhile (stop() waits).
  template <typename F>
  void request_next(F&& request) {
    std::shared_lock lock(mu_);
    if (!stopped_) request();
  }

  void call_created() { live_.fetch_add(1); }
  void call_deleted();

 private:
  Queues() = default;
  void shut_down_queues();

  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::shared_mutex mu_;
  bool stopped_ = false;  // Guarded by mu_.
  std::atomic<bool> stopping_{false};
  std::atomic<bool> queues_shut_down_{false};
  std::atomic<long> live_{0};  // Calls that exist: requested or in a handler's hands.
  std::weak_ptr<Queues> self_;
};

template <typename Service, typename Req, typename Resp>
using RequestFn = void (Service::*)(grpc::ServerContext*, Req*,
                                    grpc::ServerAsyncResponseWriter<Resp>*, grpc::CompletionQueue*,
                                    grpc::ServerCompletionQueue*, void*);

// One unary call of `method`: requested; on arrival the next one is
// requested and the handler runs; deleted when its answer is sent (or the
// request failed: the server shut down).
template <typename Service, typename Req, typename Resp>
class UnaryCall final : public Tag {
 public:
  static void request(Queues* queues, Service* service, RequestFn<Service, Req, Resp> fn,
                      const Method* method, grpc::ServerCompletionQueue* queue) {
    new UnaryCall(queues, service, fn, method, queue);
  }

  void proceed(bool ok) override {
    if (answering_ || !ok) {
      delete this;
      return;
    }
    queues_->request_next([this] { request(queues_, service_, fn_, method_, queue_); });
    answering_ = true;
    grpc_dispatch::InlineScope inline_answers;
    method_->handler(grpc_dispatch::context_of(&ctx_), req_, &resp_, [this](util::Status s) {
      grpc_dispatch::finish(this, &UnaryCall::send, grpc_dispatch::to_grpc(s));
    });
  }

 private:
  UnaryCall(Queues* queues, Service* service, RequestFn<Service, Req, Resp> fn,
            const Method* method, grpc::ServerCompletionQueue* queue)
      : queues_(queues),
        service_(service),
        fn_(fn),
        method_(method),
        queue_(queue),
        responder_(&ctx_) {
    queues_->call_created();
    (service_->*fn_)(&ctx_, &req_, &responder_, queue_, queue_, this);
  }
  ~UnaryCall() { queues_->call_deleted(); }

  static void send(void* call, grpc::Status status) {
    auto* c = static_cast<UnaryCall*>(call);
    c->responder_.Finish(c->resp_, status, c);  // Its completion deletes c.
  }

  Queues* const queues_;
  Service* const service_;
  const RequestFn<Service, Req, Resp> fn_;
  const Method* const method_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext ctx_;
  Req req_;
  Resp resp_;
  grpc::ServerAsyncResponseWriter<Resp> responder_;
  bool answering_ = false;
};

// Requests kRequestsAhead calls of `method` on `queue`.
// `Base` is the generated class that declares the Request method.
template <typename Base, typename Req, typename Resp>
void request_calls(Queues* queues, std::type_identity_t<Base>* service,
                   RequestFn<Base, Req, Resp> fn, const Method* method,
                   grpc::ServerCompletionQueue* queue) {
  for (int i = 0; i < kRequestsAhead; ++i) {
    UnaryCall<Base, Req, Resp>::request(queues, service, fn, method, queue);
  }
}

}  // namespace dkv::api::grpc_async
