#include "kv/store.h"

#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kv/limits.h"
#include "kv/map_gate.h"
#include "kv/unsynced_marker.h"
#include "util/assert.h"
#include "util/varint.h"

namespace dkv::kv {
namespace {

constexpr char kAppliedIndexKey[] = "applied_index";
constexpr char kMembershipKey[] = "membership";
// Pages a put may dirty beyond its own bytes (copy-on-write of the path from
// the root, a split): used to keep a batch from reaching the map limit.
constexpr std::uint64_t kPutOverheadBytes = 4 * 4096;

// The memory map (and, with MDB_WRITEMAP, data.mdb's apparent size) starts
// at StoreOptions::initial_map_bytes and grows with the data: doubling up to
// 1 GiB, then by 1 GiB, up to the quota plus headroom. A write transaction
// first makes room for what it may add plus kRoomSlackBytes (free-list and
// meta pages).
constexpr std::uint64_t kMapDoublingLimitBytes = 1ull << 30;
constexpr std::uint64_t kRoomSlackBytes = 4ull << 20;

// The map size after growing `map` until `want` fills at most half of it.
std::uint64_t grown_map_bytes(std::uint64_t map, std::uint64_t want, std::uint64_t max) {
  while (map < max && map < 2 * want) {
    map = map < kMapDoublingLimitBytes ? 2 * map : map + kMapDoublingLimitBytes;
  }
  return std::min(map, max);
}

util::Status lmdb_error(const char* what, int rc) {
  const auto code = rc == MDB_MAP_FULL ? util::Code::kResourceExhausted : util::Code::kInternal;
  return {code, std::string(what) + ": " + mdb_strerror(rc)};
}

MDB_val as_val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

// Aborts a transaction unless it was committed.
class TxnGuard {
 public:
  explicit TxnGuard(MDB_txn* txn) : txn_(txn) {}
  ~TxnGuard() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }
  MDB_txn* get() const { return txn_; }
  int commit() {
    const int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // Freed by commit whatever its outcome.
    return rc;
  }

 private:
  MDB_txn* txn_;
};

// Snapshot image: kImageMagic | varint applied index | varint n | membership
// (n bytes) | pairs: varint key length (>= 1) | key | varint value length |
// value | ... | varint 0 (end).
constexpr std::string_view kImageMagic = "DKVSNAP1";

using util::get_varint;
using util::put_varint;

bool get_bytes(std::string_view* in, std::string_view* out) {
  std::uint64_t n = 0;
  if (!get_varint(in, &n) || n > in->size()) return false;
  *out = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// The image's header: magic, applied index, membership.
void append_image_header(std::string* out, std::uint64_t applied_index,
                         std::string_view membership) {
  out->append(kImageMagic);
  put_varint(out, applied_index);
  put_varint(out, membership.size());
  out->append(membership);
}

// One pair of the image: key length, key, value length, value.
void append_image_pair(std::string* out, const MDB_val& key, const MDB_val& val) {
  put_varint(out, key.mv_size);
  out->append(static_cast<const char*>(key.mv_data), key.mv_size);
  put_varint(out, val.mv_size);
  out->append(static_cast<const char*>(val.mv_data), val.mv_size);
}

util::Status bad_image(const std::string& what) {
  return {util::Code::kDataLoss, "malformed snapshot image: " + what};
}

// Parses the header; leaves `in` at the first pair.
util::Status parse_image_header(std::string_view* in, std::uint64_t* applied_index,
                                std::string_view* membership) {
  if (in->substr(0, kImageMagic.size()) != kImageMagic) return bad_image("bad magic");
  in->remove_prefix(kImageMagic.size());
  if (!get_varint(in, applied_index)) return bad_image("no applied index");
  if (!get_bytes(in, membership)) return bad_image("no membership");
  return util::Status::ok();
}

}  // namespace

struct Store::Env {
  MDB_env* env = nullptr;
  MDB_dbi kv = 0;
  MDB_dbi meta = 0;
  std::uint64_t page_bytes = 4096;
  std::atomic<std::uint64_t> applied_index{0};
  // Set in kDeferred mode (with a known boot id): commits are not fsynced.
  std::unique_ptr<UnsyncedMarker> marker;
  bool rebuilt = false;

