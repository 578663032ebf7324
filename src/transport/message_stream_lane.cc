#include "transport/message_stream_lane.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <utility>

#include "transport/codec.h"
#include "util/thread_name.h"

namespace dkv::transport {
namespace {

using Clock = std::chrono::steady_clock;

// How often an idle sender checks that its connection is still up.
constexpr std::chrono::milliseconds kIdleCheck{100};

}  // namespace

MessageStreamLane::MessageStreamLane(const TransportOptions& o, const StreamOptions& stream_options,
                                     Notifier& notifier, DirectWrite& direct, raft::NodeId id,
                                     std::string name, std::string address)
    : o_(o),
      stream_options_(stream_options),
      notifier_(notifier),
      direct_(direct),
      id_(id),
      name_(std::move(name)),
      address_(std::move(address)),
      header_{o.cluster_id, o.local_id, id},
      backoff_(o.backoff_initial_ms, o.backoff_max_ms, std::random_device{}()) {
  thread_ = std::thread([this] {
    util::set_thread_name(("send-" + name_).c_str());
    run();
  });
}

MessageStreamLane::~MessageStreamLane() {
  stop();
  thread_.join();
}

void MessageStreamLane::stop() {
  {
    util::MutexLock lk(mu_);
    stopping_ = true;
    if (stream_ != nullptr) stream_->interrupt();
  }
  cv_.notify_all();
}

bool MessageStreamLane::enqueue(raft::Message&& m) {
  const std::uint64_t size = message_size_bytes(m);
  {
    util::MutexLock lk(mu_);
    if (stopping_) return false;
    if (!down_ && queue_.size() < o_.queue_msgs_max && queued_bytes_ + size <= o_.queue_bytes_max &&
        fits_wire(size)) {
      queue_.push_back(std::move(m));
      queued_bytes_ += size;
      return true;
    }
    ++counts_.dropped;
  }
  notifier_.unreachable(id_);
  return false;
}

void MessageStreamLane::wake() {
  {
    util::MutexLock lk(mu_);
    news_ = true;
  }
  cv_.notify_one();
}

bool MessageStreamLane::idle() const {
  util::MutexLock lk(mu_);
  return !stopping_ && queue_.empty();
}

MessageStreamLane::Counts MessageStreamLane::counts() const {
  util::MutexLock lk(mu_);
  Counts c = counts_;
  c.queued_msgs = queue_.size();
  c.queued_bytes = queued_bytes_;
  return c;
}

void MessageStreamLane::run() {
  int failures = 0;  // Consecutive attempts that ended without a stream.
  while (true) {
    if (failures > 0) {
      util::MutexLock lk(mu_);
      const auto until = Clock::now() + backoff_.delay(failures);
      while (!stopping_ && cv_.wait_until(mu_, until)) {
      }
      if (stopping_) return;
    }
    const bool accepted = run_stream(failures);
    failures = accepted ? 1 : failures + 1;
    util::MutexLock lk(mu_);
    if (stopping_) return;
  }
}

bool MessageStreamLane::run_stream(int failures) {
  StreamWriter stream(stream_options_);
  {
    util::MutexLock lk(mu_);
    if (stopping_) return false;
    stream_ = &stream;
  }
  raft::NodeId answered_by = raft::kNoNode;
  util::Status status = stream.open(address_, id_, connect_timeout(), &answered_by);
  const bool accepted = status.is_ok();
  if (accepted) {
    {
      util::MutexLock lk(mu_);
      down_ = false;
      counts_.connected = true;
      ++counts_.connects;
    }
    spdlog::info("transport: connected to node {} at {}", name_, address_);
    status = write_batches(&stream);
  }
  {
    // A direct write in progress finishes first; a rest of a frame is
    // lost with the stream (a new one starts at a frame boundary).
    util::MutexLock write_lk(direct_.write_lock());
    const util::Status direct_error = direct_.detach();
    if (status.is_ok()) status = direct_error;
    util::MutexLock lk(mu_);
    stream_ = nullptr;
  }
  go_down(accepted, failures, status);
  return accepted;
}

// Connecting and the peer's answer: as long as gRPC's connect timeout was
// (its minimum reconnect backoff), and never below keepalive's verdict.
std::chrono::milliseconds MessageStreamLane::connect_timeout() const {
  return std::chrono::milliseconds(
      std::max(o_.backoff_max_ms, o_.keepalive_time_ms + o_.keepalive_timeout_ms));
}

util::Status MessageStreamLane::write_batches(StreamWriter* stream) {
  {
    util::MutexLock write_lk(direct_.write_lock());
    direct_.attach(stream);  // send() may write directly from now on.
  }
  std::vector<raft::Message> taken;
  raftpb::MessageBatch batch;
  std::string framed;
  std::string rest;
  auto next_check = Clock::now() + kIdleCheck;
  while (true) {
    bool stopping = false;
    if (util::Status s = await_work(stream, &stopping); !s.is_ok() || stopping) return s;
    util::MutexLock write_lk(direct_.write_lock());  // Before mu_.
    std::size_t rest_msgs = 0;
    util::Status s = direct_.take_rest(&rest, &rest_msgs);
    if (!s.is_ok()) return s;
    taken.clear();
    {
      util::MutexLock lk(mu_);
      if (stopping_) return util::Status::ok();
      take_batch(&taken);
    }
    if (!rest.empty()) s = stream->write_rest(rest);
    if (s.is_ok() && !taken.empty()) {
      encode_frame(header_, taken.begin(), taken.end(), &batch, &framed);
      s = stream->write_frame(&framed);
    }
    // Busy streams never idle: look at the peer's beats now and then.
    if (s.is_ok() && Clock::now() >= next_check) {
      s = stream->check_alive();
      next_check = Clock::now() + kIdleCheck;
    }
    util::MutexLock lk(mu_);
    (s.is_ok() ? counts_.sent : counts_.dropped) += rest_msgs + taken.size();
    if (!s.is_ok()) return s;
  }
}

// While idle, reads the peer's beats, pings it, notices a dead link every
// kIdleCheck. Direct writes do not do that: they leave it to this.
util::Status MessageStreamLane::await_work(StreamWriter* stream, bool* stopping) {
  util::MutexLock lk(mu_);
  while (!wait_for_work(kIdleCheck)) {
    lk.unlock();
    util::Status s;
    {
      util::MutexLock write_lk(direct_.write_lock());
      s = stream->check_alive();
    }
    lk.lock();
    if (!s.is_ok()) return s;
  }
  *stopping = stopping_;
  news_ = false;  // take_rest() comes next, under the write lock.
  return util::Status::ok();
}

bool MessageStreamLane::wait_for_work(std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (!stopping_ && !has_work()) {
    if (!cv_.wait_until(mu_, until)) break;
  }
  return stopping_ || has_work();
}

void MessageStreamLane::take_batch(std::vector<raft::Message>* taken) {
  std::uint64_t bytes = 0;
  while (!queue_.empty() && (taken->empty() || bytes < o_.batch_bytes_max)) {
    const std::uint64_t size = message_size_bytes(queue_.front());
    if (!taken->empty() && bytes + size > o_.batch_bytes_max) break;
    bytes += size;
    queued_bytes_ -= size;
    taken->push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
}

void MessageStreamLane::go_down(bool was_accepted, int failures, const util::Status& status) {
  {
    util::MutexLock lk(mu_);
    if (stopping_) return;
    down_ = true;
    counts_.connected = false;
    counts_.dropped += queue_.size();
    queue_.clear();
    queued_bytes_ = 0;
  }
  // One line per outage: the loss (or the first failed attempt at start);
  // the retries that follow are debug.
  if (was_accepted) {
    spdlog::warn("transport: lost the stream to node {} at {}: {}; reconnecting (backoff <= {} ms)",
                 name_, address_, status.to_string(), o_.backoff_max_ms);
  } else if (failures == 0) {
    spdlog::warn("transport: cannot reach node {} at {}: {}; retrying (backoff <= {} ms)", name_,
                 address_, status.to_string(), o_.backoff_max_ms);
  } else {
    spdlog::debug("transport: attempt {} to reach node {} at {} failed: {}", failures + 1, name_,
                  address_, status.to_string());
  }
  notifier_.unreachable(id_);
}

}  // namespace dkv::transport
