#include "api/grpc_async_unary.h"

#include <pthread.h>

#include <mutex>
#include <thread>

namespace dkv::api::grpc_async {

std::shared_ptr<Queues> Queues::add_to(grpc::ServerBuilder& builder, int count) {
  std::shared_ptr<Queues> queues(new Queues());
  queues->self_ = queues;
  for (int i = 0; i < count; ++i) queues->queues_.push_back(builder.AddCompletionQueue());
  return queues;
}

Queues::~Queues() {
  // Threads ran: their queues are drained. Else (the server did not start)
  // nothing was requested.
  shut_down_queues();
  void* tag = nullptr;
  bool ok = false;
  for (auto& queue : queues_) {
    while (queue->Next(&tag, &ok)) {
    }
  }
}

void Queues::start(const std::function<void(grpc::ServerCompletionQueue*)>& request_all) {
  for (auto& queue : queues_) {
    request_all(queue.get());
    // Each thread keeps the queues alive until its queue is drained.
    std::thread poller([self = self_.lock(), queue = queue.get()] {
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) static_cast<Tag*>(tag)->proceed(ok);
    });
    pthread_setname_np(poller.native_handle(), "grpc-unary");
    poller.detach();
  }
}

void Queues::stop() {
  {
    std::unique_lock lock(mu_);
    stopped_ = true;
  }
  stopping_.store(true);
  if (live_.load() == 0) shut_down_queues();
}

void Queues::call_deleted() {
  if (live_.fetch_sub(1) == 1 && stopping_.load()) shut_down_queues();
}

void Queues::shut_down_queues() {
  if (queues_shut_down_.exchange(true)) return;
  for (auto& queue : queues_) queue->Shutdown();
}

}  // namespace dkv::api::grpc_async