  // Every write transaction commits through here.
  util::Status commit(TxnGuard* guard) {
    if (marker != nullptr) {
      if (auto s = marker->set(); !s.is_ok()) return s;
    }
    if (const int rc = guard->commit(); rc != 0) return lmdb_error("commit", rc);
    return util::Status::ok();
  }
  // A restore committed part of an image and has not finished: get() refuses.
  std::atomic<bool> restoring{false};

  // The map. Read transactions hold `gate`; only the writer thread resizes,
  // between its write transactions, so map_bytes is the writer's alone.
  MapGate gate;
  std::uint64_t map_bytes = 0;
  std::uint64_t map_bytes_max = 0;  // The quota plus headroom.
  // The high-water mark of pages, refreshed by the writer after each commit.
  std::atomic<std::uint64_t> used_bytes{0};

  // Writer thread, no transaction open.
  void refresh_used() {
    MDB_envinfo info;
    mdb_env_info(env, &info);
    used_bytes = (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * page_bytes;
    map_bytes = info.me_mapsize;
  }

  // Writer thread, no transaction open: grows the map ahead of a write
  // transaction that may add up to `txn_bytes` pages. Past half of the map
  // it grows unless a read view is open (a snapshot or backup pins the old
  // map until it ends; point reads take microseconds); past the end it
  // waits for every reader.
  util::Status make_room(std::uint64_t txn_bytes) {
    const std::uint64_t want = used_bytes.load() + txn_bytes + kRoomSlackBytes;
    if (map_bytes >= map_bytes_max || want <= map_bytes / 2) return util::Status::ok();
    return grow(want, /*wait=*/want > map_bytes);
  }

  util::Status grow(std::uint64_t want, bool wait) {
    const std::uint64_t before = map_bytes;
    const std::uint64_t target = grown_map_bytes(map_bytes, want, map_bytes_max);
    if (target <= before) return util::Status::ok();
    if (wait) {
      if (const int views = gate.long_readers(); views > 0) {
        spdlog::warn("LMDB map is full: writes wait for {} read views (snapshot or backup) to end",
                     views);
      }
      gate.close();
    } else if (!gate.close_unless_long()) {
      return util::Status::ok();  // A view is open: the next transaction tries again.
    }
    const int rc = mdb_env_set_mapsize(env, target);
    gate.open();
    if (rc != 0) return lmdb_error("mdb_env_set_mapsize", rc);
    refresh_used();
    spdlog::info("LMDB map grown from {} to {} MiB ({} MiB used)", before >> 20, map_bytes >> 20,
                 used_bytes.load() >> 20);
    return util::Status::ok();
  }

  ~Env() {
    if (env == nullptr) return;
    // A clean close leaves nothing unsynced (a failed sync keeps the marker).
    if (marker != nullptr && marker->is_set() && mdb_env_sync(env, 1) == 0) {
      (void)marker->clear();
    }
    mdb_env_close(env);
  }
};

Store::Store(StoreOptions options, std::unique_ptr<Env> env)
    : options_(std::move(options)), env_(std::move(env)) {}

Store::~Store() = default;

util::Status Store::open(const StoreOptions& options, std::unique_ptr<Store>* out) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return util::internal_error("create " + options.dir + ": " + ec.message());

