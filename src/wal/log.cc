// wal::Log (see log.h): writing batches and markers, switching and
// preallocating segments, compaction, and recovery (Replayer checks every
// record read back against the rules save() asserted on the way out).
#include "wal/log.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "util/assert.h"

namespace dkv::wal {
namespace {

using format::ParseOutcome;
using format::RecordType;

// Zeroing ahead (Log::zeroed_until_): one write of kZeroAheadBytes whenever
// less than kZeroAheadMinBytes past the end is written. At 256-byte entries
// that is one larger sync per ~2000 entries instead of extent metadata in
// every sync.
constexpr std::uint64_t kZeroAheadBytes = 512 << 10;
constexpr std::uint64_t kZeroAheadMinBytes = 64 << 10;

util::Status corruption(const std::string& path, std::uint64_t offset, std::string_view what) {
  std::string m = "wal corruption in " + path + " at offset " + std::to_string(offset) + ": ";
  m += what;
  m += " (to recover, wipe this node's data directory and let it catch up from the cluster)";
  return {util::Code::kDataLoss, std::move(m)};
}

// Where a record came from, for error messages.
struct Where {
  const std::string* path = nullptr;
  std::uint64_t offset = 0;
  util::Status error(std::string_view what) const { return corruption(*path, offset, what); }
};

// Replays records in log order into the state open() returns, checking on
// the way in everything save() asserted on the way out.
class Replayer {
 public:
  // Keeps up to before_max entries ending at the marker (see
  // Options::entries_before_snapshot_max).
  explicit Replayer(std::size_t before_max) : before_max_(before_max) {}

  // kState: the first one read gives the starting state (older segments
  // may have been deleted); each later one must agree with the replay.
  util::Status apply_state(const format::StateRecord& s, const Where& w) {
    if (!started_) {
      started_ = true;
      hard_state_ = s.hard_state;
      marker_ = s.marker;
      return util::Status::ok();
    }
    if (s.hard_state != hard_state_)
      return w.error("state record disagrees with the hard state before it");
    if (s.marker != marker_)
      return w.error("state record disagrees with the snapshot marker before it");
    return util::Status::ok();
  }

  util::Status apply_batch(format::Batch&& b, const Where& w) {
    DKV_ASSERT(started_);
    if (b.hard_state) {
      if (auto s = check_hard_state(*b.hard_state, w); !s.is_ok()) return s;
      hard_state_ = *b.hard_state;
    }
    if (b.entries.empty()) return util::Status::ok();
    for (std::size_t i = 1; i < b.entries.size(); ++i) {
      if (b.entries[i].index != b.entries[i - 1].index + 1)
        return w.error("entry indexes not contiguous");
      if (b.entries[i].term < b.entries[i - 1].term) return w.error("entry terms go down");
    }
    segment_max_index_ = std::max(segment_max_index_, b.entries.back().index);
    const raft::Index first = b.entries.front().index;
    if (first <= marker_.index)
      return w.error("batch overwrites entries covered by the snapshot marker");
    if (first > last_index() + 1 || (gap_end_ != 0 && first <= gap_end_)) {
      // Entries before `first` were in deleted segments; a later marker
      // must cover them, or they are missing (checked in finish()).
      entries_.clear();
      gap_end_ = first - 1 > marker_.index ? first - 1 : 0;
      gap_path_ = *w.path;
      gap_offset_ = w.offset;
    } else {
      if (!entries_.empty()) entries_.resize(first - entries_.front().index);
      const std::optional<raft::Term> prev = term_at(first - 1);
      if (prev && b.entries.front().term < *prev)
        return w.error("entry term lower than the entry before it");
    }
    for (raft::Entry& e : b.entries) entries_.push_back(std::move(e));
    return util::Status::ok();
  }

  util::Status apply_marker(const SnapshotMarker& m, bool keep_entries, const Where& w) {
    DKV_ASSERT(started_);
    if (m.index < marker_.index) return w.error("snapshot marker goes back");
    if (m.index == marker_.index) {
      if (m.term != marker_.term) return w.error("snapshot marker changes term at the same index");
      return util::Status::ok();
    }
    if (const std::optional<raft::Term> t = term_at(m.index); t && keep_entries != (*t == m.term)) {
      return w.error("snapshot marker disagrees with the term of its entry");
    }
    if (keep_entries) {
      // Drop what the snapshot covers. The entries up to m.index may be in
      // segments compaction deleted (m.index past what this replay holds):
      // the writer saw them, and the marker now covers them.
      std::size_t drop = 0;
      if (!entries_.empty() && entries_.front().index <= m.index) {
        drop = std::min<std::size_t>(entries_.size(), m.index - entries_.front().index + 1);
      }
      keep_before(drop, m);
      entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(drop));
      if (m.index >= gap_end_) gap_end_ = 0;
    } else {
      entries_.clear();  // An installed snapshot replaces the whole log.
      before_.clear();
      gap_end_ = 0;
    }
    marker_ = m;
    return util::Status::ok();
  }

