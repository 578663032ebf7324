#include "node/snapshots.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kv/store.h"
#include "node/node.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "wal/log.h"

#include "wal/file.h"
#include "wal/snapshot_file.h"

namespace dkv::node {

util::Status write_snapshot_file(const std::string& db_path, wal::SnapshotMarker marker,
                                 const std::string& membership, const std::string& image) {
  wal::FileSystem& fs = wal::posix_file_system();
  const std::string dir = wal::snap_dir_path(db_path);
  if (auto s = wal::ensure_dir(fs, dir); !s.is_ok()) return s;
  std::unique_ptr<wal::SnapshotWriter> writer;
  if (auto s = wal::SnapshotWriter::create(fs, dir, {marker, membership}, &writer); !s.is_ok()) {
    return s;
  }
  if (auto s = writer->append(image); !s.is_ok()) return s;
  return writer->finish();
}

util::Status read_snapshot_file(const std::string& db_path, wal::SnapshotMarker marker,
                                std::string* image) {
  wal::FileSystem& fs = wal::posix_file_system();
  const std::string path = wal::snapshot_path(wal::snap_dir_path(db_path), marker);
  std::unique_ptr<wal::SnapshotReader> reader;
  if (auto s = wal::SnapshotReader::open(fs, path, &reader); !s.is_ok()) return s;
  image->clear();
  for (bool done = false; !done;) {
    std::string chunk;
    if (auto s = reader->next(&chunk, &done); !s.is_ok()) return s;
    image->append(chunk);
  }
  return util::Status::ok();
}

util::Status remove_old_snapshot_files(const std::string& db_path, wal::SnapshotMarker marker) {
  wal::FileSystem& fs = wal::posix_file_system();
  const std::string dir = wal::snap_dir_path(db_path);
  if (auto s = wal::remove_snapshot_temp_files(fs, dir); !s.is_ok()) return s;
  return wal::remove_snapshots_before(fs, dir, marker.index);
}

// A leader's snapshot (Ready::snapshot): made durable first (file, then the
// WAL marker, which also drops the log it replaces), then installed in the
// raft storage and the store.
void Node::install_snapshot(const raft::Snapshot& snapshot) {
  const wal::SnapshotMarker marker{snapshot.metadata.index, snapshot.metadata.term};
  std::uint64_t image_index = 0;
  std::string image_membership;
  if (auto s = kv::Store::peek_image(snapshot.data, &image_index, &image_membership); !s.is_ok()) {
    fatal("snapshot from the leader is unreadable", s);
  }
  Membership m;
  if (auto s = Membership::decode(image_membership, &m); !s.is_ok()) {
    fatal("snapshot membership is unreadable", s);
  }
  if (auto s = write_snapshot_file(options_.db_path, marker, image_membership, snapshot.data);
      !s.is_ok()) {
    fatal("writing snapshot file", s);
  }
  if (auto s = log_->save_snapshot_marker(marker); !s.is_ok()) fatal("WAL snapshot marker", s);
  if (auto s = storage_->apply_snapshot(snapshot); !s.is_ok()) fatal("raft storage snapshot", s);
  if (auto s = store_->restore(snapshot.data); !s.is_ok()) fatal("restoring the store", s);
  {
    std::lock_guard lock(mu_);
    membership_ = m;
  }
  last_snapshot_index_ = marker.index;
  (void)remove_old_snapshot_files(options_.db_path, marker);
  spdlog::info("installed snapshot at index {} term {} ({} bytes)", marker.index, marker.term,
               snapshot.data.size());
}

// Log compaction (Raft §7): every snapshot_entries applied entries, write the
// store's image to a snapshot file, record the marker in the WAL, and drop
// the log before it except a tail for slightly lagging followers.
void Node::maybe_snapshot() {
  const raft::Index applied = store_->applied_index();
  if (applied < last_snapshot_index_ + options_.snapshot_entries) return;
  std::string image;
  std::uint64_t index = 0;
  std::string membership_blob;
  if (auto s = store_->dump(&image, &index, &membership_blob); !s.is_ok()) fatal("dump", s);
  DKV_ASSERT(index == applied);  // Only this thread writes the store.
  raft::Term term = 0;
  if (auto s = storage_->term(index, &term); !s.is_ok()) fatal("term of snapshot index", s);
  const wal::SnapshotMarker marker{index, term};
  if (auto s = write_snapshot_file(options_.db_path, marker, membership_blob, image); !s.is_ok()) {
    fatal("writing snapshot file", s);
  }
  if (auto s = log_->save_snapshot_marker(marker); !s.is_ok()) fatal("WAL snapshot marker", s);
  Membership m;
  (void)Membership::decode(membership_blob, &m);
  const std::size_t image_bytes = image.size();
  if (auto s = storage_->create_snapshot(index, m.conf_state(), std::move(image)); !s.is_ok()) {
    fatal("raft storage snapshot", s);
  }
  const raft::Index keep_from =
      index > options_.snapshot_catchup_entries ? index - options_.snapshot_catchup_entries : 1;
  if (keep_from > storage_->first_index()) {
    if (auto s = storage_->compact(keep_from); !s.is_ok()) fatal("raft storage compaction", s);
  }
  if (auto s = log_->release_to(std::min<raft::Index>(keep_from, index + 1)); !s.is_ok()) {
    fatal("WAL compaction", s);
  }
  (void)remove_old_snapshot_files(options_.db_path, marker);
  last_snapshot_index_ = index;
  spdlog::info("snapshot at index {} term {} ({} bytes); log kept from {}", index, term,
               image_bytes, keep_from);
}

}  // namespace dkv::node
