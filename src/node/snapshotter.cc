#include "node/snapshotter.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "node/snapshots.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "util/thread_name.h"
#include "wal/log.h"

namespace dkv::node {

Snapshotter::Snapshotter(wal::FileSystem& fs, std::string db_path, SnapshotPolicy policy,
                         kv::Store& store, wal::Log& log, raft::MemoryStorage& storage, PostFn post,
                         Background* background)
    : fs_(fs),
      db_path_(std::move(db_path)),
      policy_(policy),
      store_(store),
      log_(log),
      storage_(storage),
      post_(std::move(post)),
      last_index_(log.snapshot().index),
      background_(background) {}

Snapshotter::~Snapshotter() { join(); }

void Snapshotter::join() {
  if (thread_.joinable()) thread_.join();
}

// In the background so writes go on: the raft thread pins an LMDB read view
// at the applied index; the thread dumps it into the snapshot file; back on
// the raft thread finish() records the marker and compacts.
util::Status Snapshotter::maybe_start(std::uint64_t applied_entry_bytes) {
  if (in_flight_) return util::Status::ok();
  const raft::Index applied = store_.applied_index();
  if (applied <= last_index_) return util::Status::ok();
  if (applied < last_index_ + policy_.entries &&
      applied_entry_bytes - bytes_at_last_ < policy_.bytes) {
    return util::Status::ok();
  }
  bytes_at_last_ = applied_entry_bytes;  // What is applied from now on goes into the next one.
  raft::Term term = 0;
  if (auto s = storage_.term(applied, &term); !s.is_ok()) return s;
  // The image carries hist as it is: first remove what the last Compact
  // left (physical compaction otherwise runs a step per raft turn), so
  // that a snapshot holds no superseded history.
  for (bool more = store_.compaction_pending(); more;) {
    if (auto s = store_.compact_step(&more); !s.is_ok()) {
      if (s.code() != util::Code::kResourceExhausted) return s;
    }
  }
  std::shared_ptr<kv::Store::ReadView> view;
  {
    std::unique_ptr<kv::Store::ReadView> v;
    if (auto s = store_.open_view(&v); !s.is_ok()) return s;
    view = std::move(v);
  }
  join();  // The previous one is done (finish() ran).
  in_flight_ = true;
  auto job = [this, view, applied, term] {
    SnapshotDone done;
    std::uint64_t index = 0;
    done.status = store_.view_header(*view, &index, &done.membership);
    if (done.status.is_ok()) {
      DKV_ASSERT(index == applied);  // The view was pinned at `applied`.
      done.index = index;
      done.term = term;
      done.status = write_snapshot_file(fs_, db_path_, {index, term}, done.membership, store_,
                                        *view, &done.image_bytes);
    }
    post_(std::move(done));
  };
  if (background_ != nullptr) {
    background_->run(Background::Kind::kSnapshot, std::move(job));
    return util::Status::ok();
  }
  thread_ = std::thread([job = std::move(job)] {
    util::set_thread_name("snapshot");
    job();
  });
  return util::Status::ok();
}

util::Status Snapshotter::finish(SnapshotDone done) {
  DKV_ASSERT(in_flight_);
  in_flight_ = false;
  if (!done.status.is_ok()) return done.status;
  if (done.index <= last_index_) return util::Status::ok();  // A leader's snapshot overtook it.
  const wal::SnapshotMarker marker{done.index, done.term};
  if (auto s = log_.save_snapshot_marker(marker); !s.is_ok()) return s;
  Membership m;
  (void)Membership::decode(done.membership, &m);
  // The raft storage holds only the metadata: the image stays in its file,
  // which the transport streams to a follower that needs it.
  if (auto s = storage_.create_snapshot(done.index, m.conf_state(), std::string()); !s.is_ok()) {
    return s;
  }
  const raft::Index keep_from =
      done.index > policy_.catchup_entries ? done.index - policy_.catchup_entries : 1;
  if (keep_from > storage_.first_index()) {
    if (auto s = storage_.compact(keep_from); !s.is_ok()) return s;
  }
  if (auto s = log_.release_to(std::min<raft::Index>(keep_from, done.index + 1)); !s.is_ok()) {
    return s;
  }
  (void)remove_old_snapshot_files(fs_, db_path_, marker);
  last_index_ = done.index;
  spdlog::info("snapshot at index {} term {} ({} bytes); log kept from {}", done.index, done.term,
               done.image_bytes, keep_from);
  return util::Status::ok();
}

// Recorded in the WAL first (the marker also drops the log it replaces),
// then installed in the raft storage and restored into the store, streaming
// from the file. A crash part way restores again at the next start
// (recover.cc: the store is behind the marker).
util::Status Snapshotter::install(const raft::Snapshot& snapshot, std::uint64_t applied_entry_bytes,
                                  Membership* membership) {
  const wal::SnapshotMarker marker{snapshot.metadata.index, snapshot.metadata.term};
  std::unique_ptr<wal::SnapshotReader> reader;
  if (auto s = open_snapshot_file(fs_, db_path_, marker, &reader); !s.is_ok()) return s;
  if (auto s = Membership::decode(reader->meta().membership, membership); !s.is_ok()) {
    return util::Status(util::Code::kDataLoss, "snapshot membership is unreadable: " + s.message());
  }
  if (auto s = log_.save_snapshot_marker(marker); !s.is_ok()) return s;
  if (auto s = storage_.apply_snapshot(snapshot); !s.is_ok()) return s;
  if (auto s = restore_store(store_, *reader); !s.is_ok()) return s;
  last_index_ = marker.index;
  bytes_at_last_ = applied_entry_bytes;
  (void)remove_old_snapshot_files(fs_, db_path_, marker);
  spdlog::info("installed snapshot at index {} term {}", marker.index, marker.term);
  return util::Status::ok();
}

}  // namespace dkv::node
