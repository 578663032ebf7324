// Snapshot file writer, reader and directory helpers (see snapshot_file.h).
#include "wal/snapshot_file.h"

#include <algorithm>

#include "util/assert.h"
#include "util/crc32c.h"

namespace dkv::wal {
namespace {

using format::RecordType;

util::Status snap_corruption(const std::string& path, std::uint64_t offset, std::string_view what) {
  std::string m = "snapshot corruption in " + path + " at offset " + std::to_string(offset) + ": ";
  m += what;
  return {util::Code::kDataLoss, std::move(m)};
}

}  // namespace

std::string snap_dir_path(const std::string& db_path) {
  return join_path(db_path, format::kSnapDirName);
}

std::string snapshot_path(const std::string& snap_dir, SnapshotMarker marker) {
  return join_path(snap_dir, format::snapshot_file_name(marker.index, marker.term));
}

// ---- SnapshotWriter --------------------------------------------------------

SnapshotWriter::SnapshotWriter(FileSystem& fs, std::string snap_dir, std::string path,
                               std::size_t chunk_bytes)
    : fs_(fs),
      snap_dir_(std::move(snap_dir)),
      path_(std::move(path)),
      tmp_path_(path_ + std::string(format::kTmpSuffix)),
      chunk_bytes_(chunk_bytes) {}

SnapshotWriter::~SnapshotWriter() {
  if (finished_ || file_ == nullptr) return;
  file_.reset();
  (void)fs_.remove(tmp_path_);  // Best effort: leftovers are removed later too.
}

util::Status SnapshotWriter::create(FileSystem& fs, const std::string& snap_dir,
                                    const SnapshotMeta& meta,
                                    std::unique_ptr<SnapshotWriter>* writer,
                                    std::size_t chunk_bytes) {
  DKV_ASSERT(chunk_bytes > 0);
  DKV_ASSERT(chunk_bytes <= format::kSnapChunkBytesMax);
  if (meta.membership.size() > format::kMembershipBytesMax) {
    return util::invalid_argument("snapshot membership blob is too large");
  }
  if (auto s = ensure_dir(fs, snap_dir); !s.is_ok()) return s;
  const std::string path = snapshot_path(snap_dir, meta.marker);
  std::unique_ptr<SnapshotWriter> w(new SnapshotWriter(fs, snap_dir, path, chunk_bytes));
  if (auto s = fs.open(w->tmp_path_, OpenMode::kCreate, &w->file_); !s.is_ok()) return s;
  if (auto s = w->file_->truncate(0); !s.is_ok()) return s;
  std::string payload;
  format::encode_snap_header(
      format::SnapHeader{format::kFormatVersion, meta.marker, meta.membership}, &payload);
  std::string record;
  format::append_record(&record, RecordType::kSnapHeader, payload);
  if (auto s = w->file_->write_at(0, record); !s.is_ok()) return s;
  w->offset_bytes_ = record.size();
  w->chunk_.reserve(chunk_bytes);
  *writer = std::move(w);
  return util::Status::ok();
}

util::Status SnapshotWriter::fail(util::Status s) {
  if (error_.is_ok()) error_ = std::move(s);
  return error_;
}

util::Status SnapshotWriter::flush_chunk() {
  if (chunk_.empty()) return util::Status::ok();
  std::string record;
  record.reserve(format::kRecordHeaderSize + chunk_.size());
  format::append_record(&record, RecordType::kSnapChunk, chunk_);
  if (auto s = file_->write_at(offset_bytes_, record); !s.is_ok()) return fail(s);
  offset_bytes_ += record.size();
  ++chunk_count_;
  chunk_.clear();
  return util::Status::ok();
}

util::Status SnapshotWriter::append(std::string_view data) {
  if (!error_.is_ok()) return error_;
  DKV_ASSERT(!finished_);
  payload_crc_ = util::crc32c::extend(payload_crc_, data.data(), data.size());
  payload_bytes_ += data.size();
  while (!data.empty()) {
    const std::size_t n = std::min(data.size(), chunk_bytes_ - chunk_.size());
    chunk_.append(data.substr(0, n));
    data.remove_prefix(n);
    if (chunk_.size() == chunk_bytes_) {
      if (auto s = flush_chunk(); !s.is_ok()) return s;
    }
  }
  return util::Status::ok();
}

util::Status SnapshotWriter::finish() {
  if (!error_.is_ok()) return error_;
  DKV_ASSERT(!finished_);
  if (auto s = flush_chunk(); !s.is_ok()) return s;
  std::string payload;
  format::encode_snap_trailer(format::SnapTrailer{payload_bytes_, chunk_count_, payload_crc_},
                              &payload);
  std::string record;
  format::append_record(&record, RecordType::kSnapTrailer, payload);
  if (auto s = file_->write_at(offset_bytes_, record); !s.is_ok()) return fail(s);
  offset_bytes_ += record.size();
  // Data first, then the name, then the name durable: a .snap file is
  // always complete.
  if (auto s = file_->sync(); !s.is_ok()) return fail(s);
  file_.reset();
  if (auto s = rename_durably(fs_, tmp_path_, path_); !s.is_ok()) return fail(s);
  finished_ = true;
  return util::Status::ok();
}

// ---- SnapshotReader --------------------------------------------------------

SnapshotReader::SnapshotReader(std::unique_ptr<File> file, std::string path,
                               std::uint64_t size_bytes)
    : file_(std::move(file)), path_(std::move(path)), size_bytes_(size_bytes) {}

util::Status SnapshotReader::open(FileSystem& fs, const std::string& path,
                                  std::unique_ptr<SnapshotReader>* reader) {
  std::unique_ptr<File> f;
  if (auto s = fs.open(path, OpenMode::kRead, &f); !s.is_ok()) return s;
  std::uint64_t size_bytes = 0;
  if (auto s = f->size(&size_bytes); !s.is_ok()) return s;
  std::unique_ptr<SnapshotReader> r(new SnapshotReader(std::move(f), path, size_bytes));
  RecordType type{};
  std::string payload;
  if (auto s = r->read_record(&type, &payload); !s.is_ok()) return s;
  if (type != RecordType::kSnapHeader) return snap_corruption(path, 0, "no snapshot header");
  format::SnapHeader h;
  const char* problem = "";
  if (!format::decode_snap_header(payload, &h, &problem)) return snap_corruption(path, 0, problem);
  if (h.version != format::kFormatVersion) {
    return {util::Code::kFailedPrecondition,
            "snapshot " + path + " has format version " + std::to_string(h.version) +
                ", this build reads version " + std::to_string(format::kFormatVersion)};
  }
  r->meta_ = SnapshotMeta{h.marker, std::move(h.membership)};
  *reader = std::move(r);
  return util::Status::ok();
}

util::Status SnapshotReader::read_record(RecordType* type, std::string* payload) {
  const std::uint64_t at = offset_bytes_;
  if (size_bytes_ - at < format::kRecordHeaderSize) {
    return snap_corruption(path_, at, "file ends inside a record header");
  }
  std::string header(format::kRecordHeaderSize, '\0');
  if (auto s = file_->read_at(at, &header); !s.is_ok()) return s;
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i) {
    length |= static_cast<std::uint32_t>(static_cast<unsigned char>(header[4 + i])) << (8 * i);
  }
  if (length > format::kSnapChunkBytesMax + format::kMembershipBytesMax) {
    return snap_corruption(path_, at, "record length over the limit");
  }
  if (size_bytes_ - at - format::kRecordHeaderSize < length) {
    return snap_corruption(path_, at, "record runs past the end of the file");
  }
  std::string body(length, '\0');
  if (auto s = file_->read_at(at + format::kRecordHeaderSize, &body); !s.is_ok()) return s;
  if (body.size() != length) return snap_corruption(path_, at, "short read");
  const std::string buf = header + body;
  const format::ParsedRecord r = format::parse_record(buf, 0);
  if (r.outcome != format::ParseOutcome::kOk) return snap_corruption(path_, at, r.problem);
  *type = r.type;
  payload->assign(r.payload);
  offset_bytes_ += r.size;
  return util::Status::ok();
}

