// Store: the LMDB state machine, an MVCC engine with etcd's data model. It
// owns one LMDB environment in a directory (data.mdb + lock.mdb) with the
// tables of kv/mvcc_format.h: "kv" (latest state), "hist" (every version by
// revision, each record linked to its key's previous one), "dead" (deleted
// keys' newest tombstones) and "meta" (applied index,
// membership, current and compact revisions). A batch of commands is applied
// in ONE write transaction that also records the applied index and the
// revision, so the data and the index can never disagree after a crash.
// Revisions follow etcd's rules (kv/mvcc_write.h); /v0 puts and deletes are
// one request each, etcd requests arrive as Op::kEtcd commands
// (kv/mvcc_request.h). Reads (get, range, read-only txn) run in their own
// read transaction, on any thread.
//
// Durability: kSyncEachCommit fsyncs in every commit. kDeferred (the node's
// choice: the WAL is the durable record) commits with MDB_NOSYNC and fsyncs
// only in sync(), which the node calls every 30 s: a process crash
// loses nothing (the page cache survives it), a machine crash may lose or
// tear the unsynced commits, so open() then discards the environment
// (rebuilt_after_machine_crash()) and the node rebuilds it from the last
// snapshot and the WAL. See unsynced_marker.h for how that is detected.
//
// Pages are written in the map (MDB_WRITEMAP, see store.cc): data.mdb is a
// file as large as the map, sparse beyond the used pages and the blocks
// reserved ahead of them. The map starts at 64 MiB and
// grows with the data (fourfold, then by 1 GiB) up to the quota plus
// headroom; a resize needs no read transaction open, so readers pass a
// MapGate (map_gate.h) and the writer resizes between its transactions.
// Before each write transaction the writer reserves disk blocks for what
// it may add (fallocate): a full disk fails that with ENOSPC and the node
// stops; a page of the map that cannot be written or read back (an I/O
// error) raises SIGBUS (see cmd/dkv's handler).
//
// Quota: the caller admits puts against quota_bytes() before they are
// proposed (put_cost_bytes() estimates a put's pages), so that apply() -- which
// must be deterministic on every replica -- never refuses one. The map grows
// up to the quota plus headroom for copy-on-write pages and the free list.
//
// Threading: apply() from one thread at a time (LMDB has one writer); get()
// and the accessors from any thread, concurrently (MDB_NOTLS read txns).
// Knows nothing of the network or of Raft beyond an applied index.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv/command.h"
#include "kv/feature_level.h"
#include "kv/history.h"
#include "kv/lease.h"
#include "util/status.h"

namespace etcdserverpb {
class AlarmResponse;
class RangeRequest;
class RangeResponse;
class TxnRequest;
class TxnResponse;
}  // namespace etcdserverpb

namespace dkv::kv {

class MapGate;
struct EtcdResult;

struct StoreOptions {
  enum class Durability { kSyncEachCommit, kDeferred };
  std::string dir;                         // Created if missing.
  std::uint64_t quota_bytes = 2ull << 30;  // DKV_QUOTA_BYTES; etcd's default.
  Durability durability = Durability::kSyncEachCommit;
  // The memory map's first size; it grows with the data (tests lower it to
  // see many growth steps with little data).
  std::uint64_t initial_map_bytes = 64ull << 20;
  // The highest feature level this binary applies (kv/feature_level.h;
  // tests lower it): open() refuses, FAILED_PRECONDITION, a store whose
  // committed level is above it (a downgrade).
  FeatureLevel feature_level_supported = kFeatureLevelSupported;
  // Tests only: stands for the kernel's boot id (empty: read it). Without a
  // boot id, kDeferred falls back to kSyncEachCommit.
  std::string boot_id;
};

// The outcome of one command in an applied batch.
struct ApplyResult {
  std::int64_t deleted = 0;  // For deletes: 1 if the key existed.
  // For Op::kEtcd: the response or etcd's error (kv/mvcc_request.h).
  std::shared_ptr<EtcdResult> etcd;
};

class Store {
 public:
  // Opens (creating if needed) the store in options.dir.
  static util::Status open(const StoreOptions& options, std::unique_ptr<Store>* out);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies `commands` in order in one transaction that also sets the applied
  // index to `applied_index` (> applied_index()). On a non-OK return nothing
  // was applied (MDB_MAP_FULL maps to RESOURCE_EXHAUSTED). `results` gets one
  // entry per command.
  util::Status apply(std::span<const Command> commands, std::uint64_t applied_index,
                     std::vector<ApplyResult>* results);

