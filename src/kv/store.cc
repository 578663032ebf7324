#include "kv/store.h"

#include <fcntl.h>
#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "kv/alarms.h"
#include "kv/feature_meta.h"
#include "kv/lease_table.h"
#include "kv/limits.h"
#include "kv/map_gate.h"
#include "kv/mvcc_chain.h"
#include "kv/mvcc_format.h"
#include "kv/mvcc_hash.h"
#include "kv/mvcc_history.h"
#include "kv/mvcc_read.h"
#include "kv/mvcc_relink.h"
#include "kv/mvcc_request.h"
#include "kv/mvcc_write.h"
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

// The memory map starts at StoreOptions::initial_map_bytes and grows with
// the data: fourfold up to 1 GiB, then by 1 GiB, up to the quota plus
// headroom. Fourfold, not twofold: a growth remaps the file, and every
// page in use then takes a fault again at its next touch (a young store
// growing under load measured 30% fewer faults and 4-7% less CPU per put
// with half the remaps; docs/performance.md, session 12). A write
// transaction first makes room for what it may add plus kRoomSlackBytes
// (free-list and meta pages).
constexpr std::uint64_t kMapGrowthFactor = 4;
constexpr std::uint64_t kMapStepLimitBytes = 1ull << 30;
constexpr std::uint64_t kRoomSlackBytes = 4ull << 20;
// Disk blocks are reserved (fallocate) for the pages in use plus room, in
// steps of this much ahead: a full disk then fails a reservation, between
// transactions, instead of a page written in the map (SIGBUS).
constexpr std::uint64_t kReserveStepBytes = 8ull << 20;

// The map size after growing `map` until `want` fills at most half of it.
std::uint64_t grown_map_bytes(std::uint64_t map, std::uint64_t want, std::uint64_t max) {
  while (map < max && map < 2 * want) {
    map = map < kMapStepLimitBytes ? kMapGrowthFactor * map : map + kMapStepLimitBytes;
  }
  return std::min(map, max);
}

util::Status lmdb_error(const char* what, int rc) {
  const auto code = rc == MDB_MAP_FULL ? util::Code::kResourceExhausted : util::Code::kInternal;
  return {code, std::string(what) + ": " + mdb_strerror(rc)};
}

using mvcc::as_val;
using mvcc::as_view;

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
// (n bytes) | body.
// Format 1 body: pairs of "kv": varint key length (>= 1) | key | varint
//   value length | value | ... | varint 0 (end).
// Format 2 body (the MVCC tables): varint kFormat2Marker (a key length no
//   format-1 image has, so a format-1 reader refuses it, and no cut of a
//   format-2 image reads as a format-1 one) | kMvccTag | varint
//   current revision | varint compact revision | varint n | compact_done (n
//   bytes, a hist key or empty) | "kv" pairs as in format 1 (values carry
//   their KeyHeader) | varint 0 | "hist" pairs likewise | varint 0, then,
//   only while alarms are raised, kAlarmsTag | varint n | the alarms (n
//   bytes, kv/alarms.h). hist values are format 2's records (without the
//   link: mvcc_format.h) and neither links nor dead are carried: restore()
//   rebuilds them, so that members running dkvs on either side of format 3
//   exchange the same images. (A reader older than the alarms refuses an
//   image with them as "trailing bytes": only a cluster with an alarm
//   raised sends one.)
//   Between the hist table and the alarms, only while a lease exists:
//   kLeasesTag and the lease and lkeys tables' pairs (a reader older than
//   leases refuses it the same way; see append_leases_section). After the
//   alarms, only while the committed feature level is above 0:
//   kFeatureLevelTag | varint level (kv/feature_meta.h; a reader older
//   than the gate refuses it the same way, and a cluster reaches a level
//   above 0 only once every member runs a dkv that reads it).
// The magic stays "DKVSNAP1" (node/restore.cc rewrites the header with it);
// the body says which format it is. restore() reads both: format-1 pairs are
// imported as keys created at revision 1 (version 1).
constexpr std::string_view kImageMagic = "DKVSNAP1";
constexpr std::string_view kMvccTag = "DKVMVCC2";
constexpr std::uint64_t kFormat2Marker = 1u << 20;
static_assert(kFormat2Marker > kKeyBytesMax);
constexpr char kFormatKey[] = "format";
constexpr char kFormatMvcc[] = "3";  // mvcc_format.h.
constexpr char kFormatKidx[] = "2";  // Before hist's links: migrated at open.

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

// A table's value as the image carries it: hist records without their
// link (format 2's encoding).
MDB_val image_value(const MDB_val& val, bool is_hist) {
  if (!is_hist) return val;
  return mvcc::as_val(mvcc::unlinked_record(mvcc::as_view(val)));
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

util::Status open_tables(MDB_txn* txn, mvcc::Tables* t) {
  int rc = 0;
  if ((rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &t->kv)) != 0) return lmdb_error("open kv", rc);
  if ((rc = mdb_dbi_open(txn, "hist", MDB_CREATE, &t->hist)) != 0) {
    return lmdb_error("open hist", rc);
  }
  if ((rc = mdb_dbi_open(txn, "dead", MDB_CREATE, &t->dead)) != 0) {
    return lmdb_error("open dead", rc);
  }
  if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &t->meta)) != 0) {
    return lmdb_error("open meta", rc);
  }
  if ((rc = mdb_dbi_open(txn, "lease", MDB_CREATE, &t->lease)) != 0) {
    return lmdb_error("open lease", rc);
  }
  if ((rc = mdb_dbi_open(txn, "lkeys", MDB_CREATE | MDB_DUPSORT, &t->lkeys)) != 0) {
    return lmdb_error("open lkeys", rc);
  }
  return util::Status::ok();
}

// Records a key of a format-1 store or image (a bare value, no revisions)
// as created at revision 1, the `ordinal`-th write of that revision: the
// same on every replica that holds the same pairs. kv itself is written by
// the caller (header + value).
util::Status record_legacy_pair(MDB_txn* txn, const mvcc::Tables& t, std::string_view key,
                                std::string_view value, std::int64_t ordinal) {
  const mvcc::KeyHeader h{1, 1, 1, 0};
  const std::string rk = mvcc::encode_rev_key({1, ordinal});
  const std::string rec = mvcc::encode_hist_record(mvcc::EventType::kPut, key, h, value, 0);
  MDB_val k = as_val(rk);
  MDB_val v = as_val(rec);
  if (const int rc = mdb_put(txn, t.hist, &k, &v, MDB_APPEND); rc != 0) {
    return lmdb_error("hist put", rc);
  }
  return util::Status::ok();
}

