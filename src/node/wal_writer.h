// WalWriter: the thread that persists a leader's persist_async Readies
// (raft/raw_node.h, "Asynchronous persistence"), so that the raft thread
// goes on (acks, commits, applies, new proposals) while the disk syncs.
// It writes the batches in the order submitted; the batches that queue up
// while it syncs go out together, with one write() and one fdatasync()
// (group commit). A batch is handed back, by take_done(), once durable:
// the raft thread then shows its entries in the raft storage and reports
// them to the core (ReadyDriver::land).
//
// Threading: submit(), drain() and take_done() on the raft thread; the
// writer thread calls the Log while anything is queued or being written, so
// the raft thread calls the Log itself only after drain().
// Errors: a failed write or fdatasync calls on_fatal (on the writer thread),
// which must stop the process (fsyncgate: never retry and continue).
// Lifetime: `log` must outlive the WalWriter; the destructor finishes what
// is queued, then joins the thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "raft/types.h"
#include "util/mutex.h"
#include "util/status.h"
#include "wal/log.h"

namespace dkv::node {

class WalWriter {
 public:
  // One Ready's share of the WAL.
  struct Batch {
    std::optional<raft::HardState> hard_state;
    std::vector<raft::Entry> entries;
    bool must_sync = false;  // Ready::must_sync: fdatasync before it counts as done.
  };
  // on_done: batches are ready for take_done() (wakes the raft thread).
  // on_fatal(what, status): the WAL failed; must not return.
  WalWriter(wal::Log& log, std::function<void()> on_done,
            std::function<void(const std::string&, const util::Status&)> on_fatal);
  ~WalWriter();
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

  void submit(Batch batch);
  // Waits until every batch submitted is durable (then in take_done()).
  void drain();
  // The batches made durable since the last call, in submission order.
  std::vector<Batch> take_done();

 private:
  void run();
  // Writes `group` (batches in order) with one save() and one fdatasync
  // if any batch asks for it; *failed names a failure.
  util::Status write(const std::vector<Batch>& group, const char** failed);
  util::Status save_together(const std::vector<Batch>& group);

  wal::Log& log_;
  const std::function<void()> on_done_;
  const std::function<void(const std::string&, const util::Status&)> on_fatal_;
  util::Mutex mu_;
  util::CondVar work_;  // Wakes the writer: batches queued, stopping.
  util::CondVar idle_;  // Wakes drain(): the queue emptied.
  std::vector<Batch> queued_ DKV_GUARDED_BY(mu_);
  std::vector<Batch> done_ DKV_GUARDED_BY(mu_);
  bool writing_ DKV_GUARDED_BY(mu_) = false;
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dkv::node
