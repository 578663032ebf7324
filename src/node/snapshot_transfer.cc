#include "node/snapshot_transfer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "util/assert.h"
#include "wal/file.h"
#include "wal/snapshot_file.h"

namespace dkv::node {
namespace {

wal::SnapshotMarker marker_of(const raft::Message& msg) {
  DKV_ASSERT(msg.snapshot.has_value());
  return {msg.snapshot->metadata.index, msg.snapshot->metadata.term};
}

class FileSnapshotSource final : public wal::SnapshotSource {
 public:
  FileSnapshotSource(std::unique_ptr<wal::File> file, std::uint64_t size_bytes)
      : file_(std::move(file)), size_bytes_(size_bytes) {}

  std::uint64_t total_bytes() const override { return size_bytes_; }

  util::Status read(std::uint64_t max_bytes, std::string* data) override {
    data->resize(std::min<std::uint64_t>(max_bytes, size_bytes_ - offset_bytes_));
    if (auto s = file_->read_at(offset_bytes_, data); !s.is_ok()) return s;
    if (data->empty() && offset_bytes_ < size_bytes_) {
      return util::Status(util::Code::kDataLoss, "snapshot file shorter than when opened");
    }
    offset_bytes_ += data->size();
    return util::Status::ok();
  }

 private:
  // Open, so a newer snapshot removing this one's name does not cut it short.
  const std::unique_ptr<wal::File> file_;
  const std::uint64_t size_bytes_;
  std::uint64_t offset_bytes_ = 0;  // Invariant: <= size_bytes_.
};

class FileSnapshotSink final : public wal::SnapshotSink {
 public:
  FileSnapshotSink(wal::FileSystem& fs, std::string snap_dir, wal::SnapshotMarker marker,
                   std::string tmp_path, std::unique_ptr<wal::File> file, std::uint64_t total_bytes,
                   bool skip_fsync)
      : fs_(fs),
        skip_fsync_(skip_fsync),
        snap_dir_(std::move(snap_dir)),
        marker_(marker),
        tmp_path_(std::move(tmp_path)),
        file_(std::move(file)),
        total_bytes_(total_bytes) {}

  ~FileSnapshotSink() override {
    file_.reset();
    if (!finished_) (void)fs_.remove(tmp_path_);
  }

  util::Status write(std::string_view data) override {
    DKV_ASSERT(!finished_);
    if (offset_bytes_ + data.size() > total_bytes_) {
      return util::invalid_argument("snapshot data longer than announced");
    }
    if (auto s = file_->write_at(offset_bytes_, data); !s.is_ok()) return s;
    offset_bytes_ += data.size();
    return util::Status::ok();
  }

  util::Status finish(raft::Message* msg) override {
    DKV_ASSERT(!finished_);
    DKV_ASSERT(marker_of(*msg) == marker_);
    wal::FileSystem& fs = fs_;
    if (!skip_fsync_) {
      if (auto s = file_->sync(); !s.is_ok()) return s;
    }
    file_.reset();
    // Every record's CRC and the trailer (payload size, chunk count, CRC of
    // the whole payload), read back from the disk.
    wal::SnapshotMeta meta;
    if (auto s = wal::SnapshotReader::verify(fs, tmp_path_, &meta); !s.is_ok()) return s;
    if (meta.marker != marker_) {
      return util::Status(util::Code::kDataLoss,
                          "received snapshot file is at " + std::to_string(meta.marker.index) +
                              "/" + std::to_string(meta.marker.term) + ", the message says " +
                              std::to_string(marker_.index) + "/" + std::to_string(marker_.term));
    }
    if (auto s = wal::rename_durably(fs, tmp_path_, wal::snapshot_path(snap_dir_, marker_));
        !s.is_ok()) {
      return s;
    }
    finished_ = true;
    msg->snapshot->data.clear();  // Metadata only: the image is in the file.
    return util::Status::ok();
  }

 private:
  wal::FileSystem& fs_;
  const bool skip_fsync_;  // The snapshot_before_fsync canary.
  const std::string snap_dir_;
  const wal::SnapshotMarker marker_;
  const std::string tmp_path_;
  std::unique_ptr<wal::File> file_;
  const std::uint64_t total_bytes_;
  std::uint64_t offset_bytes_ = 0;  // Invariant: <= total_bytes_.
  bool finished_ = false;           // Renamed to the final name.
};

}  // namespace

util::Status open_snapshot_source(const std::string& db_path, const raft::Message& msg,
                                  std::unique_ptr<wal::SnapshotSource>* out, wal::FileSystem& fs) {
  const std::string path = wal::snapshot_path(wal::snap_dir_path(db_path), marker_of(msg));
  std::unique_ptr<wal::File> file;
  if (auto s = fs.open(path, wal::OpenMode::kRead, &file); !s.is_ok()) {
    return s;
  }
  std::uint64_t size_bytes = 0;
  if (auto s = file->size(&size_bytes); !s.is_ok()) return s;
  *out = std::make_unique<FileSnapshotSource>(std::move(file), size_bytes);
  return util::Status::ok();
}

std::unique_ptr<wal::SnapshotSink> make_snapshot_sink(const std::string& db_path,
                                                      const raft::Message& header,
                                                      std::uint64_t total_bytes,
                                                      wal::FileSystem& fs,
                                                      const NodeCanaries& canaries) {
  static std::atomic<std::uint64_t> next_id{0};
#ifdef DKV_TEST_HOOKS
  const bool skip_fsync = canaries.snapshot_before_fsync;
#else
  (void)canaries;
  const bool skip_fsync = false;
#endif
  const std::string dir = wal::snap_dir_path(db_path);
  const wal::SnapshotMarker marker = marker_of(header);
  // Ends in .tmp: removed at the next start if a crash leaves it behind.
  const std::string tmp_path =
      wal::snapshot_path(dir, marker) + ".recv" + std::to_string(next_id++) + ".tmp";
  std::unique_ptr<wal::File> file;
  util::Status s = wal::ensure_dir(fs, dir);
  if (s.is_ok()) s = fs.open(tmp_path, wal::OpenMode::kCreateExclusive, &file);
  if (!s.is_ok()) {
    spdlog::warn("cannot receive snapshot at index {}: {}", marker.index, s.to_string());
    return nullptr;
  }
  return std::make_unique<FileSnapshotSink>(fs, dir, marker, tmp_path, std::move(file), total_bytes,
                                            skip_fsync);
}

}  // namespace dkv::node