  util::Status finish() const {
    if (gap_end_ != 0) {
      return corruption(gap_path_, gap_offset_,
                        "entries " + std::to_string(marker_.index + 1) + ".." +
                            std::to_string(gap_end_) + " before this batch are missing");
    }
    return util::Status::ok();
  }

  bool started() const { return started_; }
  raft::Index last_index() const {
    if (!entries_.empty()) return entries_.back().index;
    return std::max(marker_.index, gap_end_);
  }
  // Highest entry index seen since the last call (per-segment bookkeeping).
  raft::Index take_segment_max_index() { return std::exchange(segment_max_index_, 0); }

  raft::HardState hard_state_;
  SnapshotMarker marker_;
  std::vector<raft::Entry> entries_;
  // Entries up to marker_.index still on disk, ending exactly at it; at most
  // before_max_.
  std::deque<raft::Entry> before_;

 private:
  // A keep-entries marker m drops entries_[0, drop): they become the newest
  // entries before the snapshot, if they end at m.index.
  void keep_before(std::size_t drop, const SnapshotMarker& m) {
    if (before_max_ == 0) return;
    const bool joins =
        drop > 0 && (before_.empty() || before_.back().index + 1 == entries_.front().index);
    if (!joins) before_.clear();
    for (std::size_t i = 0; i < drop; ++i) before_.push_back(entries_[i]);
    if (before_.empty() || before_.back().index != m.index) before_.clear();
    while (before_.size() > before_max_) before_.pop_front();
  }

  std::optional<raft::Term> term_at(raft::Index index) const {
    if (index == marker_.index) return marker_.term;
    if (entries_.empty() || index < entries_.front().index || index > entries_.back().index) {
      return std::nullopt;
    }
    return entries_[index - entries_.front().index].term;
  }

  util::Status check_hard_state(const raft::HardState& hs, const Where& w) const {
    if (hs.term < hard_state_.term) return w.error("hard state term goes down");
    if (hs.term == hard_state_.term && hard_state_.vote != raft::kNoNode &&
        hs.vote != hard_state_.vote) {
      return w.error("hard state vote changes within a term");
    }
    if (hs.commit < hard_state_.commit) return w.error("hard state commit goes down");
    return util::Status::ok();
  }