  auto env = std::make_unique<Env>();
  const std::string boot_id = options.boot_id.empty() ? current_boot_id() : options.boot_id;
  if (options.durability == StoreOptions::Durability::kDeferred && !boot_id.empty()) {
    env->marker = std::make_unique<UnsyncedMarker>(options.dir, boot_id);
    if (env->marker->left_by_machine_crash()) {
      // The environment may be torn: start empty; the node restores the last
      // snapshot and replays the WAL.
      for (const char* name : {"/data.mdb", "/lock.mdb"}) {
        std::filesystem::remove(options.dir + name, ec);
        if (ec) return util::internal_error("remove " + options.dir + name + ": " + ec.message());
      }
      if (auto s = env->marker->clear(); !s.is_ok()) return s;
      env->rebuilt = true;
    }
  }
  int rc = mdb_env_create(&env->env);
  if (rc != 0) return lmdb_error("mdb_env_create", rc);
  // Headroom above the quota absorbs copy-on-write pages and the free list,
  // so that a batch admitted under the quota never hits the map limit.
  // The map starts small and grows with the data (Env::make_room); LMDB
  // raises a smaller size to what the file already uses.
  const std::uint64_t headroom = std::max<std::uint64_t>(options.quota_bytes / 8, 64ull << 20);
  env->map_bytes_max = options.quota_bytes + headroom;
  rc = mdb_env_set_mapsize(env->env, std::min(options.initial_map_bytes, env->map_bytes_max));
  if (rc != 0) return lmdb_error("mdb_env_set_mapsize", rc);
  rc = mdb_env_set_maxdbs(env->env, 2);
  if (rc != 0) return lmdb_error("mdb_env_set_maxdbs", rc);
  // MDB_WRITEMAP: a commit writes its pages in the shared map instead of
  // one pwrite per dirty page (~40 syscalls per applied batch of random
  // keys, the raft thread's largest cost in issue 8's profile). The file is
  // then as large as the map (sparse beyond the used pages); a page that
  // cannot be allocated (disk full) raises SIGBUS, which cmd/dkv turns into
  // a one-line fatal stop.
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_WRITEMAP;
  if (env->marker != nullptr) flags |= MDB_NOSYNC;
  rc = mdb_env_open(env->env, options.dir.c_str(), flags, 0644);
  if (rc != 0) return lmdb_error(("open LMDB in " + options.dir).c_str(), rc);
  DKV_ASSERT(static_cast<std::size_t>(mdb_env_get_maxkeysize(env->env)) >= kKeyBytesMax);

  MDB_stat stat;
  mdb_env_stat(env->env, &stat);
  env->page_bytes = stat.ms_psize;
  env->refresh_used();
  if (auto s = env->make_room(0); !s.is_ok()) return s;

  MDB_txn* txn = nullptr;
  rc = mdb_txn_begin(env->env, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);
  if ((rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &env->kv)) != 0) return lmdb_error("open kv", rc);
  if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &env->meta)) != 0) {
    return lmdb_error("open meta", rc);
  }
  MDB_val key = as_val(kAppliedIndexKey);
  MDB_val val;
  rc = mdb_get(txn, env->meta, &key, &val);
  if (rc == 0) {
    if (val.mv_size != sizeof(std::uint64_t)) {
      return {util::Code::kDataLoss, "corrupt applied index in " + options.dir};
    }
    std::uint64_t index = 0;
    std::memcpy(&index, val.mv_data, sizeof index);
    env->applied_index = index;
  } else if (rc != MDB_NOTFOUND) {
    return lmdb_error("read applied index", rc);
  }
  if (auto s = env->commit(&guard); !s.is_ok()) return s;
  env->refresh_used();

  out->reset(new Store(options, std::move(env)));
  return util::Status::ok();
}

util::Status Store::apply(std::span<const Command> commands, std::uint64_t applied_index,
                          std::vector<ApplyResult>* results) {
  DKV_ASSERT(applied_index > env_->applied_index.load());
  std::uint64_t txn_bytes = kPutOverheadBytes;  // The applied index.
  for (const Command& c : commands) {
    txn_bytes += c.op == Op::kPut ? put_cost_bytes(c) : c.key.size() + kPutOverheadBytes;
  }
  if (auto s = env_->make_room(txn_bytes); !s.is_ok()) return s;
  util::Status s = apply_txn(commands, applied_index, results);
  // The estimate fell short: grow (waiting for readers) and apply again, so
  // that only the quota's limit refuses a batch (a replica must not).
  while (s.code() == util::Code::kResourceExhausted && env_->map_bytes < env_->map_bytes_max) {
    if (auto g = env_->grow(env_->map_bytes + 1, /*wait=*/true); !g.is_ok()) return g;
    s = apply_txn(commands, applied_index, results);
  }
  return s;
}