// A format-2 store (kidx, no links): links hist, fills dead, drops kidx.
util::Status upgrade_format2(MDB_txn* txn, const mvcc::Tables& t) {
  std::uint64_t records = 0;
  std::uint64_t dead = 0;
  if (auto s = mvcc::migrate_format2(txn, t, &records, &dead); !s.is_ok()) return s;
  spdlog::info(
      "store migrated to format {}: {} history records linked, {} deleted keys, kidx "
      "dropped",
      kFormatMvcc, records, dead);
  MDB_val fk = as_val(kFormatKey);
  MDB_val fv = as_val(kFormatMvcc);
  if (const int rc = mdb_put(txn, t.meta, &fk, &fv, 0); rc != 0) return lmdb_error("format", rc);
  return util::Status::ok();
}

// A store written before the MVCC engine (no "format" in meta) has bare
// values in kv: give each key its KeyHeader and history at revision 1. A
// format-2 store is migrated; another format is refused.
util::Status upgrade_format(MDB_txn* txn, const mvcc::Tables& t) {
  MDB_val fk = as_val(kFormatKey);
  MDB_val fv;
  if (mdb_get(txn, t.meta, &fk, &fv) == 0) {
    if (as_view(fv) == kFormatKidx) return upgrade_format2(txn, t);
    if (as_view(fv) != kFormatMvcc) return {util::Code::kDataLoss, "unknown store format"};
    return util::Status::ok();
  }
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, t.kv, &c);
  if (rc != 0) return lmdb_error("cursor", rc);
  std::int64_t n = 0;
  MDB_val k;
  MDB_val v;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    const std::string key(as_view(k));
    const std::string value(as_view(v));
    const std::string stored = mvcc::encode_kv_value({1, 1, 1, 0}, value);
    MDB_val sv = as_val(stored);
    if ((rc = mdb_cursor_put(c, &k, &sv, MDB_CURRENT)) != 0) break;
    if (auto s = record_legacy_pair(txn, t, key, value, n++); !s.is_ok()) {
      mdb_cursor_close(c);
      return s;
    }
  }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND) return lmdb_error("upgrade kv", rc);
  if (n > 0) spdlog::info("store upgraded to the MVCC format: {} keys at revision 1", n);
  fv = as_val(kFormatMvcc);
  if ((rc = mdb_put(txn, t.meta, &fk, &fv, 0)) != 0) return lmdb_error("format", rc);
  return util::Status::ok();
}

}  // namespace

struct Store::Env {
  MDB_env* env = nullptr;
  mvcc::Tables tables;
  MDB_dbi kv = 0;    // == tables.kv
  MDB_dbi meta = 0;  // == tables.meta
  // As of the last commit, for readers' headers (current_revision()).
  std::atomic<std::int64_t> current_rev{1};
  std::atomic<std::int64_t> compact_rev{0};
  // History at or below compact_rev may remain to be removed: set when the
  // compact revision moves (and at open), cleared by a compact_step() that
  // found nothing more.
  std::atomic<bool> compaction_pending{true};
  std::uint64_t page_bytes = 4096;
  std::string dir;  // The data directory (open()).
  std::atomic<std::uint64_t> applied_index{0};
  // Set in kDeferred mode (with a known boot id): commits are not fsynced.
  std::unique_ptr<UnsyncedMarker> marker;
  bool rebuilt = false;

  // Every write transaction commits through here.
  util::Status commit(TxnGuard* guard) {
    if (marker != nullptr) {
      if (auto s = marker->set(); !s.is_ok()) return s;
    }
    if (const int rc = guard->commit(); rc != 0) return commit_error(rc);
    return util::Status::ok();
  }
  // A commit writes nothing (pages are written in the map, MDB_NOSYNC)
  // unless it syncs; a sync that fails with EIO on a full disk names it.
  util::Status commit_error(int rc) const {
    struct statvfs fs {};
    if (rc == EIO && ::statvfs(dir.c_str(), &fs) == 0 &&
        static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize < kRoomSlackBytes) {
      return lmdb_error("commit (the disk holding the store is full)", ENOSPC);
    }
    return lmdb_error("commit", rc);
  }
  // A restore committed part of an image and has not finished: get() refuses.
  std::atomic<bool> restoring{false};
  HistoryListener history_listener;  // set_history_listener(); writer thread.
  // A NOSPACE alarm is raised (kv/alarms.h), as of the last commit.
  std::atomic<bool> nospace{false};
  // The committed feature level (kv/feature_meta.h), as of the last commit.
  std::atomic<FeatureLevel> feature_level{FeatureLevel::kNone};

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
  // transaction that may add up to `txn_bytes` pages, and reserves their
  // disk blocks. Past half of the map it grows unless a read view is open
  // (a snapshot or backup pins the old map until it ends; point reads take
  // microseconds); past the end it waits for every reader.
  util::Status make_room(std::uint64_t txn_bytes) {
    const std::uint64_t want = used_bytes.load() + txn_bytes + kRoomSlackBytes;
    if (map_bytes < map_bytes_max && want > map_bytes / 2) {
      if (auto s = grow(want, /*wait=*/want > map_bytes); !s.is_ok()) return s;
    }
    return reserve(want);
  }

  // The file's blocks below reserved_bytes are allocated (or the file
  // system cannot preallocate): writing a page there in the map cannot
  // fail for want of space. Writer thread.
  std::uint64_t reserved_bytes = 0;