  // The cluster membership recorded with the data (opaque to the store), in
  // the same transaction as the applied index: by set_membership() at
  // bootstrap, or with a batch whose entries changed it.
  util::Status set_membership(const std::string& membership, std::uint64_t applied_index);
  // NOT_FOUND if none was ever recorded (a new data directory).
  util::Status membership(std::string* out) const;

  // The committed feature level (kv/feature_meta.h), as of the last
  // commit. Any thread.
  FeatureLevel feature_level() const;
  // Raises it to `level` in a transaction of its own, outside the log: only
  // for a data directory bootstrapped from DKV_CLUSTER (node/recovery.cc).
  util::Status set_feature_level(FeatureLevel level);

  // NOT_FOUND if the key is absent.
  util::Status get(std::string_view key, std::string* value) const;

  // etcd's Range in its own read transaction (any thread), or in `view`'s.
  // Errors: OUT_OF_RANGE with etcd's compacted / future revision messages.
  // The response's header carries only the revision.
  util::Status range(const etcdserverpb::RangeRequest& request,
                     etcdserverpb::RangeResponse* response) const;
  // A txn that writes nothing (kv::is_read_only), served without the log:
  // compares and ranges in one read transaction.
  util::Status read_only_txn(const etcdserverpb::TxnRequest& request,
                             etcdserverpb::TxnResponse* response) const;
  // etcd's HashKV at `revision` (0: current; kv/mvcc_hash.h says what it
  // covers) in its own read transaction; *current and *compact get the
  // revision counters that transaction saw. Any thread. Errors: OUT_OF_RANGE
  // with etcd's compacted / future revision messages.
  util::Status hash_kv(std::int64_t revision, std::uint32_t* hash, std::int64_t* current,
                       std::int64_t* compact) const;
  // The revision counters as of the last commit. Any thread.
  std::int64_t current_revision() const;
  std::int64_t compact_revision() const;
  // The raised alarms (kv/alarms.h), in their own read transaction. Any thread.
  util::Status alarms(etcdserverpb::AlarmResponse* out) const;
  // A NOSPACE alarm is raised, as of the last commit. Any thread.
  bool nospace_alarm() const;

  // Leases (kv/lease.h), each call in its own read transaction. Any thread.
  // lease(): NOT_FOUND (etcd's message) if there is none; `keys` (may be
  // null) gets the keys attached to it, in key order.
  util::Status lease(std::int64_t id, LeaseInfo* out, std::vector<std::string>* keys) const;
  util::Status leases(std::vector<LeaseInfo>* out) const;
  // What apply() did to leases since the last call, in order: moved to
  // *out. Writer thread, between applies.
  void take_lease_changes(std::vector<LeaseChange>* out) {
    out->clear();
    out->swap(lease_changes_);
  }
  // Watches (kv/history.h). The listener gets every commit's history right
  // after the commit, on the writer thread (also after restore()). Set it
  // before the first apply(); it must outlive the Store's writes.
  void set_history_listener(HistoryListener listener);
  // The hist records with from_rev <= main <= min(to_rev, current), whole
  // revisions, about max_bytes of keys and values at most (see
  // mvcc::read_history), in its own read transaction. *through: all
  // records up to it were read. OUT_OF_RANGE (etcd's compacted error) if
  // from_rev <= the compact revision: history there may be gone. Any thread.
  util::Status read_history(std::int64_t from_rev, std::int64_t to_rev, std::size_t max_bytes,
                            std::vector<HistoryEvent>* out, std::int64_t* through) const;