util::Status Store::apply_txn(std::span<const Command> commands, std::uint64_t applied_index,
                              std::vector<ApplyResult>* results) {
  results->assign(commands.size(), ApplyResult{});
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);

  for (std::size_t i = 0; i < commands.size(); ++i) {
    const Command& c = commands[i];
    DKV_ASSERT(c.key.size() >= kKeyBytesMin);
    DKV_ASSERT(c.key.size() <= kKeyBytesMax);
    MDB_val key = as_val(c.key);
    if (c.op == Op::kPut) {
      MDB_val val = as_val(c.value);
      if ((rc = mdb_put(txn, env_->kv, &key, &val, 0)) != 0) return lmdb_error("mdb_put", rc);
    } else {
      rc = mdb_del(txn, env_->kv, &key, nullptr);
      if (rc == 0) {
        (*results)[i].deleted = 1;
      } else if (rc != MDB_NOTFOUND) {
        return lmdb_error("mdb_del", rc);
      }
    }
  }
  MDB_val key = as_val(kAppliedIndexKey);
  MDB_val val{sizeof applied_index, &applied_index};
  if ((rc = mdb_put(txn, env_->meta, &key, &val, 0)) != 0) {
    return lmdb_error("record applied index", rc);
  }
  if (auto s = env_->commit(&guard); !s.is_ok()) return s;
  env_->refresh_used();
  env_->applied_index = applied_index;
  return util::Status::ok();
}

util::Status Store::set_membership(const std::string& membership, std::uint64_t applied_index) {
  DKV_ASSERT(applied_index >= env_->applied_index.load());
  if (auto s = env_->make_room(membership.size() + 2 * kPutOverheadBytes); !s.is_ok()) return s;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);
  MDB_val key = as_val(kMembershipKey);
  MDB_val val = as_val(membership);
  if ((rc = mdb_put(txn, env_->meta, &key, &val, 0)) != 0)
    return lmdb_error("record membership", rc);
  key = as_val(kAppliedIndexKey);
  val = MDB_val{sizeof applied_index, &applied_index};
  if ((rc = mdb_put(txn, env_->meta, &key, &val, 0)) != 0) {
    return lmdb_error("record applied index", rc);
  }
  if (auto s = env_->commit(&guard); !s.is_ok()) return s;
  env_->refresh_used();
  env_->applied_index = applied_index;
  return util::Status::ok();
}

util::Status Store::membership(std::string* out) const {
  MapGateReader in_map(env_->gate);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);
  MDB_val key = as_val(kMembershipKey);
  MDB_val val;
  rc = mdb_get(txn, env_->meta, &key, &val);
  if (rc == MDB_NOTFOUND) return util::not_found("no membership recorded");
  if (rc != 0) return lmdb_error("read membership", rc);
  out->assign(static_cast<const char*>(val.mv_data), val.mv_size);
  return util::Status::ok();
}

util::Status Store::get(std::string_view key_bytes, std::string* value) const {
  MapGateReader in_map(env_->gate);
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);
  // Checked after the transaction began: restore() sets the flag before its
  // first commit, so a transaction that could see a part has to see it set.
  if (env_->restoring) return util::unavailable("restoring a snapshot");
  MDB_val key = as_val(key_bytes);
  MDB_val val;
  rc = mdb_get(txn, env_->kv, &key, &val);
  if (rc == MDB_NOTFOUND) return util::not_found("key not found");
  if (rc != 0) return lmdb_error("mdb_get", rc);
  value->assign(static_cast<const char*>(val.mv_data), val.mv_size);
  return util::Status::ok();
}

Store::ReadView::~ReadView() {
  mdb_txn_abort(static_cast<MDB_txn*>(txn_));
  gate_->leave_long();
}

util::Status Store::open_view(std::unique_ptr<ReadView>* out) const {
  env_->gate.enter_long();  // Left by ~ReadView, on whichever thread.
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) {
    env_->gate.leave_long();
    return lmdb_error("mdb_txn_begin", rc);
  }
  out->reset(new ReadView(txn, &env_->gate));
  return util::Status::ok();
}

util::Status Store::dump(std::string* image, std::uint64_t* applied_index,
                         std::string* membership) const {
  std::unique_ptr<ReadView> view;
  if (auto s = open_view(&view); !s.is_ok()) return s;
  return dump(*view, image, applied_index, membership);
}

util::Status Store::dump(const ReadView& view, std::string* image, std::uint64_t* applied_index,
                         std::string* membership) const {
  if (auto s = view_header(view, applied_index, membership); !s.is_ok()) return s;
  image->clear();
  return dump(view, [image](std::string_view piece) {
    image->append(piece);
    return util::Status::ok();
  });
}