  util::Status reserve(std::uint64_t want) {
    if (want <= reserved_bytes) return util::Status::ok();
    const std::uint64_t target =
        std::min(map_bytes, (want + kReserveStepBytes - 1) / kReserveStepBytes * kReserveStepBytes);
    int fd = -1;
    if (target <= reserved_bytes || mdb_env_get_fd(env, &fd) != 0) return util::Status::ok();
    // fallocate, not posix_fallocate: where the file system cannot
    // preallocate, glibc's fallback would write every block.
    if (::fallocate(fd, 0, static_cast<off_t>(reserved_bytes),
                    static_cast<off_t>(target - reserved_bytes)) != 0 &&
        errno != EOPNOTSUPP) {
      return lmdb_error("reserve disk blocks for the store", errno);
    }
    reserved_bytes = target;
    return util::Status::ok();
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

  // Store::open's steps, in order.
  // kDeferred mode with a known boot id: commits are not fsynced, so files
  // left by a machine crash may be torn: start empty (the node restores
  // the last snapshot and replays the WAL).
  util::Status discard_if_torn(const StoreOptions& options) {
    const std::string boot_id = options.boot_id.empty() ? current_boot_id() : options.boot_id;
    if (options.durability != StoreOptions::Durability::kDeferred || boot_id.empty()) {
      return util::Status::ok();
    }
    marker = std::make_unique<UnsyncedMarker>(options.dir, boot_id);
    if (!marker->left_by_machine_crash()) return util::Status::ok();
    std::error_code ec;
    for (const char* name : {"/data.mdb", "/lock.mdb"}) {
      std::filesystem::remove(options.dir + name, ec);
      if (ec) return util::internal_error("remove " + options.dir + name + ": " + ec.message());
    }
    if (auto s = marker->clear(); !s.is_ok()) return s;
    rebuilt = true;
    return util::Status::ok();
  }

  util::Status open_lmdb(const StoreOptions& options) {
    int rc = mdb_env_create(&env);
    if (rc != 0) return lmdb_error("mdb_env_create", rc);
    // Headroom above the quota absorbs copy-on-write pages and the free
    // list, so that a batch admitted under the quota never hits the map
    // limit. The map starts small and grows with the data (make_room);
    // LMDB raises a smaller size to what the file already uses.
    const std::uint64_t headroom = std::max<std::uint64_t>(options.quota_bytes / 8, 64ull << 20);
    map_bytes_max = options.quota_bytes + headroom;
    rc = mdb_env_set_mapsize(env, std::min(options.initial_map_bytes, map_bytes_max));
    if (rc != 0) return lmdb_error("mdb_env_set_mapsize", rc);
    rc = mdb_env_set_maxdbs(env, 7);  // Six tables, and format 2's kidx to migrate.
    if (rc != 0) return lmdb_error("mdb_env_set_maxdbs", rc);
    // MDB_WRITEMAP: a commit writes its pages in the shared map, no
    // syscall; each page costs a write fault only at its first change after
    // a write-back cleaned it, so the node syncs the store rarely
    // (NodeOptions::store_sync_interval). Without the flag, LMDB pwrites
    // every dirty page of every commit: ~2 syscalls per put per node, which
    // measured 15-25% more CPU per put on a VM where syscalls are dear;
    // with the flag and a sync every second the faults cost more still
    // (docs/performance.md, session 11). LMDB sizes data.mdb to the map
    // (sparse beyond the pages in use; reserve() allocates ahead of them).
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_WRITEMAP;
    if (marker != nullptr) flags |= MDB_NOSYNC;
    dir = options.dir;
    rc = mdb_env_open(env, options.dir.c_str(), flags, 0644);
    if (rc != 0) return lmdb_error(("open LMDB in " + options.dir).c_str(), rc);
    DKV_ASSERT(static_cast<std::size_t>(mdb_env_get_maxkeysize(env)) >= kKeyBytesMax);
    MDB_stat stat;
    mdb_env_stat(env, &stat);
    page_bytes = stat.ms_psize;
    refresh_used();
    return make_room(0);
  }

  // Opens (or creates, or upgrades) the tables and reads the revisions and
  // the applied index.
  // The committed feature level, refused above what this binary applies.
  util::Status load_feature_level(MDB_txn* txn, const StoreOptions& options) {
    FeatureLevel level = FeatureLevel::kNone;
    if (auto s = mvcc::read_feature_level(txn, tables, &level); !s.is_ok()) return s;
    feature_level = level;
    if (level <= options.feature_level_supported) return util::Status::ok();
    return {util::Code::kFailedPrecondition,
            "the data is at feature level " + std::to_string(static_cast<std::uint32_t>(level)) +
                " (" + feature_level_name(level) + "), above the " +
                std::to_string(static_cast<std::uint32_t>(options.feature_level_supported)) + " (" +
                feature_level_name(options.feature_level_supported) +
                ") this dkv applies: a downgrade; run a dkv at least as new as the cluster's "
                "(README, Upgrades)"};
  }

  // A format-2 store's migration rewrites every hist page in one
  // transaction: room for a copy of the whole store first.
  util::Status room_for_migration() {
    MDB_txn* txn = nullptr;
    if (const int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn); rc != 0) {
      return lmdb_error("mdb_txn_begin", rc);
    }
    MDB_dbi dbi = 0;
    MDB_val fk = as_val(kFormatKey);
    MDB_val fv;
    const bool format2 = mdb_dbi_open(txn, "meta", 0, &dbi) == 0 &&
                         mdb_get(txn, dbi, &fk, &fv) == 0 && as_view(fv) == kFormatKidx;
    mdb_txn_abort(txn);
    return format2 ? make_room(used_bytes.load()) : util::Status::ok();
  }

  util::Status load_state(const StoreOptions& options) {
    const std::string& dir = options.dir;
    if (auto s = room_for_migration(); !s.is_ok()) return s;
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
    TxnGuard guard(txn);
    if (auto s = open_tables(txn, &tables); !s.is_ok()) return s;
    kv = tables.kv;
    meta = tables.meta;
    if (auto s = upgrade_format(txn, tables); !s.is_ok()) return s;
    mvcc::Revs revs;
    if (auto s = mvcc::read_revs(txn, tables, &revs); !s.is_ok()) return s;
    current_rev = revs.current;
    compact_rev = revs.compact;
    etcdserverpb::AlarmResponse alarms;
    if (auto s = mvcc::read_alarms(txn, tables, &alarms); !s.is_ok()) return s;
    nospace = mvcc::has_nospace(alarms);
    if (auto s = load_feature_level(txn, options); !s.is_ok()) return s;
    MDB_val key = as_val(kAppliedIndexKey);
    MDB_val val;
    rc = mdb_get(txn, meta, &key, &val);
    if (rc == 0) {
      if (val.mv_size != sizeof(std::uint64_t)) {
        return {util::Code::kDataLoss, "corrupt applied index in " + dir};
      }
      std::uint64_t index = 0;
      std::memcpy(&index, val.mv_data, sizeof index);
      applied_index = index;
    } else if (rc != MDB_NOTFOUND) {
      return lmdb_error("read applied index", rc);
    }
    if (auto s = commit(&guard); !s.is_ok()) return s;
    refresh_used();
    return util::Status::ok();
  }