  const std::size_t before_max_;
  bool started_ = false;
  // Entries in (marker_.index, gap_end_] were in deleted segments; 0: none.
  raft::Index gap_end_ = 0;
  std::string gap_path_;  // Where the gap was found, for the error.
  std::uint64_t gap_offset_ = 0;
  raft::Index segment_max_index_ = 0;
};

// True if some valid record starts in buf[from, end).
std::optional<std::size_t> find_valid_record(std::string_view buf, std::size_t from) {
  for (std::size_t q = from; q + format::kRecordHeaderSize <= buf.size(); ++q) {
    if (buf[q] == 0 && buf[q + 4] == 0 && buf[q + 8] == 0) continue;  // Cheap skip of zeros.
    if (format::parse_record(buf, q).outcome == ParseOutcome::kOk) return q;
  }
  return std::nullopt;
}

std::optional<std::size_t> first_non_zero(std::string_view buf, std::size_t from) {
  for (std::size_t q = from; q < buf.size(); ++q) {
    if (buf[q] != 0) return q;
  }
  return std::nullopt;
}

struct ScanResult {
  std::uint64_t valid_bytes = 0;  // End of the last good record.
  bool torn = false;              // The last segment had a torn tail.
  bool has_state = false;
  bool has_records = false;  // A batch or marker after the kState record.
  std::string torn_why;      // If torn: what was wrong there.
};

// Reads and checks the header record at the start of segment `seq`.
util::Status read_segment_header(const std::string& path, std::string_view buf, std::uint64_t seq,
                                 format::SegmentHeader* header, std::size_t* header_bytes) {
  const format::ParsedRecord h = format::parse_record(buf, 0);
  const char* problem = "";
  if (h.outcome != ParseOutcome::kOk || h.type != RecordType::kSegmentHeader) {
    return corruption(path, 0, "bad segment header");
  }
  if (!format::decode_segment_header(h.payload, header, &problem)) {
    return corruption(path, 0, problem);
  }
  if (header->seq != seq) return corruption(path, 0, "segment header names another segment number");
  *header_bytes = h.size;
  return util::Status::ok();
}

// Decodes one valid record and replays it.
util::Status apply_record(const format::ParsedRecord& r, const Where& w, Replayer* replay,
                          ScanResult* out) {
  const char* problem = "";
  if (!out->has_state && r.type != RecordType::kState) {
    return w.error("segment does not start with a state record");
  }
  switch (r.type) {
    case RecordType::kState: {
      if (out->has_state) return w.error("second state record in a segment");
      format::StateRecord st;
      if (!format::decode_state(r.payload, &st, &problem)) return w.error(problem);
      out->has_state = true;
      return replay->apply_state(st, w);
    }
    case RecordType::kBatch: {
      format::Batch b;
      if (!format::decode_batch(r.payload, &b, &problem)) return w.error(problem);
      return replay->apply_batch(std::move(b), w);
    }
    case RecordType::kMarker: {
      SnapshotMarker m;
      bool keep = false;
      if (!format::decode_marker(r.payload, &m, &keep, &problem)) return w.error(problem);
      return replay->apply_marker(m, keep, w);
    }
    default:
      return w.error("unexpected record type in a segment");
  }
}

// Replays the records of one segment from `pos` (after its header). In the
// last segment a bad spot with no valid record after it is a torn tail
// (out->torn, out->valid_bytes where it starts); anywhere else it is
// corruption (format.h, "What a crash leaves").
util::Status scan_records(const std::string& path, std::string_view buf, std::size_t pos,
                          bool is_last, Replayer* replay, ScanResult* out) {
  while (pos < buf.size()) {
    const format::ParsedRecord r = format::parse_record(buf, pos);
    if (r.outcome == ParseOutcome::kOk) {
      if (auto s = apply_record(r, Where{&path, pos}, replay, out); !s.is_ok()) return s;
      out->has_records = out->has_records || r.type != RecordType::kState;
      pos += r.size;
      continue;
    }
    std::size_t bad_at = pos;
    const char* problem = r.problem;
    if (r.outcome == ParseOutcome::kZero) {
      const auto nz = first_non_zero(buf, pos);
      if (!nz) break;  // Preallocated zeros: the normal end of the data.
      bad_at = *nz;
      problem = "non-zero bytes after the end of the data";
    }
    if (!is_last) return corruption(path, bad_at, problem);
    if (const auto q = find_valid_record(buf, pos + 1)) {
      return corruption(
          path, pos,
          std::string(problem) + ", and a valid record follows at offset " + std::to_string(*q));
    }
    out->torn = true;  // A torn write at the end of the log: cut it off.
    out->torn_why = problem;
    break;
  }
  out->valid_bytes = pos;
  if (!is_last && !out->has_state) return corruption(path, pos, "segment has no state record");
  return util::Status::ok();
}

}  // namespace

Log::Log(FileSystem& fs, std::string db_path, const Options& options)
    : fs_(fs),
      db_path_(std::move(db_path)),
      wal_dir_(join_path(db_path_, format::kWalDirName)),
      options_(options) {}

Log::~Log() = default;

util::Status Log::open(const std::string& db_path, const Options& options,
                       std::unique_ptr<Log>* log, Recovered* recovered) {
  if (options.cluster_id.size() > format::kIdBytesMax ||
      options.node_id.size() > format::kIdBytesMax) {
    return util::invalid_argument("wal: cluster id and node id must be at most 256 bytes");
  }
  if (options.segment_size_bytes < 1024 || options.segment_size_bytes > (1ull << 30)) {
    return util::invalid_argument("wal: segment size must be between 1 KiB and 1 GiB");
  }
  FileSystem& fs = options.fs != nullptr ? *options.fs : posix_file_system();
  std::unique_ptr<Log> l(new Log(fs, db_path, options));
  if (auto s = ensure_dir(fs, db_path); !s.is_ok()) return s;
  if (auto s = fs.lock(join_path(db_path, format::kLockFileName), &l->lock_); !s.is_ok()) return s;
  if (auto s = ensure_dir(fs, l->wal_dir_); !s.is_ok()) return s;
  *recovered = Recovered{};
  if (auto s = l->recover(recovered); !s.is_ok()) return s;
  *log = std::move(l);
  return util::Status::ok();
}