util::Status Store::view_header(const ReadView& view, std::uint64_t* applied_index,
                                std::string* membership) const {
  auto* txn = static_cast<MDB_txn*>(view.txn_);
  MDB_val key = as_val(kAppliedIndexKey);
  MDB_val val;
  *applied_index = 0;
  int rc = mdb_get(txn, env_->meta, &key, &val);
  if (rc == 0 && val.mv_size == sizeof *applied_index) {
    std::memcpy(applied_index, val.mv_data, sizeof *applied_index);
  } else if (rc != 0 && rc != MDB_NOTFOUND) {
    return lmdb_error("read applied index", rc);
  }
  key = as_val(kMembershipKey);
  membership->clear();
  rc = mdb_get(txn, env_->meta, &key, &val);
  if (rc == 0) {
    membership->assign(static_cast<const char*>(val.mv_data), val.mv_size);
  } else if (rc != MDB_NOTFOUND) {
    return lmdb_error("read membership", rc);
  }
  return util::Status::ok();
}

util::Status Store::dump(const ReadView& view, const ImageOut& out) const {
  std::uint64_t index = 0;
  std::string membership;
  if (auto s = view_header(view, &index, &membership); !s.is_ok()) return s;
  std::string piece;
  piece.reserve(kImagePieceBytes + 64);
  append_image_header(&piece, index, membership);
  auto* txn = static_cast<MDB_txn*>(view.txn_);
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, env_->kv, &cursor);
  if (rc != 0) return lmdb_error("cursor", rc);
  MDB_val key;
  MDB_val val;
  util::Status status;
  for (rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
    append_image_pair(&piece, key, val);
    if (piece.size() >= kImagePieceBytes) {
      if (status = out(piece); !status.is_ok()) break;
      piece.clear();
    }
  }
  mdb_cursor_close(cursor);
  if (!status.is_ok()) return status;
  if (rc != MDB_NOTFOUND) return lmdb_error("cursor scan", rc);
  put_varint(&piece, 0);
  return out(piece);
}

namespace {

std::uint64_t varint_bytes(std::uint64_t v) {
  std::uint64_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

Store::ImageReader::ImageReader(const Store& store, std::unique_ptr<ReadView> view,
                                std::size_t chunk_bytes)
    : store_(store), view_(std::move(view)), chunk_bytes_(chunk_bytes) {}

Store::ImageReader::~ImageReader() {
  if (cursor_ != nullptr) mdb_cursor_close(static_cast<MDB_cursor*>(cursor_));
}

// Encodes the header into pending_ and sizes the whole image with a first
// pass over the pairs (sizes only: LMDB hands out pointers into its map, so
// the values are not copied).
util::Status Store::ImageReader::start() {
  std::string membership;
  if (auto s = store_.view_header(*view_, &applied_index_, &membership); !s.is_ok()) return s;
  append_image_header(&pending_, applied_index_, membership);

  auto* txn = static_cast<MDB_txn*>(view_->txn_);
  MDB_val key;
  MDB_val val;
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, store_.env_->kv, &cursor);
  if (rc != 0) return lmdb_error("cursor", rc);
  std::uint64_t pairs_bytes = 0;
  for (rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
    pairs_bytes +=
        varint_bytes(key.mv_size) + key.mv_size + varint_bytes(val.mv_size) + val.mv_size;
  }
  if (rc != MDB_NOTFOUND) {
    mdb_cursor_close(cursor);
    return lmdb_error("cursor scan", rc);
  }
  size_bytes_ = pending_.size() + pairs_bytes + 1;  // + the end marker (varint 0).
  // Positioned before the first pair: next() starts with MDB_FIRST.
  cursor_ = cursor;
  return util::Status::ok();
}

util::Status Store::ImageReader::next(std::string* chunk, bool* done) {
  auto* cursor = static_cast<MDB_cursor*>(cursor_);
  while (pending_.size() < chunk_bytes_ && !pairs_done_) {
    MDB_val key;
    MDB_val val;
    const int rc = mdb_cursor_get(cursor, &key, &val, started_scan_ ? MDB_NEXT : MDB_FIRST);
    started_scan_ = true;
    if (rc == MDB_NOTFOUND) {
      put_varint(&pending_, 0);  // The end marker.
      pairs_done_ = true;
      break;
    }
    if (rc != 0) return lmdb_error("cursor scan", rc);
    append_image_pair(&pending_, key, val);
  }
  const std::size_t n = std::min(pending_.size(), chunk_bytes_);
  chunk->assign(pending_, 0, n);
  pending_.erase(0, n);
  handed_out_bytes_ += n;
  *done = pairs_done_ && pending_.empty();
  // The pass that sized the image saw the same read transaction.
  DKV_ASSERT(handed_out_bytes_ <= size_bytes_);
  if (*done) DKV_ASSERT(handed_out_bytes_ == size_bytes_);
  return util::Status::ok();
}

util::Status Store::open_image_reader(std::size_t chunk_bytes,
                                      std::unique_ptr<ImageReader>* out) const {
  DKV_ASSERT(chunk_bytes > 0);
  std::unique_ptr<ReadView> view;
  if (auto s = open_view(&view); !s.is_ok()) return s;
  std::unique_ptr<ImageReader> reader(new ImageReader(*this, std::move(view), chunk_bytes));
  if (auto s = reader->start(); !s.is_ok()) return s;
  *out = std::move(reader);
  return util::Status::ok();
}

util::Status Store::peek_image(std::string_view image, std::uint64_t* applied_index,
                               std::string* membership) {
  std::string_view m;
  if (auto s = parse_image_header(&image, applied_index, &m); !s.is_ok()) return s;
  membership->assign(m);
  return util::Status::ok();
}

namespace {

constexpr std::size_t kVarintBytesMax = 10;  // A 64-bit varint.

// Reads an image from an ImageIn with a window of at most one piece plus
// one pair: `window_` holds bytes received and not yet consumed.
class ImageParser {
 public:
  explicit ImageParser(const Store::ImageIn& in) : in_(in) {}

