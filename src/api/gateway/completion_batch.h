// Completion batches: how a handler's answer travels from the thread that
// calls `done` to the connection's I/O thread. Outside a util::ReplyBatch
// each completion is posted at once, as before. Inside one (the applier's
// loop over a batch of applied writes, the read path's over served reads),
// the completions are gathered per io_context and each io_context gets one
// posted handler that runs them all, when the outermost batch closes: one
// allocation, one lock of the CallTracker and at most one wake-up of an I/O
// thread per batch, instead of one per request (the raft thread answered 64
// puts with 64 posts, each waking an I/O thread through epoll_ctl).
//
// Threading: the gathered list is per thread; flushing happens on the thread
// that opened the batch, before it closes. Lifetime: as a plain post, each
// group is posted only while its CallTracker is open (server_state.h): a
// Gateway stopped between the deferral and the flush drops the completions,
// which then run nowhere (their sessions are gone too).
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>

#include "api/gateway/server_state.h"

namespace dkv::api::gateway {

// Runs `fn` on `executor`'s io_context (posted) if `calls` is open: now, or
// with the other completions of the open util::ReplyBatch when it closes.
void post_completion(const std::shared_ptr<CallTracker>& calls,
                     const boost::asio::io_context::executor_type& executor,
                     std::function<void()> fn);

}  // namespace dkv::api::gateway
