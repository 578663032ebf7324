#include "node/wal_writer.h"

#include <chrono>
#include <span>

#include "node/node_metrics.h"
#include "util/assert.h"
#include "util/thread_name.h"

namespace dkv::node {

WalWriter::WalWriter(wal::Log& log, std::function<void()> on_done,
                     std::function<void(const std::string&, const util::Status&)> on_fatal)
    : log_(log), on_done_(std::move(on_done)), on_fatal_(std::move(on_fatal)) {
  thread_ = std::thread([this] {
    util::set_thread_name("wal");
    run();
  });
}

WalWriter::~WalWriter() {
  {
    util::MutexLock lock(mu_);
    stopping_ = true;
  }
  work_.notify_one();
  thread_.join();
}

void WalWriter::submit(Batch batch) {
  {
    util::MutexLock lock(mu_);
    queued_.push_back(std::move(batch));
  }
  work_.notify_one();
}

void WalWriter::drain() {
  util::MutexLock lock(mu_);
  while (!queued_.empty() || writing_) idle_.wait(mu_);
}

std::vector<WalWriter::Batch> WalWriter::take_done() {
  util::MutexLock lock(mu_);
  std::vector<Batch> done;
  done.swap(done_);
  return done;
}

void WalWriter::run() {
  for (;;) {
    std::vector<Batch> group;
    {
      util::MutexLock lock(mu_);
      while (queued_.empty() && !stopping_) work_.wait(mu_);
      if (queued_.empty()) return;  // Stopping, and everything is written.
      group.swap(queued_);
      writing_ = true;
    }
    const char* failed = "";
    if (auto s = write(group, &failed); !s.is_ok()) on_fatal_(failed, s);
    {
      util::MutexLock lock(mu_);
      for (auto& b : group) done_.push_back(std::move(b));
      writing_ = false;
    }
    idle_.notify_all();
    on_done_();
  }
}

util::Status WalWriter::write(const std::vector<Batch>& group, const char** failed) {
  bool must_sync = false;
  for (const Batch& b : group) must_sync = must_sync || b.must_sync;
  *failed = "WAL write failed";
  if (group.size() == 1) {
    const Batch& b = group.front();
    if (auto s = log_.save(b.hard_state ? &*b.hard_state : nullptr, b.entries); !s.is_ok()) {
      return s;
    }
  } else if (auto s = save_together(group); !s.is_ok()) {
    return s;
  }
  if (!must_sync) return util::Status::ok();
  const auto sync_start = std::chrono::steady_clock::now();
  *failed = "WAL fsync failed";
  if (auto s = log_.sync(); !s.is_ok()) return s;
  node_metrics().wal_fsync.observe(seconds_since(sync_start));
  return util::Status::ok();
}

// The entries of consecutive batches are contiguous (only a leader queues
// batches, and it only appends in its term; any other Ready drains the
// writer first), so they go out as one record with the last hard state.
util::Status WalWriter::save_together(const std::vector<Batch>& group) {
  std::vector<raft::Entry> entries;
  const raft::HardState* hard_state = nullptr;
  for (const Batch& b : group) {
    DKV_ASSERT(entries.empty() || b.entries.empty() ||
               b.entries.front().index == entries.back().index + 1);
    entries.insert(entries.end(), b.entries.begin(), b.entries.end());
    if (b.hard_state) hard_state = &*b.hard_state;
  }
  return log_.save(hard_state, entries);
}

}  // namespace dkv::node