  // Runs read(txn, revs) in a read transaction of its own, at the
  // revisions it sees.
  template <typename Read>
  util::Status in_read_view(Read read) {
    MapGateReader in_map(gate);
    MDB_txn* txn = nullptr;
    const int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
    TxnGuard guard(txn);
    if (restoring) return util::unavailable("restoring a snapshot");
    mvcc::Revs revs;
    if (auto s = mvcc::read_revs(txn, tables, &revs); !s.is_ok()) return s;
    return read(txn, revs);
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
  if (auto s = env->discard_if_torn(options); !s.is_ok()) return s;
  if (auto s = env->open_lmdb(options); !s.is_ok()) return s;
  if (auto s = env->load_state(options); !s.is_ok()) return s;
  out->reset(new Store(options, std::move(env)));
  return util::Status::ok();
}

namespace {

// Op::kSetFeatureLevel: the level only grows. A level above this binary's
// is recorded all the same (every replica holds the same state), loudly:
// the entries it allows will stop this member, and so will its next start.
util::Status apply_set_feature_level(MDB_txn* txn, const mvcc::Tables& t, const Command& c,
                                     FeatureLevel supported, FeatureLevel* after) {
  FeatureLevel level = FeatureLevel::kNone;
  if (auto s = decode_feature_level(c, &level); !s.is_ok()) return s;
  const FeatureLevel before = *after;
  if (auto s = mvcc::raise_feature_level(txn, t, level, after); !s.is_ok()) return s;
  if (*after == before) return util::Status::ok();
  if (*after > supported) {
    spdlog::error("the cluster committed feature level {} ({}), above this dkv's {}: upgrade it",
                  static_cast<std::uint32_t>(*after), feature_level_name(*after),
                  static_cast<std::uint32_t>(supported));
  } else {
    spdlog::info("feature level {} ({}) committed", static_cast<std::uint32_t>(*after),
                 feature_level_name(*after));
  }
  return util::Status::ok();
}

}  // namespace

util::Status Store::apply(std::span<const Command> commands, std::uint64_t applied_index,
                          std::vector<ApplyResult>* results) {
  DKV_ASSERT(applied_index > env_->applied_index.load());
  std::uint64_t txn_bytes = kPutOverheadBytes;  // The applied index.
  for (const Command& c : commands) {
    txn_bytes += c.op == Op::kDelete ? c.key.size() + kPutOverheadBytes : put_cost_bytes(c);
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

  mvcc::Revs revs;
  if (auto s = mvcc::read_revs(txn, env_->tables, &revs); !s.is_ok()) return s;
  mvcc::Writer writer(txn, env_->tables, revs);
  CommittedHistory history;
  if (env_->history_listener) writer.capture_history(&history.events);
  FeatureLevel feature_level = env_->feature_level.load();
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const Command& c = commands[i];
    util::Status s;
    if (c.op == Op::kEtcd) {
      auto result = std::make_shared<EtcdResult>();
      s = writer.apply_etcd(c.value, result.get(), c.term);
      (*results)[i].etcd = std::move(result);
    } else if (c.op == Op::kSetFeatureLevel) {
      s = apply_set_feature_level(txn, env_->tables, c, options_.feature_level_supported,
                                  &feature_level);
    } else {
      DKV_ASSERT(c.key.size() >= kKeyBytesMin);
      DKV_ASSERT(c.key.size() <= kKeyBytesMax);
      s = c.op == Op::kPut ? writer.legacy_put(c.key, c.value)
                           : writer.legacy_delete(c.key, &(*results)[i].deleted);
    }
    if (!s.is_ok()) return s;
  }
  if (auto s = writer.finish(); !s.is_ok()) return s;
  etcdserverpb::AlarmResponse alarms;
  if (writer.alarms_changed()) {
    if (auto s = mvcc::read_alarms(txn, env_->tables, &alarms); !s.is_ok()) return s;
  }
  MDB_val key = as_val(kAppliedIndexKey);
  MDB_val val{sizeof applied_index, &applied_index};
  if ((rc = mdb_put(txn, env_->meta, &key, &val, 0)) != 0) {
    return lmdb_error("record applied index", rc);
  }
  if (auto s = env_->commit(&guard); !s.is_ok()) return s;
  env_->refresh_used();
  env_->applied_index = applied_index;
  env_->current_rev = writer.revs().current;
  const bool compact_moved = writer.revs().compact != env_->compact_rev.load();
  if (compact_moved) env_->compaction_pending = true;
  env_->compact_rev = writer.revs().compact;
  if (writer.alarms_changed()) env_->nospace = mvcc::has_nospace(alarms);
  env_->feature_level = feature_level;
  lease_changes_.insert(lease_changes_.end(), writer.lease_changes().begin(),
                        writer.lease_changes().end());
  if (env_->history_listener && (!history.events.empty() || compact_moved)) {
    history.current_revision = writer.revs().current;
    history.compact_revision = writer.revs().compact;
    env_->history_listener(std::move(history));
  }
  return util::Status::ok();
}

void Store::set_history_listener(HistoryListener listener) {
  env_->history_listener = std::move(listener);
}

util::Status Store::read_history(std::int64_t from_rev, std::int64_t to_rev, std::size_t max_bytes,
                                 std::vector<HistoryEvent>* out, std::int64_t* through) const {
  return env_->in_read_view([&](MDB_txn* txn, const mvcc::Revs& revs) {
    if (from_rev <= revs.compact) return compacted_error();
    return mvcc::read_history(txn, env_->tables, from_rev, std::min(to_rev, revs.current),
                              max_bytes, out, through);
  });
}

bool Store::nospace_alarm() const { return env_->nospace.load(); }

util::Status Store::alarms(etcdserverpb::AlarmResponse* out) const {
  return env_->in_read_view(
      [&](MDB_txn* txn, const mvcc::Revs&) { return mvcc::read_alarms(txn, env_->tables, out); });
}

FeatureLevel Store::feature_level() const { return env_->feature_level.load(); }

util::Status Store::set_feature_level(FeatureLevel level) {
  if (auto s = env_->make_room(2 * kPutOverheadBytes); !s.is_ok()) return s;
  MDB_txn* txn = nullptr;
  if (const int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn); rc != 0) {
    return lmdb_error("mdb_txn_begin", rc);
  }
  TxnGuard guard(txn);
  FeatureLevel after = FeatureLevel::kNone;
  if (auto s = mvcc::raise_feature_level(txn, env_->tables, level, &after); !s.is_ok()) return s;
  if (auto s = env_->commit(&guard); !s.is_ok()) return s;
  env_->refresh_used();
  env_->feature_level = after;
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
  mvcc::KeyHeader header;
  std::string_view stored;
  if (!mvcc::decode_kv_value(as_view(val), &header, &stored)) {
    return {util::Code::kDataLoss, "corrupt value of a key"};
  }
  value->assign(stored);
  return util::Status::ok();
}

util::Status Store::range(const etcdserverpb::RangeRequest& request,
                          etcdserverpb::RangeResponse* response) const {
  return env_->in_read_view([&](MDB_txn* txn, const mvcc::Revs& revs) {
    return mvcc::range(txn, env_->tables, revs, request, response);
  });
}

