// ReadyDriver: carries out one raft::Ready, in the order of the contract in
// raft/raw_node.h (DESIGN.md, "Rules of the loop"):
//   0. a Ready that only commits is applied first (apply_before_persist);
//   1. send Ready::messages (a leader's appends and heartbeats may leave
//      before its own fsync, thesis §10.2.1);
//   2. persist: a leader's snapshot (hook), then hard state and entries in
//      the WAL with one write and, when Ready::must_sync, one fdatasync;
//      then mirror them in the raft MemoryStorage;
//   3. send Ready::messages_after_persist (votes and acks vouch for disk);
//   4. apply committed entries (hook).
// The caller then handles read states and calls RawNode::advance().
// A persist_async Ready (a leader's, raw_node.h) instead: 1, then its hard
// state and entries go to the WalWriter, then 4; land() later mirrors the
// batches the writer made durable in the raft storage and reports them
// (hook). A Ready that is not waits for the writer (drain()) first.
// It owns the order and the WAL / raft-storage writes, nothing else: no
// clock, no thread, no waiters, so a test (and later the node simulator)
// drives it with any Ready it builds.
//
// Threading: not thread-safe; the raft thread only. The hooks run on it.
// Lifetime: `log`, `storage` and `writer` must outlive the driver.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "node/wal_writer.h"
#include "raft/raw_node.h"
#include "raft/storage.h"
#include "util/status.h"
#include "wal/log.h"

namespace dkv::node {

class ReadyDriver {
 public:
  struct Hooks {
    // Sends messages to peers; must not block. Unset: one node, no peers.
    std::function<void(std::vector<raft::Message>)> send;
    // Installs a leader's snapshot (raft snapshot metadata; the file is on
    // disk already): WAL marker, raft storage, store. Before the Ready's
    // entries are persisted.
    std::function<void(const raft::Snapshot&)> install_snapshot;
    // Applies committed entries in order (the Applier, through the Node).
    std::function<void(const std::vector<raft::Entry>&)> apply;
    // RawNode::report_persisted. Needed with a writer.
    std::function<void(raft::Index, raft::Term)> report_persisted;
  };

  // `writer` may be null: no Ready is then persist_async.
  ReadyDriver(wal::Log& log, raft::MemoryStorage& storage, WalWriter* writer, Hooks hooks)
      : log_(log), storage_(storage), writer_(writer), hooks_(std::move(hooks)) {}
  ReadyDriver(const ReadyDriver&) = delete;
  ReadyDriver& operator=(const ReadyDriver&) = delete;

  // Steps 0-4 for `rd` (its messages are moved out). A non-OK status is a
  // WAL or raft-storage failure, and *failed says which ("WAL fsync
  // failed"): the caller stops the process (fsyncgate: never retry).
  util::Status handle(raft::Ready& rd, const char** failed);

  // True for a Ready that only commits (no entries, no snapshot, no
  // configuration change): its committed entries were made durable by
  // earlier Readies, so they are applied, and their clients answered, before
  // its messages go out and its hard state is written; those (the new commit
  // index for the followers) vouch for nothing the apply needs, and on
  // loopback each send runs the receiver's TCP path in this thread.
  static bool apply_before_persist(const raft::Ready& rd);

  // The batches the writer made durable since the last call: into the raft
  // storage, then reported. Errors as handle()'s.
  util::Status land(const char** failed);
  // Waits for the writer to finish every batch, then land(), and writes a
  // hard state still held back (unsynced); after it, and until the next
  // persist_async Ready, the WAL is the caller's to use.
  util::Status drain(const char** failed);

 private:
  void handle_async(raft::Ready& rd);
  // Moves rd.entries into the storage (nothing reads them after).
  util::Status persist(raft::Ready& rd, const char** failed);
  void send(std::vector<raft::Message>& messages);

  wal::Log& log_;
  raft::MemoryStorage& storage_;
  WalWriter* const writer_;
  const Hooks hooks_;
  // A persist_async Ready's hard state not yet handed to the writer: one
  // that only moved the commit index rides with the next batch.
  std::optional<raft::HardState> unwritten_hard_state_;
};

}  // namespace dkv::node