util::Status Log::list_segments(std::vector<std::uint64_t>* seqs) {
  std::vector<std::string> names;
  if (auto s = fs_.list_dir(wal_dir_, &names); !s.is_ok()) return s;
  bool removed_tmp = false;
  for (const std::string& n : names) {
    if (n.ends_with(format::kTmpSuffix)) {
      // A preallocated segment that never got its name: it holds no data.
      if (auto s = fs_.remove(join_path(wal_dir_, n)); !s.is_ok()) return s;
      removed_tmp = true;
    } else if (const auto seq = format::parse_segment_file_name(n)) {
      seqs->push_back(*seq);
    }
  }
  if (removed_tmp) {
    if (auto s = fs_.sync_dir(wal_dir_); !s.is_ok()) return s;
  }
  std::sort(seqs->begin(), seqs->end());
  for (std::size_t i = 1; i < seqs->size(); ++i) {
    if ((*seqs)[i] != (*seqs)[i - 1] + 1) {
      return corruption(join_path(wal_dir_, format::segment_file_name((*seqs)[i])), 0,
                        "segment " + std::to_string((*seqs)[i - 1] + 1) + " is missing");
    }
  }
  return util::Status::ok();
}

util::Status Log::check_metadata(const format::SegmentHeader& header, const std::string& path,
                                 bool first) {
  if (!first) {
    if (header.version == metadata_.format_version && header.cluster_id == metadata_.cluster_id &&
        header.node_id == metadata_.node_id) {
      return util::Status::ok();
    }
    return corruption(path, 0, "segment header metadata differs from the first segment's");
  }
  if (header.version != format::kFormatVersion) {
    return {util::Code::kFailedPrecondition,
            "wal: " + path + " has format version " + std::to_string(header.version) +
                ", this build reads version " + std::to_string(format::kFormatVersion)};
  }
  metadata_ = Metadata{header.version, header.cluster_id, header.node_id};
  if (!options_.cluster_id.empty() && options_.cluster_id != header.cluster_id) {
    return {util::Code::kFailedPrecondition, "wal: data directory " + db_path_ +
                                                 " belongs to cluster '" + header.cluster_id +
                                                 "', not '" + options_.cluster_id + "'"};
  }
  if (!options_.node_id.empty() && options_.node_id != header.node_id) {
    return {util::Code::kFailedPrecondition, "wal: data directory " + db_path_ +
                                                 " belongs to node '" + header.node_id +
                                                 "', not '" + options_.node_id + "'"};
  }
  return util::Status::ok();
}

util::Status Log::recover(Recovered* recovered) {
  std::vector<std::uint64_t> seqs;
  if (auto s = list_segments(&seqs); !s.is_ok()) return s;
  if (seqs.empty()) return create_new(recovered);
  Replayer replay(options_.entries_before_snapshot_max);
  ScanResult last_scan;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    const bool is_last = i + 1 == seqs.size();
    const std::string path = join_path(wal_dir_, format::segment_file_name(seqs[i]));
    std::unique_ptr<File> f;
    const OpenMode mode = is_last ? OpenMode::kReadWrite : OpenMode::kRead;
    if (auto s = fs_.open(path, mode, &f); !s.is_ok()) return s;
    std::string buf;
    if (auto s = read_whole_file(*f, &buf); !s.is_ok()) return s;
    format::SegmentHeader header;
    std::size_t header_bytes = 0;
    if (auto s = read_segment_header(path, buf, seqs[i], &header, &header_bytes); !s.is_ok()) {
      return s;
    }
    if (auto s = check_metadata(header, path, i == 0); !s.is_ok()) return s;
    ScanResult scan;
    if (auto s = scan_records(path, buf, header_bytes, is_last, &replay, &scan); !s.is_ok()) {
      return s;
    }
    segments_.push_back({seqs[i], path, replay.take_segment_max_index()});
    if (is_last) {
      active_ = std::move(f);
      last_scan = scan;
    }
  }
  if (!replay.started() && (segments_.size() != 1 || segments_.front().seq != 1)) {
    // Without a state record the state is empty, which is only true for a
    // log that crashed while being created (one segment, number 1).
    return corruption(segments_.front().path, 0, "no state record in the log");
  }
  if (auto s = replay.finish(); !s.is_ok()) return s;
  hard_state_ = replay.hard_state_;
  marker_ = replay.marker_;
  last_index_ = std::max(replay.last_index(), marker_.index);
  term_runs_.clear();
  note_entries(replay.entries_);
  recovered->hard_state = hard_state_;
  recovered->snapshot = marker_;
  recovered->entries = std::move(replay.entries_);
  recovered->entries_before_snapshot.assign(replay.before_.begin(), replay.before_.end());
  if (!recovered->entries.empty()) {
    DKV_ASSERT(recovered->entries.front().index == marker_.index + 1);
    DKV_ASSERT(recovered->entries.back().index == last_index_);
  }
  if (last_scan.torn) {
    recovered->torn_tail = "cut a torn write at " + segments_.back().path + " offset " +
                           std::to_string(last_scan.valid_bytes) + " (" + last_scan.torn_why + ")";
  }
  return open_active_after_recovery(last_scan.valid_bytes, last_scan.has_state,
                                    last_scan.has_records, last_scan.torn);
}

