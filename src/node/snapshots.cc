#include "node/snapshots.h"

#include "kv/store.h"

#include "wal/file.h"
#include "wal/snapshot_file.h"

namespace dkv::node {

util::Status write_snapshot_file(wal::FileSystem& fs, const std::string& db_path,
                                 wal::SnapshotMarker marker, const std::string& membership,
                                 const kv::Store& store, const kv::Store::ReadView& view,
                                 std::uint64_t* image_bytes) {
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

util::Status open_snapshot_file(wal::FileSystem& fs, const std::string& db_path,
                                wal::SnapshotMarker marker,
                                std::unique_ptr<wal::SnapshotReader>* reader) {
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

util::Status remove_old_snapshot_files(wal::FileSystem& fs, const std::string& db_path,
                                       wal::SnapshotMarker marker) {
  return wal::remove_snapshots_before(fs, wal::snap_dir_path(db_path), marker.index);
}

util::Status remove_snapshot_leftovers(wal::FileSystem& fs, const std::string& db_path) {
  return wal::remove_snapshot_temp_files(fs, wal::snap_dir_path(db_path));
}

}  // namespace dkv::node
