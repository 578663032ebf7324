#include "node/snapshots.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kv/store.h"
#include "node/node.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "util/thread_name.h"
#include "wal/log.h"

#include "wal/file.h"
#include "wal/snapshot_file.h"

namespace dkv::node {

util::Status write_snapshot_file(const std::string& db_path, wal::SnapshotMarker marker,
                                 const std::string& membership, const kv::Store& store,
                                 const kv::Store::ReadView& view, std::uint64_t* image_bytes) {
  wal::FileSystem& fs = wal::posix_file_system();
  const std::string dir = wal::snap_dir_path(db_path);
  if (auto s = wal::ensure_dir(fs, dir); !s.is_ok()) return s;
  std::unique_ptr<wal::SnapshotWriter> writer;
  if (auto s = wal::SnapshotWriter::create(fs, dir, {marker, membership}, &writer); !s.is_ok()) {
    return s;
  }
  const util::Status dumped =
      store.dump(view, [&writer](std::string_view piece) { return writer->append(piece); });
  if (!dumped.is_ok()) return dumped;
  *image_bytes = writer->payload_bytes();
  return writer->finish();
}

util::Status open_snapshot_file(const std::string& db_path, wal::SnapshotMarker marker,
                                std::unique_ptr<wal::SnapshotReader>* reader) {
  wal::FileSystem& fs = wal::posix_file_system();
  const std::string path = wal::snapshot_path(wal::snap_dir_path(db_path), marker);
  if (auto s = wal::SnapshotReader::open(fs, path, reader); !s.is_ok()) return s;
  if ((*reader)->meta().marker != marker) {
    return util::Status(util::Code::kDataLoss, path + ": header names another snapshot");
  }
  return util::Status::ok();
}

util::Status restore_store(kv::Store& store, wal::SnapshotReader& reader) {
  const util::Status s =
      store.restore([&reader](std::string* piece, bool* done) { return reader.next(piece, done); });
  if (!s.is_ok()) return s;
  if (store.applied_index() != reader.meta().marker.index) {
    return util::Status(util::Code::kDataLoss,
                        "snapshot image at index " + std::to_string(store.applied_index()) +
                            ", its file says " + std::to_string(reader.meta().marker.index));
  }
  return util::Status::ok();
}

util::Status remove_old_snapshot_files(const std::string& db_path, wal::SnapshotMarker marker) {
  wal::FileSystem& fs = wal::posix_file_system();
  return wal::remove_snapshots_before(fs, wal::snap_dir_path(db_path), marker.index);
}

util::Status remove_snapshot_leftovers(const std::string& db_path) {
  wal::FileSystem& fs = wal::posix_file_system();
  return wal::remove_snapshot_temp_files(fs, wal::snap_dir_path(db_path));
}

// A leader's snapshot (Ready::snapshot, metadata only): the transport has
// already made its file durable and verified in the snap dir
// (snapshot_transfer.h). Recorded in the WAL first (the marker also drops
// the log it replaces), then installed in the raft storage and restored into
// the store, streaming from the file. A crash part way restores again at the
// next start (recover() in node.cc: the store is behind the marker).
void Node::install_snapshot(const raft::Snapshot& snapshot) {
  const wal::SnapshotMarker marker{snapshot.metadata.index, snapshot.metadata.term};
  std::unique_ptr<wal::SnapshotReader> reader;
  if (auto s = open_snapshot_file(options_.db_path, marker, &reader); !s.is_ok()) {
    fatal("opening the leader's snapshot", s);
  }
  Membership m;
  if (auto s = Membership::decode(reader->meta().membership, &m); !s.is_ok()) {
    fatal("snapshot membership is unreadable", s);
  }
  if (auto s = log_->save_snapshot_marker(marker); !s.is_ok()) fatal("WAL snapshot marker", s);
  if (auto s = storage_->apply_snapshot(snapshot); !s.is_ok()) fatal("raft storage snapshot", s);
  if (auto s = restore_store(*store_, *reader); !s.is_ok()) fatal("restoring the store", s);
  last_snapshot_index_ = marker.index;
  bytes_since_snapshot_ = 0;
  (void)remove_old_snapshot_files(options_.db_path, marker);
  spdlog::info("installed snapshot at index {} term {}", marker.index, marker.term);
  events_.record("snapshot", "installed snapshot at index " + std::to_string(marker.index));
  {
    std::lock_guard lock(mu_);
    for (const auto& known : membership_.all()) {
      const raft::NodeId id = node_id_of(known.id);
      if (id == raft_id_ || m.find(id) != nullptr) continue;
      std::erase_if(catch_up_peers_, [&](const MemberAddress& p) { return p.id == known.id; });
      catch_up_peers_.push_back(known);
    }
  }
  set_membership(std::move(m));
}

// Log compaction (Raft §7), in the background so writes go on: every
// snapshot_entries applied entries the raft thread pins an LMDB read view at
// the applied index; a snapshot thread dumps it and writes the snapshot file;
// back on the raft thread finish_snapshot() records the marker in the WAL and
// drops the log before it, except a tail for slightly lagging followers.
void Node::maybe_snapshot() {
  if (snapshot_in_flight_) return;
  const raft::Index applied = store_->applied_index();
  if (applied <= last_snapshot_index_) return;
  if (applied < last_snapshot_index_ + options_.snapshot_entries &&
      bytes_since_snapshot_ < options_.snapshot_bytes) {
    return;
  }
  bytes_since_snapshot_ = 0;  // What is applied from now on goes into the next one.
  raft::Term term = 0;
  if (auto s = storage_->term(applied, &term); !s.is_ok()) fatal("term of snapshot index", s);
  std::shared_ptr<kv::Store::ReadView> view;
  {
    std::unique_ptr<kv::Store::ReadView> v;
    if (auto s = store_->open_view(&v); !s.is_ok()) fatal("snapshot read view", s);
    view = std::move(v);
  }
  if (snapshot_thread_.joinable()) snapshot_thread_.join();  // The previous one is done.
  snapshot_in_flight_ = true;
  snapshot_thread_ = std::thread([this, view, applied, term] {
    util::set_thread_name("snapshot");
    SnapshotDone done;
    std::uint64_t index = 0;
    done.status = store_->view_header(*view, &index, &done.membership);
    if (done.status.is_ok()) {
      DKV_ASSERT(index == applied);  // The view was pinned at `applied`.
      done.index = index;
      done.term = term;
      done.status = write_snapshot_file(options_.db_path, {index, term}, done.membership, *store_,
                                        *view, &done.image_bytes);
    }
    {
      std::lock_guard lock(mu_);
      inbox_.snapshot_done = std::move(done);
    }
    cv_.notify_one();
  });
}

void Node::finish_snapshot(SnapshotDone done) {
  snapshot_in_flight_ = false;
  if (!done.status.is_ok()) fatal("taking a snapshot", done.status);
  if (done.index <= last_snapshot_index_) return;  // A leader's snapshot overtook it.
  const wal::SnapshotMarker marker{done.index, done.term};
  if (auto s = log_->save_snapshot_marker(marker); !s.is_ok()) fatal("WAL snapshot marker", s);
  Membership m;
  (void)Membership::decode(done.membership, &m);
  // The raft storage holds only the metadata: the image stays in its file,
  // which the transport streams to a follower that needs it.
  if (auto s = storage_->create_snapshot(done.index, m.conf_state(), std::string()); !s.is_ok()) {
    fatal("raft storage snapshot", s);
  }
  const raft::Index keep_from = done.index > options_.snapshot_catchup_entries
                                    ? done.index - options_.snapshot_catchup_entries
                                    : 1;
  if (keep_from > storage_->first_index()) {
    if (auto s = storage_->compact(keep_from); !s.is_ok()) fatal("raft storage compaction", s);
  }
  if (auto s = log_->release_to(std::min<raft::Index>(keep_from, done.index + 1)); !s.is_ok()) {
    fatal("WAL compaction", s);
  }
  (void)remove_old_snapshot_files(options_.db_path, marker);
  last_snapshot_index_ = done.index;
  spdlog::info("snapshot at index {} term {} ({} bytes); log kept from {}", done.index, done.term,
               done.image_bytes, keep_from);
  events_.record("snapshot", "took snapshot at index " + std::to_string(done.index));
}

}  // namespace dkv::node
