// Snapshot files in DKV_DB_PATH/snap/ (format.h has the layout): a header
// with the snapshot's index, term and membership (an opaque blob the node
// encodes), the state-machine image as a stream of checksummed chunks, and a
// trailer with the total size and a CRC of the whole payload.
//
//   SnapshotWriter  streams a new file: create(), append() chunks of any
//                   size (the kv module copies LMDB into it), finish() =
//                   trailer, fdatasync, rename from .tmp, fsync the directory.
//                   Only after finish() returns OK may the node write the
//                   snapshot marker to the WAL and compact.
//   SnapshotReader  opens a file, checks its header, then hands out payload
//                   chunks, each verified before it is returned; the last
//                   call checks the trailer. Used to restore the state
//                   machine and to stream a snapshot to a peer.
//   list/latest/remove_snapshots_before: the directory's bookkeeping.
// A damaged .snap file is DATA_LOSS naming the file and offset: the node
// refuses to start rather than restore wrong data.
//
// At start the node: opens the Log (log.h), calls remove_snapshot_temp_files,
// and if the recovered marker's index is not 0, opens
// snapshot_path(snap_dir, marker) (it must exist: the marker is written only
// after the file is durable) to restore the state machine if LMDB is behind
// it, and to learn the membership. To take a snapshot: SnapshotWriter (may
// run on a background thread), then Log::save_snapshot_marker and
// Log::release_to on the raft thread, then remove_snapshots_before(marker
// index) to keep only the newest.
// Threading: a writer or reader is used by one thread at a time; different
// objects may run on different threads (a background snapshot).
// Lifetime: the FileSystem must outlive writers and readers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "raft/types.h"
#include "util/status.h"
#include "wal/file.h"
#include "wal/format.h"

namespace dkv::wal {

// DKV_DB_PATH/snap.
std::string snap_dir_path(const std::string& db_path);
// The file that holds the snapshot `marker` names: snap_dir/<index>-<term>.snap.
std::string snapshot_path(const std::string& snap_dir, SnapshotMarker marker);

struct SnapshotMeta {
  SnapshotMarker marker;   // The last log index (and its term) the snapshot covers.
  std::string membership;  // Opaque to the WAL; at most format::kMembershipBytesMax.

  bool operator==(const SnapshotMeta&) const = default;
};

class SnapshotWriter {
 public:
  static constexpr std::size_t kChunkBytesDefault = 256u << 10;

  // Starts snap_dir/<index>-<term>.snap.tmp, creating snap_dir if needed.
  // chunk_bytes (<= format::kSnapChunkBytesMax) is the size of the records
  // the payload is cut into.
  static util::Status create(FileSystem& fs, const std::string& snap_dir, const SnapshotMeta& meta,
                             std::unique_ptr<SnapshotWriter>* writer,
                             std::size_t chunk_bytes = kChunkBytesDefault);
  // Removes the temporary file unless finish() succeeded.
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Appends payload bytes. After any error the writer only returns errors.
  util::Status append(std::string_view data);
  // Makes the file durable under its final name. Call once.
  util::Status finish();

  const std::string& path() const { return path_; }  // The final name.
  std::uint64_t payload_bytes() const { return payload_bytes_; }

 private:
  SnapshotWriter(FileSystem& fs, std::string snap_dir, std::string path, std::size_t chunk_bytes);
  util::Status flush_chunk();
  util::Status fail(util::Status s);

  FileSystem& fs_;
  const std::string snap_dir_;
  const std::string path_;
  const std::string tmp_path_;
  const std::size_t chunk_bytes_;
  std::unique_ptr<File> file_;
  std::uint64_t offset_bytes_ = 0;
  std::string chunk_;  // Payload not yet written; < chunk_bytes_ between calls.
  std::uint64_t payload_bytes_ = 0;
  std::uint64_t chunk_count_ = 0;
  std::uint32_t payload_crc_ = 0;
  bool finished_ = false;
  util::Status error_;
};

class SnapshotReader {
 public:
  // Opens a .snap file and verifies its header record.
  static util::Status open(FileSystem& fs, const std::string& path,
                           std::unique_ptr<SnapshotReader>* reader);
  SnapshotReader(const SnapshotReader&) = delete;
  SnapshotReader& operator=(const SnapshotReader&) = delete;

  const SnapshotMeta& meta() const { return meta_; }

  // Sets *chunk to the next verified payload chunk; at the end, checks the
  // trailer and sets *done (with *chunk empty). DATA_LOSS on any damage.
  util::Status next(std::string* chunk, bool* done);

  // Reads a whole file, verifying every record and the trailer.
  static util::Status verify(FileSystem& fs, const std::string& path, SnapshotMeta* meta);

 private:
  SnapshotReader(std::unique_ptr<File> file, std::string path, std::uint64_t size_bytes);
  util::Status read_record(format::RecordType* type, std::string* payload);

  std::unique_ptr<File> file_;
  const std::string path_;
  const std::uint64_t size_bytes_;
  std::uint64_t offset_bytes_ = 0;
  SnapshotMeta meta_;
  std::uint64_t payload_bytes_ = 0;
  std::uint64_t chunk_count_ = 0;
  std::uint32_t payload_crc_ = 0;
  bool done_ = false;
};

struct SnapshotFileInfo {
  SnapshotMarker marker;  // From the file name.
  std::string path;

  bool operator==(const SnapshotFileInfo&) const = default;
};

// The .snap files in snap_dir, by ascending index. A missing dir is empty.
util::Status list_snapshots(FileSystem& fs, const std::string& snap_dir,
                            std::vector<SnapshotFileInfo>* out);
// The one with the highest index, or nullopt.
util::Status latest_snapshot(FileSystem& fs, const std::string& snap_dir,
                             std::optional<SnapshotFileInfo>* out);
// Deletes .snap files with index < `index`, then fsyncs the directory. The
// node keeps the snapshot its WAL marker names (and may keep one older).
util::Status remove_snapshots_before(FileSystem& fs, const std::string& snap_dir,
                                     raft::Index index);
// Deletes leftover .snap.tmp files (a crash mid-snapshot). Call at start,
// before any SnapshotWriter runs.
util::Status remove_snapshot_temp_files(FileSystem& fs, const std::string& snap_dir);

}  // namespace dkv::wal