util::Status SnapshotReader::next(std::string* chunk, bool* done) {
  chunk->clear();
  *done = false;
  if (done_) {
    *done = true;
    return util::Status::ok();
  }
  const std::uint64_t at = offset_bytes_;
  RecordType type{};
  std::string payload;
  if (auto s = read_record(&type, &payload); !s.is_ok()) return s;
  if (type == RecordType::kSnapChunk) {
    payload_crc_ = util::crc32c::extend(payload_crc_, payload.data(), payload.size());
    payload_bytes_ += payload.size();
    ++chunk_count_;
    *chunk = std::move(payload);
    return util::Status::ok();
  }
  if (type != RecordType::kSnapTrailer) return snap_corruption(path_, at, "unexpected record type");
  format::SnapTrailer t;
  const char* problem = "";
  if (!format::decode_snap_trailer(payload, &t, &problem))
    return snap_corruption(path_, at, problem);
  if (t.payload_bytes != payload_bytes_ || t.chunk_count != chunk_count_ ||
      t.payload_crc != payload_crc_) {
    return snap_corruption(path_, at, "trailer does not match the payload");
  }
  if (offset_bytes_ != size_bytes_) {
    return snap_corruption(path_, offset_bytes_, "bytes after the trailer");
  }
  done_ = true;
  *done = true;
  return util::Status::ok();
}