  // Physical compaction: one bounded batch (visiting at most max_records
  // history records) in its own write transaction, resuming where the last
  // one stopped (also after a restart). The writer thread, between apply()
  // calls: the node runs it between Readies, not inside the apply batch.
  // *more: call again.
  static constexpr std::size_t kCompactBatchRecords = 1000;  // etcd's batch.
  util::Status compact_step(bool* more, std::size_t max_records = kCompactBatchRecords);
  // True when history at or below the compact revision may remain to be
  // removed (the compact revision moved, or since open or a restore, until
  // a compact_step() reports no more). Any thread.
  bool compaction_pending() const;
  // Records in hist, and those reachable on keys' chains from kv and dead
  // (equal when the store is sound). Any thread; for tests and metrics.
  util::Status history_size(std::uint64_t* hist_records, std::uint64_t* chained_records) const;

  // A consistent image of the whole store (every pair, the applied index and
  // the membership, all from one read transaction) for a raft snapshot.
  // Writers keep going meanwhile (LMDB readers never block the writer).
  // Format (kv/store.cc): magic, applied index, membership, then the
  // tables (format 2: kv and hist, then lease and lkeys when a lease
  // exists; hist's links and dead are rebuilt from hist).
  // Holds the whole image in memory: for tests and small stores; snapshots
  // stream with the ImageOut/ImageIn forms below.
  util::Status dump(std::string* image, std::uint64_t* applied_index,
                    std::string* membership) const;

  // A read transaction pinned at the state when it was opened. It may be
  // used (and destroyed) on another thread, so a snapshot can be dumped in
  // the background while writes go on. Must not outlive the Store.
  class ReadView {
   public:
    ~ReadView();
    ReadView(const ReadView&) = delete;
    ReadView& operator=(const ReadView&) = delete;

   private:
    friend class Store;
    ReadView(void* txn, MapGate* gate) : txn_(txn), gate_(gate) {}
    void* txn_;      // MDB_txn*, read-only.
    MapGate* gate_;  // Entered by open_view(), left by the destructor.
  };
  util::Status open_view(std::unique_ptr<ReadView>* out) const;

  // Receives an image piece by piece, in order; a non-OK return stops the dump.
  using ImageOut = std::function<util::Status(std::string_view piece)>;
  // Sets *piece to the next bytes of an image, or sets *done (piece empty)
  // at its end.
  using ImageIn = std::function<util::Status(std::string* piece, bool* done)>;
  // Pieces handed to ImageOut are about this size (one pair may exceed it).
  static constexpr std::size_t kImagePieceBytes = 256u << 10;
  // restore() commits a transaction per this many image bytes, so that
  // LMDB's dirty pages (held in memory until commit) stay bounded.
  static constexpr std::uint64_t kRestoreTxnBytes = 8u << 20;

  // The applied index and membership `view` is pinned at.
  util::Status view_header(const ReadView& view, std::uint64_t* applied_index,
                           std::string* membership) const;
  // Streams the image of the state `view` is pinned at to `out`. Memory:
  // O(kImagePieceBytes + one pair), whatever the store's size.
  util::Status dump(const ReadView& view, const ImageOut& out) const;
  // dump() of the state `view` is pinned at, into one string.
  util::Status dump(const ReadView& view, std::string* image, std::uint64_t* applied_index,
                    std::string* membership) const;
  // dump() as a stream: the image of the state when it was opened, handed
  // out in pieces, so that a backup of any size holds only about one piece
  // in memory (dkv.v0.Maintenance/Snapshot). It owns its read transaction.
  // Threading: one thread at a time, any thread (MDB_NOTLS).
  // Lifetime: must not outlive the Store.
  class ImageReader {
   public:
    ~ImageReader();
    ImageReader(const ImageReader&) = delete;
    ImageReader& operator=(const ImageReader&) = delete;

