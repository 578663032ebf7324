// The store's history as watchers see it: the versions and tombstones a
// committed batch wrote (every hist record, mvcc_format.h), handed to a
// listener after the LMDB commit (Store::set_history_listener), and the same
// records read back by revision (Store::read_history) to catch a watcher up.
// Every writer goes through mvcc::Writer::record, so every writer publishes:
// /v0 puts and deletes, etcd's Put, DeleteRange and Txn, lease revokes.
// Threading: plain values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dkv::kv {

// One hist record: a version of `key` (or its tombstone) at (main, sub).
struct HistoryEvent {
  std::int64_t main = 0;
  std::int64_t sub = 0;
  bool is_delete = false;
  std::string key;
  std::string value;  // Empty for a tombstone.
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;  // == main.
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

// What one commit changed. Invariant: events ascend by (main, sub) and
// every main is in (the previous commit's current_revision, current_revision].
struct CommittedHistory {
  std::vector<HistoryEvent> events;
  std::int64_t current_revision = 0;
  std::int64_t compact_revision = 0;
  // A snapshot replaced the whole store (Store::restore): `events` is empty
  // and the revisions may have jumped.
  bool restored = false;
};

// Called on the writer thread right after each commit that wrote history or
// moved a revision, and after a restore. Must not block.
using HistoryListener = std::function<void(CommittedHistory&& history)>;

}  // namespace dkv::kv