util::Status Store::read_only_txn(const etcdserverpb::TxnRequest& request,
                                  etcdserverpb::TxnResponse* response) const {
  DKV_ASSERT(is_read_only(request));
  return env_->in_read_view([&](MDB_txn* txn, const mvcc::Revs& revs) {
    return mvcc::read_only_txn(txn, env_->tables, revs, request, response);
  });
}

util::Status Store::lease(std::int64_t id, LeaseInfo* out, std::vector<std::string>* keys) const {
  return env_->in_read_view([&](MDB_txn* txn, const mvcc::Revs&) {
    if (auto s = mvcc::read_lease(txn, env_->tables, id, out); !s.is_ok()) return s;
    if (keys == nullptr) return util::Status::ok();
    return mvcc::read_lease_keys(txn, env_->tables, id, keys);
  });
}

util::Status Store::leases(std::vector<LeaseInfo>* out) const {
  return env_->in_read_view(
      [&](MDB_txn* txn, const mvcc::Revs&) { return mvcc::read_leases(txn, env_->tables, out); });
}

util::Status Store::hash_kv(std::int64_t revision, std::uint32_t* hash, std::int64_t* current,
                            std::int64_t* compact) const {
  return env_->in_read_view([&](MDB_txn* txn, const mvcc::Revs& revs) {
    *current = revs.current;
    *compact = revs.compact;
    return mvcc::hash_kv(txn, env_->tables, revs, revision, hash);
  });
}

util::Status Store::history_size(std::uint64_t* hist_records,
                                 std::uint64_t* chained_records) const {
  MapGateReader in_map(env_->gate);
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);
  MDB_stat st;
  mdb_stat(txn, env_->tables.hist, &st);
  *hist_records = st.ms_entries;
  return mvcc::count_chained(txn, env_->tables, chained_records);
}

std::int64_t Store::current_revision() const { return env_->current_rev.load(); }

std::int64_t Store::compact_revision() const { return env_->compact_rev.load(); }

util::Status Store::compact_step(bool* more, std::size_t max_records) {
  // A full map (at the quota) must not stop compaction, which frees
  // space: smaller steps dirty fewer pages.
  util::Status s;
  for (std::size_t n = max_records;; n = n / 4) {
    s = compact_txn(more, std::max<std::size_t>(n, 1));
    if (s.code() != util::Code::kResourceExhausted || n <= 1) break;
  }
  // Failed: pending again only when the compact revision next moves (the
  // caller would otherwise retry at once, forever).
  env_->compaction_pending = s.is_ok() && *more;
  return s;
}

util::Status Store::compact_txn(bool* more, std::size_t max_records) {
  *more = false;
  // Each visit dirties a few pages: deleting two records, from two tables.
  if (auto s = env_->make_room(max_records * 4 * env_->page_bytes); !s.is_ok()) return s;
  MDB_txn* txn = nullptr;
  const int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn);
  if (rc != 0) return lmdb_error("mdb_txn_begin", rc);
  TxnGuard guard(txn);
  if (auto s = mvcc::compact_step(txn, env_->tables, max_records, more); !s.is_ok()) return s;
  if (auto s = env_->commit(&guard); !s.is_ok()) return s;
  env_->refresh_used();
  return util::Status::ok();
}

bool Store::compaction_pending() const { return env_->compaction_pending.load(); }

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

namespace {

// After format 2's tables, only if alarms are raised (so that images without
// any read as before): kAlarmsTag | varint length | the serialized
// AlarmResponse (kv/alarms.h).
constexpr std::string_view kAlarmsTag = "ALARMS";

util::Status append_alarms_section(std::string* out, MDB_txn* txn, const mvcc::Tables& t) {
  etcdserverpb::AlarmResponse alarms;
  if (auto s = mvcc::read_alarms(txn, t, &alarms); !s.is_ok()) return s;
  if (alarms.alarms().empty()) return util::Status::ok();
  const std::string bytes = alarms.SerializeAsString();
  out->append(kAlarmsTag);
  put_varint(out, bytes.size());
  out->append(bytes);
  return util::Status::ok();
}

// After the alarms, only if the committed feature level is above kNone (so
// that images of a cluster still at kNone read as before on members built
// before the gate): kFeatureLevelTag | varint level (kv/feature_meta.h).
constexpr std::string_view kFeatureLevelTag = "FLEVEL";

util::Status append_feature_level_section(std::string* out, MDB_txn* txn, const mvcc::Tables& t) {
  FeatureLevel level = FeatureLevel::kNone;
  if (auto s = mvcc::read_feature_level(txn, t, &level); !s.is_ok()) return s;
  if (level == FeatureLevel::kNone) return util::Status::ok();
  out->append(kFeatureLevelTag);
  out->append(mvcc::encode_feature_level(level));
  return util::Status::ok();
}

// After format 2's tables (before the alarms), only if a lease exists:
// kLeasesTag | "lease" pairs (id, ttl | remaining) | varint 0 | "lkeys"
// pairs (id, user key) | varint 0. Built in memory: its size is that of
// the leases and their keys' names.
constexpr std::string_view kLeasesTag = "LEASES";

util::Status append_leases_section(std::string* out, MDB_txn* txn, const mvcc::Tables& t) {
  MDB_stat st;
  if (const int rc = mdb_stat(txn, t.lease, &st); rc != 0) return lmdb_error("lease stat", rc);
  if (st.ms_entries == 0) return util::Status::ok();
  out->append(kLeasesTag);
  for (const MDB_dbi dbi : {t.lease, t.lkeys}) {
    MDB_cursor* c = nullptr;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0) return lmdb_error("cursor", rc);
    MDB_val k;
    MDB_val v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      append_image_pair(out, k, v);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) return lmdb_error("cursor scan", rc);
    put_varint(out, 0);
  }
  return util::Status::ok();
}

// Format 2's preamble after the header: format 1's end marker, the tag, the
// revision counters and the physical compaction's position.
util::Status append_mvcc_preamble(std::string* out, MDB_txn* txn, const mvcc::Tables& t) {
  mvcc::Revs revs;
  if (auto s = mvcc::read_revs(txn, t, &revs); !s.is_ok()) return s;
  put_varint(out, kFormat2Marker);
  out->append(kMvccTag);
  put_varint(out, static_cast<std::uint64_t>(revs.current));
  put_varint(out, static_cast<std::uint64_t>(revs.compact));
  MDB_val k = as_val("compact_done");
  MDB_val v;
  const int rc = mdb_get(txn, t.meta, &k, &v);
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("read compact_done", rc);
  const std::string_view done = rc == 0 ? as_view(v) : std::string_view();
  put_varint(out, done.size());
  out->append(done);
  return util::Status::ok();
}