  // Makes at least `n` bytes available unless the image ends first.
  util::Status fill(std::size_t n) {
    while (available() < n && !done_) {
      if (pos_ > 0) {
        window_.erase(0, pos_);
        pos_ = 0;
      }
      std::string piece;
      if (auto s = in_(&piece, &done_); !s.is_ok()) return s;
      window_.append(piece);
    }
    return util::Status::ok();
  }
  std::size_t available() const { return window_.size() - pos_; }
  std::string_view view() const { return std::string_view(window_).substr(pos_); }
  void consume(std::size_t n) { pos_ += n; }
  bool at_end() const { return done_ && available() == 0; }

  // A varint-prefixed byte string of at most `max` bytes; the view stays
  // valid until the next fill().
  util::Status bytes(std::size_t max, const char* what, std::string_view* out) {
    if (auto s = fill(kVarintBytesMax); !s.is_ok()) return s;
    std::string_view v = view();
    std::uint64_t n = 0;
    if (!get_varint(&v, &n)) return bad_image(std::string("truncated ") + what);
    if (n > max) return bad_image(std::string(what) + " over the limit");
    const std::size_t prefix = available() - v.size();
    if (auto s = fill(prefix + n); !s.is_ok()) return s;
    if (available() < prefix + n) return bad_image(std::string("truncated ") + what);
    *out = view().substr(prefix, n);
    consume(prefix + n);
    return util::Status::ok();
  }