util::Status SnapshotReader::verify(FileSystem& fs, const std::string& path, SnapshotMeta* meta) {
  std::unique_ptr<SnapshotReader> r;
  if (auto s = open(fs, path, &r); !s.is_ok()) return s;
  std::string chunk;
  bool done = false;
  while (!done) {
    if (auto s = r->next(&chunk, &done); !s.is_ok()) return s;
  }
  if (meta != nullptr) *meta = r->meta();
  return util::Status::ok();
}

// ---- Directory -------------------------------------------------------------

util::Status list_snapshots(FileSystem& fs, const std::string& snap_dir,
                            std::vector<SnapshotFileInfo>* out) {
  out->clear();
  if (!fs.exists(snap_dir)) return util::Status::ok();
  std::vector<std::string> names;
  if (auto s = fs.list_dir(snap_dir, &names); !s.is_ok()) return s;
  for (const std::string& n : names) {
    if (const auto m = format::parse_snapshot_file_name(n)) {
      out->push_back({*m, join_path(snap_dir, n)});
    }
  }
  std::sort(out->begin(), out->end(), [](const SnapshotFileInfo& a, const SnapshotFileInfo& b) {
    return a.marker.index < b.marker.index ||
           (a.marker.index == b.marker.index && a.marker.term < b.marker.term);
  });
  return util::Status::ok();
}

util::Status latest_snapshot(FileSystem& fs, const std::string& snap_dir,
                             std::optional<SnapshotFileInfo>* out) {
  std::vector<SnapshotFileInfo> all;
  if (auto s = list_snapshots(fs, snap_dir, &all); !s.is_ok()) return s;
  out->reset();
  if (!all.empty()) *out = all.back();
  return util::Status::ok();
}

util::Status remove_snapshots_before(FileSystem& fs, const std::string& snap_dir,
                                     raft::Index index) {
  if (!fs.exists(snap_dir)) return util::Status::ok();
  std::vector<std::string> names;
  if (auto s = fs.list_dir(snap_dir, &names); !s.is_ok()) return s;
  bool removed = false;
  for (const std::string& n : names) {
    const auto m = format::parse_snapshot_file_name(n);
    if (m && m->index < index) {
      if (auto s = fs.remove(join_path(snap_dir, n)); !s.is_ok()) return s;
      removed = true;
    }
  }
  if (!removed) return util::Status::ok();
  return fs.sync_dir(snap_dir);
}

}  // namespace dkv::wal

namespace dkv::wal {

util::Status remove_snapshot_temp_files(FileSystem& fs, const std::string& snap_dir) {
  if (!fs.exists(snap_dir)) return util::Status::ok();
  std::vector<std::string> names;
  if (auto s = fs.list_dir(snap_dir, &names); !s.is_ok()) return s;
  bool removed = false;
  for (const std::string& n : names) {
    if (!n.ends_with(format::kTmpSuffix)) continue;
    if (auto s = fs.remove(join_path(snap_dir, n)); !s.is_ok()) return s;
    removed = true;
  }
  if (!removed) return util::Status::ok();
  return fs.sync_dir(snap_dir);
}

}  // namespace dkv::wal