    std::uint64_t applied_index() const { return applied_index_; }
    // The image's total size, known before the first piece.
    std::uint64_t size_bytes() const { return size_bytes_; }
    // The next piece of the image: chunk_bytes long, except the last one
    // (which may be shorter, and is never empty unless the image is).
    // Sets *done when nothing is left after it.
    util::Status next(std::string* chunk, bool* done);

   private:
    friend class Store;
    ImageReader(const Store& store, std::unique_ptr<ReadView> view, std::size_t chunk_bytes);
    util::Status start();

    const Store& store_;
    std::unique_ptr<ReadView> view_;
    const std::size_t chunk_bytes_;
    void* cursor_ = nullptr;  // MDB_cursor* over the table being streamed.
    int table_ = 0;           // 0: kv, 1: hist, 2: done.
    bool started_scan_ = false;
    std::string pending_;      // Encoded but not yet handed out.
    bool pairs_done_ = false;  // The end marker is in pending_.
    std::uint64_t applied_index_ = 0;
    std::uint64_t size_bytes_ = 0;
    std::uint64_t handed_out_bytes_ = 0;
    std::string alarms_section_;  // Appended after the tables.
  };
  // chunk_bytes > 0.
  util::Status open_image_reader(std::size_t chunk_bytes, std::unique_ptr<ImageReader>* out) const;

  // Replaces the whole store with the image `in` streams (from dump()).
  // Memory: O(one piece + one pair + kRestoreTxnBytes of dirty pages).
  // An image up to kRestoreTxnBytes is restored in one transaction:
  // malformed input is DATA_LOSS and changes nothing. A larger one commits
  // every kRestoreTxnBytes; the first commit already empties the store and
  // sets the applied index to 0, so a failure or crash part way leaves a
  // store that is visibly behind (the node restores it again from the
  // snapshot file at its next start). Reads (get) are refused with
  // UNAVAILABLE from the first commit until a restore completes.
  util::Status restore(const ImageIn& in);
  // restore() from an image in memory.
  util::Status restore(std::string_view image);
  // Reads only the header of an image (its applied index and membership).
  static util::Status peek_image(std::string_view image, std::uint64_t* applied_index,
                                 std::string* membership);

  std::uint64_t applied_index() const;

  // kDeferred: fsyncs the environment, so that a machine crash from now on
  // needs no rebuild. A no-op when nothing is unsynced. Writer thread only.
  util::Status sync();
  // Writes the environment's dirty pages back (an fsync of the map) without
  // touching the unsynced marker, so that a sync() soon after has little
  // left to write: the node runs it off its raft thread
  // (node/store_flusher.h). Any thread; holds the map as a long reader, so
  // a resize that can wait does.
  util::Status write_back() const;
  bool has_unsynced_commits() const;
  // open() found that the machine went down with unsynced commits and
  // started from an empty environment (applied_index() is 0).
  bool rebuilt_after_machine_crash() const;

  // Bytes of the data file in use (high-water mark of pages), as etcd's db
  // size. Any thread; as of the last commit.
  std::uint64_t used_bytes() const;
  // The memory map's size now (data.mdb's apparent size). Writer thread.
  std::uint64_t map_bytes() const;
  std::uint64_t quota_bytes() const { return options_.quota_bytes; }
  // Upper estimate of the bytes a put adds to used_bytes() (its value is
  // kept in kv and in hist).
  static std::uint64_t put_cost_bytes(const Command& command);

 private:
  struct Env;

 public:
  struct Restore;  // restore()'s transactions (kv/store.cc).

 private:
  explicit Store(StoreOptions options, std::unique_ptr<Env> env);
  util::Status apply_txn(std::span<const Command> commands, std::uint64_t applied_index,
                         std::vector<ApplyResult>* results);
  util::Status compact_txn(bool* more, std::size_t max_records);

  const StoreOptions options_;
  std::unique_ptr<Env> env_;
  std::vector<LeaseChange> lease_changes_;  // Not taken yet; writer thread.
};

}  // namespace dkv::kv
