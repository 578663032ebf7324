// wal::Log owns the write-ahead log of one node: the segment files in
// DKV_DB_PATH/wal/ (format.h is their spec), the LOCK file that keeps a
// second process out of DKV_DB_PATH, and the metadata (format version,
// cluster id, node id) stored in every segment header. It persists what a
// raft Ready hands out (hard state and entries) and snapshot markers, and
// deletes segments that a snapshot made unnecessary. It keeps no entries in
// memory: the node keeps the log in its raft storage and reads this back
// only once, from open(). It knows no Raft rule beyond what entries and hard
// state are (indexes contiguous, terms never going down).
//
// How the node drives it:
//   open()                    once at start; gives back the recovered state.
//   per Ready: save(hs, entries) then sync(): one write() and one
//                             fdatasync() (group commit), before sending the
//                             messages that depend on them.
//   after a snapshot file for (index, term) is durable (snapshot_file.h):
//     save_snapshot_marker({index, term}) (writes and syncs), then
//     release_to(first index to keep) to delete older segments.
//
// Errors: every method returns a Status. A failed write, sync, rename or
// remove is fatal: the Log then refuses every later call with the same error
// (never retry and continue after a failed fsync, see PostgreSQL's
// "fsyncgate"), so the caller must stop the node. Caller bugs (a batch that
// is not contiguous, terms going down) are DKV_ASSERTs.
// Threading: not thread-safe; one thread (the raft thread) calls it.
// Lifetime: options.fs (if set) must outlive the Log.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "raft/types.h"
#include "util/status.h"
#include "wal/file.h"
#include "wal/format.h"