util::Status Log::open_active_after_recovery(std::uint64_t valid_bytes, bool has_state,
                                             bool has_records, bool torn) {
  active_offset_bytes_ = valid_bytes;
  zeroed_until_ = valid_bytes;  // What lies after it is not known to be written.
  active_has_records_ = has_records;
  if (torn) {
    // Cut the torn tail and zero the space again before anything new is
    // written after it.
    if (auto s = active_->truncate(valid_bytes); !s.is_ok()) return fail(s);
    if (auto s = active_->allocate(options_.segment_size_bytes); !s.is_ok()) return fail(s);
  }
  // What open() returns must be durable even if the previous process wrote
  // it without syncing (it died between save() and sync()): the node will
  // treat the recovered entries and hard state as persisted.
  if (auto s = active_->sync(); !s.is_ok()) return fail(s);
  if (auto s = fs_.sync_dir(wal_dir_); !s.is_ok()) return fail(s);
  if (!has_state) return write_state_and_sync();
  return util::Status::ok();
}

util::Status Log::write_state_and_sync() {
  DKV_ASSERT(!active_has_records_);
  std::string payload;
  format::encode_state(format::StateRecord{hard_state_, marker_}, &payload);
  std::string bytes;
  format::append_record(&bytes, RecordType::kState, payload);
  if (auto s = append_active(bytes); !s.is_ok()) return s;
  if (auto s = active_->sync(); !s.is_ok()) return fail(s);
  dirty_ = false;
  return util::Status::ok();
}

util::Status Log::create_new(Recovered* recovered) {
  metadata_ = Metadata{format::kFormatVersion, options_.cluster_id, options_.node_id};
  recovered->created = true;
  return switch_segment();
}

util::Status Log::fail(util::Status s) {
  DKV_ASSERT(!s.is_ok());
  if (fatal_.is_ok())
    fatal_ = util::Status(s.code(), "wal is unusable after a failed write: " + s.message());
  return fatal_;
}

util::Status Log::append_active(const std::string& bytes) {
  DKV_ASSERT(active_ != nullptr);
  const std::uint64_t end = active_offset_bytes_ + bytes.size();
  zeroed_until_ = std::max(zeroed_until_, end);
  if (zeroed_until_ - end < kZeroAheadMinBytes && zeroed_until_ < options_.segment_size_bytes) {
    // Zeros where the preallocation already reads as zeros, written before
    // the record: a failed or torn zeroing changes nothing recovery reads,
    // and a failed save() leaves no record behind.
    static const std::string kZeros(kZeroAheadBytes, '\0');
    const std::uint64_t n =
        std::min<std::uint64_t>(kZeroAheadBytes, options_.segment_size_bytes - zeroed_until_);
    const std::string_view zeros = std::string_view(kZeros).substr(0, n);
    if (auto s = active_->write_at(zeroed_until_, zeros); !s.is_ok()) return fail(s);
    zeroed_until_ += n;
  }
  if (auto s = active_->write_at(active_offset_bytes_, bytes); !s.is_ok()) return fail(s);
  active_offset_bytes_ = end;
  return util::Status::ok();
}

