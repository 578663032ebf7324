// StoreFlusher: writes LMDB's dirty pages back off the raft thread.
//
// The node commits LMDB without fsync (kv/store.h, kDeferred: the WAL is the
// durable record) and fsyncs it every NodeOptions::store_sync_interval (30
// s), so that a machine crash rarely costs a rebuild of the store. That
// fsync ran on the raft thread and wrote every page dirtied since the last
// one: under 256 clients overwriting 100k keys, with a sync a second, tens
// of MiB that stalled every write behind them for up to ~100 ms, twice the
// p99 of the same load without it (docs/performance.md, session 9).
// Now the raft thread asks the flusher first: its thread writes the pages
// back (kv::Store::write_back), and only then does the raft thread's
// Store::sync() run, with little left to write, and clear the unsynced
// marker. Durability is unchanged: acknowledged writes are on disk in the
// WAL either way; this only decides when LMDB's copy is.
//
// Without a thread (NodeOptions::background, the node simulator) the raft
// thread's sync writes everything itself, as before: no timing enters the
// simulation.
//
// Threading: ready_to_sync() and take_error() on the raft thread only; the
// flusher's own thread runs write_back(). Lifetime: `store` must outlive
// the flusher; its destructor joins the thread.
#pragma once

#include <thread>

#include "kv/store.h"
#include "util/mutex.h"
#include "util/status.h"

namespace dkv::node {

class StoreFlusher {
 public:
  // `threaded` false: no thread; ready_to_sync() is always true.
  StoreFlusher(const kv::Store& store, bool threaded);
  ~StoreFlusher();
  StoreFlusher(const StoreFlusher&) = delete;
  StoreFlusher& operator=(const StoreFlusher&) = delete;

  // A sync is due. Starts a write-back if none is under way and returns
  // false; returns true once the write-back it started has finished (the
  // next call starts another).
  bool ready_to_sync();
  // The write-back's error, if it failed (the caller stops the node: an
  // fsync error is never retried, since a second fsync may report success
  // for pages the kernel dropped).
  util::Status take_error();

 private:
  void loop();
  util::Status write_back_until_small();

  const kv::Store& store_;
  util::Mutex mu_;
  util::CondVar cv_;
  bool requested_ DKV_GUARDED_BY(mu_) = false;  // The raft thread asked.
  bool finished_ DKV_GUARDED_BY(mu_) = false;   // The asked write-back is done.
  bool stopping_ DKV_GUARDED_BY(mu_) = false;
  util::Status error_ DKV_GUARDED_BY(mu_);
  bool in_flight_ = false;  // Raft thread: a write-back was asked for.
  std::thread thread_;
};

}  // namespace dkv::node
