#include "api/gateway/completion_batch.h"

#include <boost/asio/post.hpp>

#include <utility>
#include <vector>

#include "util/reply_batch.h"

namespace dkv::api::gateway {
namespace {

using Executor = boost::asio::io_context::executor_type;

// The completions of one io_context (and its Gateway's CallTracker).
struct Group {
  std::shared_ptr<CallTracker> calls;
  Executor executor;
  std::vector<std::function<void()>> fns;
};

std::vector<Group>& pending() {
  thread_local std::vector<Group> groups;
  return groups;
}

void post_group(Group& g) {
  g.calls->run_if_open([&] {
    if (g.fns.size() == 1) {
      boost::asio::post(g.executor, std::move(g.fns.front()));
      return;
    }
    boost::asio::post(g.executor, [fns = std::move(g.fns)]() {
      for (const auto& fn : fns) fn();
    });
  });
}

// At the end of the outermost ReplyBatch: one post per io_context.
void flush_pending() {
  std::vector<Group> groups;
  groups.swap(pending());
  for (Group& g : groups) post_group(g);
}

}  // namespace

void post_completion(const std::shared_ptr<CallTracker>& calls, const Executor& executor,
                     std::function<void()> fn) {
  if (!util::ReplyBatch::defer_to_end(&flush_pending)) {
    calls->run_if_open([&] { boost::asio::post(executor, std::move(fn)); });
    return;
  }
  // Few io_contexts (one per I/O thread, of one or two Gateways): a scan.
  for (Group& g : pending()) {
    if (g.executor == executor && g.calls == calls) {
      g.fns.push_back(std::move(fn));
      return;
    }
  }
  pending().push_back(Group{calls, executor, {}});
  pending().back().fns.push_back(std::move(fn));
}

}  // namespace dkv::api::gateway