util::Status Log::write_record_bytes(const std::string& bytes, raft::Index max_index) {
  if (auto s = append_active(bytes); !s.is_ok()) return s;
  active_has_records_ = true;
  dirty_ = true;
  segments_.back().max_index = std::max(segments_.back().max_index, max_index);
  return util::Status::ok();
}

util::Status Log::prepare_next_segment() {
  DKV_ASSERT(next_ == nullptr);
  const std::uint64_t seq = segments_.empty() ? 1 : segments_.back().seq + 1;
  const std::string tmp =
      join_path(wal_dir_, format::segment_file_name(seq) + std::string(format::kTmpSuffix));
  std::unique_ptr<File> f;
  if (auto s = fs_.open(tmp, OpenMode::kCreate, &f); !s.is_ok()) return fail(s);
  if (auto s = f->truncate(0); !s.is_ok()) return fail(s);
  if (auto s = f->allocate(options_.segment_size_bytes); !s.is_ok()) return fail(s);
  std::string payload;
  format::encode_segment_header(
      format::SegmentHeader{format::kFormatVersion, seq, metadata_.cluster_id, metadata_.node_id},
      &payload);
  std::string header;
  format::append_record(&header, RecordType::kSegmentHeader, payload);
  if (auto s = f->write_at(0, header); !s.is_ok()) return fail(s);
  // The header must be durable before the file gets its .wal name. No
  // directory sync here: the .tmp name is worthless after a crash, and the
  // rename in switch_segment() is followed by one.
  if (auto s = f->sync(); !s.is_ok()) return fail(s);
  next_ = std::move(f);
  next_seq_ = seq;
  next_header_bytes_ = header.size();
  return util::Status::ok();
}

util::Status Log::switch_segment() {
  // The segment being closed must be durable before its successor gets a
  // name: recovery only forgives a torn tail in the last segment.
  if (dirty_) {
    if (auto s = active_->sync(); !s.is_ok()) return fail(s);
    dirty_ = false;
  }
  if (next_ == nullptr) {
    if (auto s = prepare_next_segment(); !s.is_ok()) return s;
  }
  const std::string path = join_path(wal_dir_, format::segment_file_name(next_seq_));
  if (auto s = rename_durably(fs_, path + std::string(format::kTmpSuffix), path); !s.is_ok()) {
    return fail(s);
  }
  segments_.push_back({next_seq_, path, 0});
  active_ = std::move(next_);
  active_offset_bytes_ = next_header_bytes_;
  zeroed_until_ = active_offset_bytes_;
  active_has_records_ = false;
  // The state goes in alone, durably: each later save() is then exactly one
  // record, so the only damage a crash can do is to the last record.
  return write_state_and_sync();
}

raft::Term Log::term_at(raft::Index index) const {
  if (index == marker_.index) return marker_.term;
  if (index < marker_.index || index > last_index_ || term_runs_.empty()) return 0;
  auto it = std::upper_bound(term_runs_.begin(), term_runs_.end(), index,
                             [](raft::Index i, const auto& run) { return i < run.first; });
  DKV_ASSERT(it != term_runs_.begin());
  return std::prev(it)->second;
}

void Log::note_entries(std::span<const raft::Entry> entries) {
  if (entries.empty()) return;
  const raft::Index first = entries.front().index;
  while (!term_runs_.empty() && term_runs_.back().first >= first) term_runs_.pop_back();
  for (const raft::Entry& e : entries) {
    if (term_runs_.empty() || term_runs_.back().second != e.term)
      term_runs_.emplace_back(e.index, e.term);
  }
  last_index_ = entries.back().index;
}

void Log::check_batch(const raft::HardState* hs, std::span<const raft::Entry> entries) const {
  if (hs != nullptr) {
    DKV_ASSERT(hs->term >= hard_state_.term);
    DKV_ASSERT(hs->term > hard_state_.term || hard_state_.vote == raft::kNoNode ||
               hs->vote == hard_state_.vote);
    DKV_ASSERT(hs->commit >= hard_state_.commit);
  }
  if (entries.empty()) return;
  const raft::Index first = entries.front().index;
  DKV_ASSERT(first > marker_.index);     // Never overwrite what a snapshot covers.
  DKV_ASSERT(first <= last_index_ + 1);  // No gaps.
  DKV_ASSERT(entries.front().term >= term_at(first - 1));
  for (std::size_t i = 1; i < entries.size(); ++i) {
    DKV_ASSERT(entries[i].index == entries[i - 1].index + 1);
    DKV_ASSERT(entries[i].term >= entries[i - 1].term);
  }
}