 private:
  const Store::ImageIn& in_;
  std::string window_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

}  // namespace

util::Status Store::restore(std::string_view image) {
  bool given = false;
  return restore([&](std::string* piece, bool* done) {
    *done = given;
    piece->clear();
    if (!given) piece->assign(image);
    given = true;
    return util::Status::ok();
  });
}

util::Status Store::restore(const ImageIn& in) {
  ImageParser p(in);
  if (auto s = p.fill(kImageMagic.size()); !s.is_ok()) return s;
  if (p.view().substr(0, kImageMagic.size()) != kImageMagic) return bad_image("bad magic");
  p.consume(kImageMagic.size());
  if (auto s = p.fill(kVarintBytesMax); !s.is_ok()) return s;
  std::uint64_t index = 0;
  {
    std::string_view v = p.view();
    if (!get_varint(&v, &index)) return bad_image("no applied index");
    p.consume(p.available() - v.size());
  }
  std::string_view membership_view;
  if (auto s = p.bytes(UINT32_MAX, "membership", &membership_view); !s.is_ok()) return s;
  const std::string membership(membership_view);

  // Room for one part (kRestoreTxnBytes and a pair) with its pages, before
  // each transaction.
  constexpr std::uint64_t kPartRoomBytes = 3 * kRestoreTxnBytes + (2u << 20);
  if (auto s = env_->make_room(kPartRoomBytes); !s.is_ok()) return s;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  auto guard = std::make_unique<TxnGuard>(txn);
  if ((rc = mdb_drop(txn, env_->kv, 0)) != 0) return lmdb_error("clear kv", rc);
  std::uint64_t txn_bytes = 0;
  bool committed_part = false;
  for (;;) {
    std::string_view key_view;
    std::string_view v;
    if (auto s = p.bytes(kKeyBytesMax, "key", &key_view); !s.is_ok()) return s;
    if (key_view.empty()) break;
    const std::string k(key_view);  // Reading the value may move the window.
    MDB_val key = as_val(k);
    if (auto s = p.bytes(UINT32_MAX, "value", &v); !s.is_ok()) return s;
    MDB_val val = as_val(v);
    if ((rc = mdb_put(guard->get(), env_->kv, &key, &val, MDB_APPEND)) != 0) {
      return rc == MDB_KEYEXIST ? bad_image("keys out of order") : lmdb_error("mdb_put", rc);
    }
    txn_bytes += k.size() + v.size();
    if (txn_bytes < kRestoreTxnBytes) continue;
    // Commit this part. The first one also records applied index 0: from
    // here on the store is visibly not the image until the last commit.
    if (!committed_part) {
      env_->restoring = true;
      const std::uint64_t zero = 0;
      MDB_val ikey = as_val(kAppliedIndexKey);
      MDB_val ival{sizeof zero, const_cast<std::uint64_t*>(&zero)};
      if ((rc = mdb_put(guard->get(), env_->meta, &ikey, &ival, 0)) != 0) {
        return lmdb_error("applied index", rc);
      }
    }
    if (auto s = env_->commit(guard.get()); !s.is_ok()) return s;
    env_->refresh_used();
    if (!committed_part) env_->applied_index = 0;
    committed_part = true;
    txn_bytes = 0;
    if (auto s = env_->make_room(kPartRoomBytes); !s.is_ok()) return s;
    if ((rc = mdb_txn_begin(env_->env, nullptr, 0, &txn)) != 0) {
      return lmdb_error("mdb_txn_begin", rc);
    }
    guard = std::make_unique<TxnGuard>(txn);
  }
  if (!p.at_end()) {
    if (auto s = p.fill(1); !s.is_ok()) return s;
    if (!p.at_end()) return bad_image("trailing bytes");
  }
  MDB_val key = as_val(kMembershipKey);
  MDB_val val = as_val(membership);
  if ((rc = mdb_put(guard->get(), env_->meta, &key, &val, 0)) != 0) {
    return lmdb_error("membership", rc);
  }
  key = as_val(kAppliedIndexKey);
  val = MDB_val{sizeof index, &index};
  if ((rc = mdb_put(guard->get(), env_->meta, &key, &val, 0)) != 0) {
    return lmdb_error("applied index", rc);
  }
  if (auto s = env_->commit(guard.get()); !s.is_ok()) return s;
  env_->refresh_used();
  env_->applied_index = index;
  env_->restoring = false;
  return util::Status::ok();
}

std::uint64_t Store::applied_index() const { return env_->applied_index.load(); }

util::Status Store::sync() {
  if (!has_unsynced_commits()) return util::Status::ok();
  if (const int rc = mdb_env_sync(env_->env, 1); rc != 0) return lmdb_error("mdb_env_sync", rc);
  return env_->marker->clear();
}

bool Store::has_unsynced_commits() const {
  return env_->marker != nullptr && env_->marker->is_set();
}

bool Store::rebuilt_after_machine_crash() const { return env_->rebuilt; }

std::uint64_t Store::used_bytes() const { return env_->used_bytes.load(); }

std::uint64_t Store::map_bytes() const { return env_->map_bytes; }

std::uint64_t Store::put_cost_bytes(const Command& command) {
  return command.key.size() + command.value.size() + kPutOverheadBytes;
}

}  // namespace dkv::kv