// Streams one table's pairs and its end marker into `piece`, handing full
// pieces to `out`.
util::Status dump_table(MDB_txn* txn, MDB_dbi dbi, bool is_hist, std::string* piece,
                        const Store::ImageOut& out) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn, dbi, &cursor);
  if (rc != 0) return lmdb_error("cursor", rc);
  MDB_val key;
  MDB_val val;
  util::Status status;
  for (rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
    append_image_pair(piece, key, image_value(val, is_hist));
    if (piece->size() >= Store::kImagePieceBytes) {
      if (status = out(*piece); !status.is_ok()) break;
      piece->clear();
    }
  }
  mdb_cursor_close(cursor);
  if (!status.is_ok()) return status;
  if (rc != MDB_NOTFOUND) return lmdb_error("cursor scan", rc);
  put_varint(piece, 0);
  return util::Status::ok();
}

}  // namespace

util::Status Store::dump(const ReadView& view, const ImageOut& out) const {
  std::uint64_t index = 0;
  std::string membership;
  if (auto s = view_header(view, &index, &membership); !s.is_ok()) return s;
  std::string piece;
  piece.reserve(kImagePieceBytes + 64);
  append_image_header(&piece, index, membership);
  auto* txn = static_cast<MDB_txn*>(view.txn_);
  if (auto s = append_mvcc_preamble(&piece, txn, env_->tables); !s.is_ok()) return s;
  for (const MDB_dbi dbi : {env_->tables.kv, env_->tables.hist}) {
    if (auto s = dump_table(txn, dbi, dbi == env_->tables.hist, &piece, out); !s.is_ok()) return s;
  }
  if (auto s = append_leases_section(&piece, txn, env_->tables); !s.is_ok()) return s;
  if (auto s = append_alarms_section(&piece, txn, env_->tables); !s.is_ok()) return s;
  if (auto s = append_feature_level_section(&piece, txn, env_->tables); !s.is_ok()) return s;
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

// Encodes the header and preamble into pending_ and sizes the whole image
// with a first pass over the tables (sizes only: LMDB hands out pointers
// into its map, so the values are not copied).
util::Status Store::ImageReader::start() {
  std::string membership;
  if (auto s = store_.view_header(*view_, &applied_index_, &membership); !s.is_ok()) return s;
  append_image_header(&pending_, applied_index_, membership);
  auto* txn = static_cast<MDB_txn*>(view_->txn_);
  const mvcc::Tables& t = store_.env_->tables;
  if (auto s = append_mvcc_preamble(&pending_, txn, t); !s.is_ok()) return s;

  std::uint64_t pairs_bytes = 0;
  for (const MDB_dbi dbi : {t.kv, t.hist}) {
    MDB_val key;
    MDB_val val;
    MDB_cursor* cursor = nullptr;
    int rc = mdb_cursor_open(txn, dbi, &cursor);
    if (rc != 0) return lmdb_error("cursor", rc);
    for (rc = mdb_cursor_get(cursor, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor, &key, &val, MDB_NEXT)) {
      val = image_value(val, dbi == t.hist);
      pairs_bytes +=
          varint_bytes(key.mv_size) + key.mv_size + varint_bytes(val.mv_size) + val.mv_size;
    }
    mdb_cursor_close(cursor);
    if (rc != MDB_NOTFOUND) return lmdb_error("cursor scan", rc);
    pairs_bytes += 1;  // The table's end marker (varint 0).
  }
  if (auto s = append_leases_section(&alarms_section_, txn, t); !s.is_ok()) return s;
  if (auto s = append_alarms_section(&alarms_section_, txn, t); !s.is_ok()) return s;
  if (auto s = append_feature_level_section(&alarms_section_, txn, t); !s.is_ok()) return s;
  size_bytes_ = pending_.size() + pairs_bytes + alarms_section_.size();
  return util::Status::ok();
}

util::Status Store::ImageReader::next(std::string* chunk, bool* done) {
  auto* txn = static_cast<MDB_txn*>(view_->txn_);
  const mvcc::Tables& t = store_.env_->tables;
  while (pending_.size() < chunk_bytes_ && !pairs_done_) {
    if (cursor_ == nullptr) {
      MDB_cursor* c = nullptr;
      const int rc = mdb_cursor_open(txn, table_ == 0 ? t.kv : t.hist, &c);
      if (rc != 0) return lmdb_error("cursor", rc);
      cursor_ = c;
      started_scan_ = false;
    }
    auto* cursor = static_cast<MDB_cursor*>(cursor_);
    MDB_val key;
    MDB_val val;
    const int rc = mdb_cursor_get(cursor, &key, &val, started_scan_ ? MDB_NEXT : MDB_FIRST);
    started_scan_ = true;
    if (rc == MDB_NOTFOUND) {
      put_varint(&pending_, 0);  // The table's end marker.
      mdb_cursor_close(cursor);
      cursor_ = nullptr;
      pairs_done_ = ++table_ == 2;
      if (pairs_done_) pending_ += alarms_section_;
      continue;
    }
    if (rc != 0) return lmdb_error("cursor scan", rc);
    append_image_pair(&pending_, key, image_value(val, table_ == 1));
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

  util::Status varint(const char* what, std::uint64_t* out, bool consume_it = true) {
    if (auto s = fill(kVarintBytesMax); !s.is_ok()) return s;
    std::string_view v = view();
    if (!get_varint(&v, out)) return bad_image(std::string("truncated ") + what);
    if (consume_it) consume(available() - v.size());
    return util::Status::ok();
  }

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

// One restore's write transactions: a part is committed per
// kRestoreTxnBytes written (see restore()).
struct Store::Restore {
  // Room for one part (kRestoreTxnBytes and a pair) with its pages.
  static constexpr std::uint64_t kPartRoomBytes = 3 * kRestoreTxnBytes + (2u << 20);

  Env& env;
  std::unique_ptr<TxnGuard> guard;
  std::uint64_t txn_bytes = 0;
  bool committed_part = false;

  MDB_txn* txn() const { return guard->get(); }

  util::Status begin() {
    if (auto s = env.make_room(kPartRoomBytes); !s.is_ok()) return s;
    MDB_txn* t = nullptr;
    if (const int rc = mdb_txn_begin(env.env, nullptr, 0, &t); rc != 0) {
      return lmdb_error("mdb_txn_begin", rc);
    }
    guard = std::make_unique<TxnGuard>(t);
    return util::Status::ok();
  }

  // Empties the tables and the revision counters.
  util::Status clear() {
    for (const MDB_dbi dbi :
         {env.tables.kv, env.tables.hist, env.tables.dead, env.tables.lease, env.tables.lkeys}) {
      if (const int rc = mdb_drop(txn(), dbi, 0); rc != 0) return lmdb_error("clear table", rc);
    }
    for (const char* name :
         {"rev", "compact_rev", "compact_done", mvcc::kAlarmsKey, mvcc::kFeatureLevelKey}) {
      MDB_val k = as_val(name);
      const int rc = mdb_del(txn(), env.tables.meta, &k, nullptr);
      if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_error("clear meta", rc);
    }
    return util::Status::ok();
  }

  util::Status put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
    MDB_val k = as_val(key);
    MDB_val v = as_val(value);
    if (const int rc = mdb_put(txn(), dbi, &k, &v, flags); rc != 0) {
      return rc == MDB_KEYEXIST ? bad_image("keys out of order") : lmdb_error("mdb_put", rc);
    }
    return util::Status::ok();
  }

  // After writing `bytes`: commits this part once it is large enough. The
  // first commit also records applied index 0: from there on the store is
  // visibly not the image until the last commit.
  util::Status wrote(std::uint64_t bytes) {
    txn_bytes += bytes;
    if (txn_bytes < kRestoreTxnBytes) return util::Status::ok();
    if (!committed_part) {
      env.restoring = true;
      const std::uint64_t zero = 0;
      if (auto s = put(env.meta, kAppliedIndexKey,
                       std::string_view(reinterpret_cast<const char*>(&zero), sizeof zero), 0);
          !s.is_ok()) {
        return s;
      }
    }
    if (auto s = env.commit(guard.get()); !s.is_ok()) return s;
    env.refresh_used();
    if (!committed_part) env.applied_index = 0;
    committed_part = true;
    txn_bytes = 0;
    return begin();
  }

  util::Status finish(std::uint64_t index, const std::string& membership, mvcc::Revs revs,
                      std::string_view compact_done, std::string_view alarms,
                      FeatureLevel feature_level) {
    const auto as_bytes = [](const auto& v) {
      return std::string_view(reinterpret_cast<const char*>(&v), sizeof v);
    };
    if (auto s = put(env.meta, kMembershipKey, membership, 0); !s.is_ok()) return s;
    if (auto s = put(env.meta, kAppliedIndexKey, as_bytes(index), 0); !s.is_ok()) return s;
    if (auto s = put(env.meta, "rev", as_bytes(revs.current), 0); !s.is_ok()) return s;
    if (auto s = put(env.meta, "compact_rev", as_bytes(revs.compact), 0); !s.is_ok()) return s;
    if (!compact_done.empty()) {
      if (auto s = put(env.meta, "compact_done", compact_done, 0); !s.is_ok()) return s;
    }
    etcdserverpb::AlarmResponse parsed;
    if (!parsed.ParseFromArray(alarms.data(), static_cast<int>(alarms.size()))) {
      return bad_image("malformed alarms");
    }
    if (!alarms.empty()) {
      if (auto s = put(env.meta, mvcc::kAlarmsKey, alarms, 0); !s.is_ok()) return s;
    }
    if (feature_level != FeatureLevel::kNone) {
      const std::string level = mvcc::encode_feature_level(feature_level);
      if (auto s = put(env.meta, mvcc::kFeatureLevelKey, level, 0); !s.is_ok()) return s;
    }
    if (auto s = env.commit(guard.get()); !s.is_ok()) return s;
    env.refresh_used();
    env.applied_index = index;
    env.current_rev = revs.current;
    env.compact_rev = revs.compact;
    env.nospace = mvcc::has_nospace(parsed);
    env.feature_level = feature_level;
    env.compaction_pending = true;
    env.restoring = false;
    return util::Status::ok();
  }
};

namespace {

// Format 1's pairs: bare values, imported at revision 1.
util::Status restore_format1(ImageParser& p, Store::Restore& r, const mvcc::Tables& t) {
  for (std::int64_t n = 0;; ++n) {
    std::string_view key_view;
    std::string_view v;
    if (auto s = p.bytes(kKeyBytesMax, "key", &key_view); !s.is_ok()) return s;
    if (key_view.empty()) return util::Status::ok();
    const std::string k(key_view);  // Reading the value may move the window.
    if (auto s = p.bytes(UINT32_MAX, "value", &v); !s.is_ok()) return s;
    if (auto s = r.put(t.kv, k, mvcc::encode_kv_value({1, 1, 1, 0}, v), MDB_APPEND); !s.is_ok()) {
      return s;
    }
    if (auto s = record_legacy_pair(r.txn(), t, k, v, n); !s.is_ok()) return s;
    if (auto s = r.wrote(2 * (k.size() + v.size())); !s.is_ok()) return s;
  }
}

// dead's entries, after the hist section.
util::Status restore_dead(const mvcc::Relinker& relinker, Store::Restore& r,
                          const mvcc::Tables& t) {
  for (const auto& [key, main] : relinker.dead_keys()) {
    if (auto s = r.put(t.dead, key, mvcc::encode_dead_value(main), MDB_APPEND); !s.is_ok()) {
      return s;
    }
    if (auto s = r.wrote(key.size() + mvcc::kLinkBytes); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

// Format 2's tables after the tag: kv, then hist (relinking it, then
// rebuilding dead).
util::Status restore_format2_tables(ImageParser& p, Store::Restore& r, const mvcc::Tables& t) {
  mvcc::Relinker relinker;
  std::string stored;
  for (const bool is_hist : {false, true}) {
    for (;;) {
      std::string_view key_view;
      std::string_view v;
      const std::size_t key_max = is_hist ? mvcc::kRevKeyBytes : kKeyBytesMax;
      if (auto s = p.bytes(key_max, "key", &key_view); !s.is_ok()) return s;
      if (key_view.empty()) break;
      const std::string k(key_view);
      if (auto s = p.bytes(UINT32_MAX, "value", &v); !s.is_ok()) return s;
      if (!is_hist) {
        mvcc::KeyHeader h;
        std::string_view value;
        if (!mvcc::decode_kv_value(v, &h, &value)) return bad_image("kv value without a header");
        if (auto s = r.put(t.kv, k, v, MDB_APPEND); !s.is_ok()) return s;
      } else {
        mvcc::Revision rev;
        if (!mvcc::decode_rev_key(k, &rev) || !relinker.link(rev, v, &stored)) {
          return bad_image("malformed history record");
        }
        if (auto s = r.put(t.hist, k, stored, MDB_APPEND); !s.is_ok()) return s;
      }
      if (auto s = r.wrote(k.size() + v.size()); !s.is_ok()) return s;
    }
  }
  return restore_dead(relinker, r, t);
}

// The leases section's pairs (after its tag): "lease", then "lkeys".
util::Status restore_leases_section(ImageParser& p, Store::Restore& r, const mvcc::Tables& t) {
  for (const bool is_lkeys : {false, true}) {
    for (;;) {
      std::string_view key_view;
      std::string_view v;
      if (auto s = p.bytes(8, "lease id", &key_view); !s.is_ok()) return s;
      if (key_view.empty()) break;
      const std::string k(key_view);
      if (auto s = p.bytes(is_lkeys ? kKeyBytesMax : 16, "lease value", &v); !s.is_ok()) return s;
      LeaseInfo lease;
      if (k.size() != 8 || (!is_lkeys && !mvcc::decode_lease(k, v, &lease))) {
        return bad_image("malformed lease");
      }
      if (auto s = r.put(is_lkeys ? t.lkeys : t.lease, k, v, 0); !s.is_ok()) return s;
      if (auto s = r.wrote(k.size() + v.size()); !s.is_ok()) return s;
    }
  }
  return util::Status::ok();
}

// The optional sections after the leases, in this order: the alarms, then
// the feature level (the caller then expects the image's end).
util::Status restore_tail_sections(ImageParser& p, std::string* alarms,
                                   FeatureLevel* feature_level) {
  if (auto s = p.fill(kAlarmsTag.size()); !s.is_ok()) return s;
  if (p.view().substr(0, kAlarmsTag.size()) == kAlarmsTag) {
    p.consume(kAlarmsTag.size());
    std::string_view section;
    if (auto s = p.bytes(1u << 20, "alarms", &section); !s.is_ok()) return s;
    alarms->assign(section);
  }
  if (auto s = p.fill(kFeatureLevelTag.size()); !s.is_ok()) return s;
  if (p.view().substr(0, kFeatureLevelTag.size()) == kFeatureLevelTag) {
    p.consume(kFeatureLevelTag.size());
    std::uint64_t level = 0;
    if (auto s = p.varint("feature level", &level); !s.is_ok()) return s;
    if (level == 0 || level > UINT32_MAX) return bad_image("bad feature level");
    *feature_level = static_cast<FeatureLevel>(level);
  }
  return util::Status::ok();
}

}  // namespace

util::Status Store::restore(const ImageIn& in) {
  ImageParser p(in);
  if (auto s = p.fill(kImageMagic.size()); !s.is_ok()) return s;
  if (p.view().substr(0, kImageMagic.size()) != kImageMagic) return bad_image("bad magic");
  p.consume(kImageMagic.size());
  std::uint64_t index = 0;
  if (auto s = p.varint("applied index", &index); !s.is_ok()) return s;
  std::string_view membership_view;
  if (auto s = p.bytes(UINT32_MAX, "membership", &membership_view); !s.is_ok()) return s;
  const std::string membership(membership_view);

  Restore r{*env_, nullptr};
  if (auto s = r.begin(); !s.is_ok()) return s;
  if (auto s = r.clear(); !s.is_ok()) return s;
  std::uint64_t first = 0;
  if (auto s = p.varint("key", &first, /*consume_it=*/false); !s.is_ok()) return s;
  mvcc::Revs revs;
  std::string compact_done;
  std::string alarms;
  FeatureLevel feature_level = FeatureLevel::kNone;
  if (first != kFormat2Marker) {
    if (auto s = restore_format1(p, r, env_->tables); !s.is_ok()) return s;
  } else {
    (void)p.varint("marker", &first);
    if (auto s = p.fill(kMvccTag.size()); !s.is_ok()) return s;
    if (p.view().substr(0, kMvccTag.size()) != kMvccTag) return bad_image("bad format-2 tag");
    p.consume(kMvccTag.size());
    std::uint64_t current = 0;
    std::uint64_t compact = 0;
    std::string_view done;
    if (auto s = p.varint("revision", &current); !s.is_ok()) return s;
    if (auto s = p.varint("compact revision", &compact); !s.is_ok()) return s;
    if (auto s = p.bytes(mvcc::kRevKeyBytes, "compact_done", &done); !s.is_ok()) return s;
    if (current < 1 || compact > current) return bad_image("bad revisions");
    revs = {static_cast<std::int64_t>(current), static_cast<std::int64_t>(compact)};
    compact_done.assign(done);
    if (auto s = restore_format2_tables(p, r, env_->tables); !s.is_ok()) return s;
    if (auto s = p.fill(kLeasesTag.size()); !s.is_ok()) return s;
    if (p.view().substr(0, kLeasesTag.size()) == kLeasesTag) {
      p.consume(kLeasesTag.size());
      if (auto s = restore_leases_section(p, r, env_->tables); !s.is_ok()) return s;
    }
    if (auto s = restore_tail_sections(p, &alarms, &feature_level); !s.is_ok()) return s;
  }
  if (!p.at_end()) {
    if (auto s = p.fill(1); !s.is_ok()) return s;
    if (!p.at_end()) return bad_image("trailing bytes");
  }
  if (auto s = r.finish(index, membership, revs, compact_done, alarms, feature_level); !s.is_ok()) {
    return s;
  }
  if (feature_level > options_.feature_level_supported) {
    spdlog::error("restored an image at feature level {}, above this dkv's {}: upgrade it",
                  static_cast<std::uint32_t>(feature_level),
                  static_cast<std::uint32_t>(options_.feature_level_supported));
  }
  if (env_->history_listener) {
    env_->history_listener(CommittedHistory{{}, revs.current, revs.compact, /*restored=*/true});
  }
  return util::Status::ok();
}

std::uint64_t Store::applied_index() const { return env_->applied_index.load(); }

util::Status Store::sync() {
  if (!has_unsynced_commits()) return util::Status::ok();
  if (const int rc = mdb_env_sync(env_->env, 1); rc != 0) return lmdb_error("mdb_env_sync", rc);
  return env_->marker->clear();
}

util::Status Store::write_back() const {
  env_->gate.enter_long();
  const int rc = mdb_env_sync(env_->env, 1);
  env_->gate.leave_long();
  if (rc != 0) return lmdb_error("mdb_env_sync", rc);
  return util::Status::ok();
}

bool Store::has_unsynced_commits() const {
  return env_->marker != nullptr && env_->marker->is_set();
}

bool Store::rebuilt_after_machine_crash() const { return env_->rebuilt; }

std::uint64_t Store::used_bytes() const { return env_->used_bytes.load(); }

std::uint64_t Store::map_bytes() const { return env_->map_bytes; }

std::uint64_t Store::put_cost_bytes(const Command& command) {
  // kv: key, header, value; hist: revision, record (key, header, value);
  // its link.
  return 2 * command.key.size() + 2 * command.value.size() + 2 * mvcc::kKeyHeaderBytes +
         mvcc::kRevKeyBytes + mvcc::kLinkBytes + kPutOverheadBytes;
}

}  // namespace dkv::kv