util::Status Log::save(const raft::HardState* hard_state, std::span<const raft::Entry> entries) {
  if (!fatal_.is_ok()) return fatal_;
  if (hard_state != nullptr && *hard_state == hard_state_) hard_state = nullptr;
  if (hard_state == nullptr && entries.empty()) return util::Status::ok();
  check_batch(hard_state, entries);
  const std::size_t record_bytes =
      format::kRecordHeaderSize + format::batch_payload_size(hard_state, entries);
  if (active_has_records_ && active_offset_bytes_ + record_bytes > options_.segment_size_bytes) {
    if (auto s = switch_segment(); !s.is_ok()) return s;
  }
  std::string& bytes = write_buffer_;  // Reused: no allocation per Ready.
  bytes.clear();
  bytes.reserve(record_bytes);
  const std::size_t start = format::begin_record(&bytes);
  format::encode_batch(hard_state, entries, &bytes);
  format::end_record(&bytes, start, RecordType::kBatch);
  const raft::Index max_index = entries.empty() ? 0 : entries.back().index;
  if (auto s = write_record_bytes(bytes, max_index); !s.is_ok()) return s;
  if (bytes.capacity() > (4u << 20)) std::string().swap(bytes);  // Don't hoard a huge batch.
  if (hard_state != nullptr) hard_state_ = *hard_state;
  note_entries(entries);
  return util::Status::ok();
}

util::Status Log::sync() {
  if (!fatal_.is_ok()) return fatal_;
  if (dirty_) {
    if (auto s = active_->sync(); !s.is_ok()) return fail(s);
    dirty_ = false;
  }
  // Create the next segment ahead of need, once this one is half full.
  if (next_ == nullptr && active_offset_bytes_ >= options_.segment_size_bytes / 2) {
    if (auto s = prepare_next_segment(); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

util::Status Log::save_snapshot_marker(SnapshotMarker marker) {
  if (!fatal_.is_ok()) return fatal_;
  DKV_ASSERT(marker.index >= marker_.index);
  if (marker.index == marker_.index) {
    DKV_ASSERT(marker.term == marker_.term);
    return sync();
  }
  // Keep the entries after the marker if the log has its entry (Log
  // Matching, Raft §5.3); otherwise the snapshot replaces the log (§7).
  const bool keep = marker.index <= last_index_ && term_at(marker.index) == marker.term;
  std::string payload;
  format::encode_marker(marker, keep, &payload);
  const std::size_t record_bytes = format::kRecordHeaderSize + payload.size();
  if (active_has_records_ && active_offset_bytes_ + record_bytes > options_.segment_size_bytes) {
    if (auto s = switch_segment(); !s.is_ok()) return s;
  }
  std::string bytes;
  format::append_record(&bytes, RecordType::kMarker, payload);
  if (auto s = write_record_bytes(bytes, 0); !s.is_ok()) return s;
  if (keep && marker.index < last_index_) {
    auto it = std::upper_bound(term_runs_.begin(), term_runs_.end(), marker.index + 1,
                               [](raft::Index i, const auto& run) { return i < run.first; });
    DKV_ASSERT(it != term_runs_.begin());
    std::vector<std::pair<raft::Index, raft::Term>> kept{{marker.index + 1, std::prev(it)->second}};
    kept.insert(kept.end(), it, term_runs_.end());
    term_runs_ = std::move(kept);
  } else {
    term_runs_.clear();
    last_index_ = std::max(last_index_, marker.index);
    if (!keep) last_index_ = marker.index;
  }
  marker_ = marker;
  return sync();
}

util::Status Log::release_to(raft::Index index) {
  if (!fatal_.is_ok()) return fatal_;
  DKV_ASSERT(index <= marker_.index + 1);
  // Every segment's kState record is durable before anything else goes into
  // it (switch_segment), so the segment after a deleted one always carries
  // the state. Sync what is pending anyway: compaction is rare.
  if (auto s = sync(); !s.is_ok()) return s;
  bool removed = false;
  while (segments_.size() > 1 && segments_.front().max_index < index) {
    if (auto s = fs_.remove(segments_.front().path); !s.is_ok()) return fail(s);
    segments_.pop_front();
    removed = true;
  }
  if (removed) {
    if (auto s = fs_.sync_dir(wal_dir_); !s.is_ok()) return fail(s);
  }
  return util::Status::ok();
}

}  // namespace dkv::wal
