// Snapshotter: log compaction (Raft §7) and the installation of a leader's
// snapshot, for one node. "Snapshot" names four things in dkv; apart:
//   - raft snapshot metadata (raft::Snapshot): index, term and configuration;
//     its data stays empty, the core never holds an image;
//   - the store image (kv::Store::dump / restore, "DKVSNAP1"): the state
//     machine at one applied index, streamed, never whole in memory;
//   - the snapshot file (wal/snapshot_file.h, DKV_DB_PATH/snap/<index>-<term>
//     .snap): a store image framed and checksummed, with the membership;
//     what compaction writes, what the transport streams to a follower and
//     what recovery restores from; the WAL's snapshot marker names it;
//   - a backup (restore.h): a store image plus CRC32C that `dkvctl snapshot
//     save` writes; not this class's. etcd's Maintenance.Snapshot stream
//     (api/etcd_grpc_services.h) is the same image in etcd's framing (a
//     SHA-256 trailer), the file `etcdctl snapshot save` writes: a backup too.
// It owns when to take a snapshot (every `entries` applied entries or
// `bytes` applied bytes), the background thread that writes the snapshot
// file, and the WAL / raft storage compaction that follows; and restoring
// the store from a leader's snapshot file.
//
// Threading: the raft thread calls every method. The background thread
// reads the store through a read view pinned on the raft thread, writes the
// file, and hands the outcome back through `post` (which must queue it for
// the raft thread's finish()); at most one runs at a time. With a
// Background (background.h) there is no thread: the job goes to it.
// Lifetime: `fs`, `store`, `log`, `storage` and `background` must outlive
// the Snapshotter; its destructor joins the background thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "kv/store.h"
#include "node/background.h"
#include "node/membership.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::raft {
class MemoryStorage;
}  // namespace dkv::raft
namespace dkv::wal {
class FileSystem;
class Log;
}  // namespace dkv::wal

namespace dkv::node {

struct SnapshotPolicy {
  std::uint64_t entries = 100'000;        // DKV_SNAPSHOT_ENTRIES.
  std::uint64_t bytes = 64 << 20;         // DKV_SNAPSHOT_BYTES.
  std::uint64_t catchup_entries = 5'000;  // Log kept behind a snapshot.
};

// The outcome of a background snapshot, for finish().
struct SnapshotDone {
  util::Status status;
  raft::Index index = 0;
  raft::Term term = 0;
  std::string membership;         // Encoded, as the image records it.
  std::uint64_t image_bytes = 0;  // The image is in the file, not here.
};

class Snapshotter {
 public:
  using PostFn = std::function<void(SnapshotDone)>;

  Snapshotter(wal::FileSystem& fs, std::string db_path, SnapshotPolicy policy, kv::Store& store,
              wal::Log& log, raft::MemoryStorage& storage, PostFn post,
              Background* background = nullptr);
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // After applying: starts a background snapshot at the applied index if
  // one is due and none is running. `applied_entry_bytes` is the Applier's
  // running total. A non-OK status is fatal (the caller stops).
  util::Status maybe_start(std::uint64_t applied_entry_bytes);
  // The background snapshot finished: records its marker in the WAL,
  // compacts the raft storage and the WAL behind it (keeping
  // catchup_entries), and removes older snapshot files. A failed snapshot
  // is returned (fatal: the disk is in an unknown state).
  util::Status finish(SnapshotDone done);
  // A leader's snapshot (Ready::snapshot, metadata only; the transport has
  // made its file durable and verified it, snapshot_transfer.h): records
  // the marker in the WAL, installs the metadata in the raft storage and
  // restores the store from the file. Sets *membership to the snapshot's.
  util::Status install(const raft::Snapshot& snapshot, std::uint64_t applied_entry_bytes,
                       Membership* membership);
  // Waits for the background thread, if any.
  void join();

  raft::Index last_index() const { return last_index_; }
  bool in_flight() const { return in_flight_; }

 private:
  wal::FileSystem& fs_;  // Of the snapshot files.
  const std::string db_path_;
  const SnapshotPolicy policy_;
  kv::Store& store_;
  wal::Log& log_;
  raft::MemoryStorage& storage_;
  const PostFn post_;
  // Invariant: last_index_ <= store_.applied_index().
  raft::Index last_index_ = 0;       // Of the latest snapshot file.
  std::uint64_t bytes_at_last_ = 0;  // applied_entry_bytes when it was due.
  bool in_flight_ = false;           // A background snapshot runs.
  std::thread thread_;               // Dumps the store, writes the file.
  Background* const background_;     // Null: thread_ does.
};

}  // namespace dkv::node