namespace dkv::wal {

struct Options {
  // Stored when the WAL is created; on later opens a non-empty value must
  // match what is stored (else FAILED_PRECONDITION). Empty: accept what is
  // stored (Log::metadata() tells it). At most format::kIdBytesMax bytes.
  std::string cluster_id;
  std::string node_id;
  // A segment is preallocated to this size and filled up to it.
  std::uint64_t segment_size_bytes = format::kSegmentSizeBytesDefault;
  // The file system; nullptr means the real one (posix_file_system()).
  FileSystem* fs = nullptr;
  // open() also returns up to this many entries ending at the snapshot
  // marker, if compaction left them on disk (Recovered::
  // entries_before_snapshot): e.g. to replay into a state machine that
  // rolled back behind the snapshot, or to keep serving slow followers.
  std::size_t entries_before_snapshot_max = 0;
};

// What open() found on disk.
struct Recovered {
  raft::HardState hard_state;  // Empty if none was ever saved.
  SnapshotMarker snapshot;     // The latest marker; index 0 if none.
  // Every entry after snapshot.index, contiguous from snapshot.index + 1,
  // with any overwritten suffix already replaced.
  std::vector<raft::Entry> entries;
  bool created = false;  // True if open() created a new, empty WAL.
  // Up to Options::entries_before_snapshot_max entries ending at
  // snapshot.index (contiguous, oldest first), those still on disk; empty if
  // the entry at snapshot.index is not (e.g. an installed snapshot).
  std::vector<raft::Entry> entries_before_snapshot;
  // Non-empty if recovery cut a torn last record (a crash mid-write): one
  // line naming file, offset and what was wrong, for the node's log.
  std::string torn_tail;
};

struct Metadata {
  std::uint32_t format_version = format::kFormatVersion;
  std::string cluster_id;
  std::string node_id;
};

class Log {
 public:
  // Opens (creating if needed) the WAL under `db_path` (DKV_DB_PATH): takes
  // db_path/LOCK, creates db_path and db_path/wal if missing, recovers.
  // Errors, each one line naming what went wrong:
  //   UNAVAILABLE          another process holds the lock;
  //   FAILED_PRECONDITION  metadata mismatch (format version, cluster id or
  //                        node id): the caller exits with code 2;
  //   DATA_LOSS            corruption, naming the file and byte offset;
  //   INTERNAL             an I/O error;
  //   INVALID_ARGUMENT     bad options (ids over 256 bytes, segment size
  //                        outside 1 KiB..1 GiB).
  static util::Status open(const std::string& db_path, const Options& options,
                           std::unique_ptr<Log>* log, Recovered* recovered);

  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends one batch with one write call: `hard_state` (may be null; not
  // written if equal to the last one) and `entries` (may be empty). If the
  // first entry's index is <= last_index(), the log from that index on is
  // replaced. Not durable until sync(). Call sync() before the next save():
  // recovery forgives damage only in the records written since the last
  // sync, and a crash with two unsynced saves could keep the second without
  // the first, which then looks like corruption.
  // Requires: the encoded batch under format::kRecordPayloadBytesMax (the
  // node limits entry and batch sizes); entries contiguous with non-decreasing terms; first index
  // in (snapshot().index, last_index() + 1]; the first term >= the term of the entry before it;
  // hard state term and commit never lower than before, and the vote not changed within a term.
  util::Status save(const raft::HardState* hard_state, std::span<const raft::Entry> entries);

  // One fdatasync() of what save() wrote; a no-op if nothing was written
  // since the last sync. OK means everything saved so far is durable.
  util::Status sync();

  // Records that a snapshot file covers the log up to marker.index, and
  // syncs. If the log holds marker.index with marker.term, later entries
  // stay; otherwise the log is emptied and continues at marker.index + 1.
  // Requires: marker.index >= snapshot().index (the same term if equal).
  util::Status save_snapshot_marker(SnapshotMarker marker);

  // Deletes the segments holding only entries below `index` (compaction),
  // then fsyncs the directory. The active segment always stays, and so may
  // a segment holding some entries below `index` if it also holds later ones.
  // Requires: index <= snapshot().index + 1 (entries after the snapshot are
  // still needed).
  util::Status release_to(raft::Index index);

  raft::Index last_index() const { return last_index_; }
  const raft::HardState& hard_state() const { return hard_state_; }
  const SnapshotMarker& snapshot() const { return marker_; }
  const Metadata& metadata() const { return metadata_; }
  // OK until a write or sync failed; then that error, forever.
  const util::Status& fatal_error() const { return fatal_; }

  // For tests and metrics.
  struct SegmentInfo {
    std::uint64_t seq = 0;
    std::string path;
    raft::Index max_index = 0;  // Highest entry index written to it; 0 if none.
  };
  const std::deque<SegmentInfo>& segments() const { return segments_; }
  // Bytes written to the active segment so far.
  std::uint64_t active_offset_bytes() const { return active_offset_bytes_; }

 private:
  Log(FileSystem& fs, std::string db_path, const Options& options);

  util::Status recover(Recovered* recovered);
  // The sequence numbers of the .wal files, ascending and contiguous;
  // deletes .tmp files.
  util::Status list_segments(std::vector<std::uint64_t>* seqs);
  util::Status check_metadata(const format::SegmentHeader& header, const std::string& path,
                              bool first);
  util::Status create_new(Recovered* recovered);
  util::Status open_active_after_recovery(std::uint64_t valid_bytes, bool has_state,
                                          bool has_records, bool torn);
  // Writes the kState record at the start of the active segment and syncs.
  util::Status write_state_and_sync();
  // Writes `bytes` at the end of the active segment and keeps at least
  // kZeroAheadMinBytes after it written (zeroed_until_).
  util::Status append_active(const std::string& bytes);
  util::Status write_record_bytes(const std::string& bytes, raft::Index max_index);
  util::Status switch_segment();
  util::Status prepare_next_segment();
  util::Status fail(util::Status s);
  raft::Term term_at(raft::Index index) const;  // 0 if not in the log.
  void note_entries(std::span<const raft::Entry> entries);
  void check_batch(const raft::HardState* hard_state, std::span<const raft::Entry> entries) const;

  FileSystem& fs_;
  const std::string db_path_;
  const std::string wal_dir_;
  const Options options_;
  Metadata metadata_;
  std::unique_ptr<FileLock> lock_;

  // The state as written (not necessarily synced yet).
  raft::HardState hard_state_;
  SnapshotMarker marker_;
  // Invariant: last_index_ >= marker_.index.
  raft::Index last_index_ = 0;
  // Term of every entry in (marker_.index, last_index_], as runs: each pair is
  // (first index of a run, its term); first indexes ascending, terms
  // non-decreasing. Enough to check term order without holding entries.
  std::vector<std::pair<raft::Index, raft::Term>> term_runs_;

  // Oldest first; back() is the active segment.
  std::deque<SegmentInfo> segments_;
  std::unique_ptr<File> active_;
  // Invariant: active_offset_bytes_ <= size of the active file.
  std::uint64_t active_offset_bytes_ = 0;
  // The active segment is written (with records or zeros) up to here; past
  // it, the preallocated space may still be unwritten extents. An fdatasync
  // after a write into unwritten extents must also write the file's extent
  // metadata (one more disk write and ~20-30 us of kernel CPU per sync on
  // ext4): append_active() zeroes ahead in big steps so that most syncs
  // flush data alone. Invariant: zeroed_until_ >= active_offset_bytes_.
  std::uint64_t zeroed_until_ = 0;
  bool active_has_records_ = false;      // Holds a batch or marker after its kState.
  std::unique_ptr<File> next_;           // Preallocated next segment (.tmp), if any.
  std::uint64_t next_seq_ = 0;           // Its sequence number, if next_.
  std::uint64_t next_header_bytes_ = 0;  // Size of its header record, if next_.
  bool dirty_ = false;                   // Written since the last sync.
  util::Status fatal_;                   // Set once, by the first failed write or sync.
  std::string write_buffer_;             // save()'s encoding buffer, kept between calls.
};

}  // namespace dkv::wal
