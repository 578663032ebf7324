#include "node/recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "node/force_new_cluster.h"
#include "node/snapshots.h"
#include "wal/snapshot_file.h"

namespace dkv::node {
namespace {

// Phase 1. A new directory is stamped with the cluster it is bootstrapped
// into; an existing one keeps its stamp (its membership may have changed).
util::Status open_wal(const NodeOptions& options, std::unique_ptr<wal::Log>* log,
                      wal::Recovered* recovered) {
  wal::Options wal_options;
  wal_options.node_id = options.node_id;
  wal_options.fs = options.wal_fs.get();
  if (options.wal_segment_bytes != 0) wal_options.segment_size_bytes = options.wal_segment_bytes;
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path + "/wal", ec)) {
    // A joining node takes the id of the cluster it joins (see Join).
    wal_options.cluster_id =
        options.join ? options.join->cluster_id : cluster_id_of(options.members);
  }
  if (auto s = wal::Log::open(options.db_path, wal_options, log, recovered); !s.is_ok()) return s;
  if (!recovered->torn_tail.empty()) {
    spdlog::warn("WAL recovery cut a torn last record (a crash mid-write): {}",
                 recovered->torn_tail);
  }
  return util::Status::ok();
}

// Phase 2.
util::Status open_store(const NodeOptions& options, const wal::Recovered& recovered,
                        std::unique_ptr<kv::Store>* store) {
  kv::StoreOptions store_options;
  store_options.dir = options.db_path + "/kv";
  store_options.quota_bytes = options.quota_bytes;
  // The WAL is the durable record, so LMDB commits are not fsynced (one
  // fsync per Ready instead of two): the raft loop syncs LMDB about once a
  // second. A process crash loses nothing; after a machine crash with
  // unsynced commits the store starts empty and is rebuilt from the last
  // snapshot, then by replaying the WAL from there (kv/store.h).
  store_options.durability = kv::StoreOptions::Durability::kDeferred;
  store_options.boot_id = options.boot_id;
  store_options.feature_level_supported = options.feature_level_supported;
  if (options.test_ack_before_persist) {
    // The canary's WAL loses acknowledged entries on a crash, but LMDB kept
    // what it applied (page cache): rebuild the store from the WAL, as if it
    // were no more durable than the WAL.
    std::error_code ec;
    std::filesystem::remove_all(store_options.dir, ec);
    spdlog::warn("DKV_TEST_ACK_BEFORE_PERSIST: store wiped, rebuilt from the WAL");
  }
  if (auto s = kv::Store::open(store_options, store); !s.is_ok()) return s;
  if ((*store)->rebuilt_after_machine_crash()) {
    spdlog::warn(
        "the machine went down with unsynced LMDB commits: rebuilding the store "
        "from snapshot {} and the WAL",
        recovered.snapshot.index);
  }
  return remove_snapshot_leftovers(files_of(options), options.db_path);
}

// Phase 3. The store is restored from the latest snapshot file (streaming)
// if LMDB is behind it: a crash during or right after installing a leader's
// snapshot, or LMDB losing its last transactions. Sets *snapshot_membership
// to the membership the file records ("" without a snapshot).
util::Status catch_up_store_with_snapshot_file(const NodeOptions& options,
                                               const wal::Recovered& recovered, kv::Store& store,
                                               std::string* snapshot_membership) {
  if (recovered.snapshot.index == 0) return util::Status::ok();
  std::unique_ptr<wal::SnapshotReader> reader;
  if (auto s = open_snapshot_file(files_of(options), options.db_path, recovered.snapshot, &reader);
      !s.is_ok()) {
    return s;
  }
  *snapshot_membership = reader->meta().membership;
  if (store.applied_index() < recovered.snapshot.index) {
    spdlog::info("restoring the store from snapshot {}", recovered.snapshot.index);
    return restore_store(store, *reader);
  }
  // Not needed here, but peers may be sent it: a damaged file stops us now
  // rather than being refused by every follower later.
  wal::SnapshotMeta meta;
  const std::string path =
      wal::snapshot_path(wal::snap_dir_path(options.db_path), recovered.snapshot);
  return wal::SnapshotReader::verify(files_of(options), path, &meta);
}

// A member's address is part of the cluster's membership: peers dial the
// persisted one. A node whose DKV_CLUSTER entry moved it elsewhere would
// listen where no peer dials, so it refuses to start instead.
util::Status check_own_address(const Membership& persisted, const NodeOptions& options,
                               const std::string& where) {
  const MemberAddress* known = persisted.find(node_id_of(options.node_id));
  if (known == nullptr) return util::Status::ok();  // Removed, or not added yet.
  for (const auto& m : options.members) {
    if (m.id != options.node_id || m.address() == known->address()) continue;
    return {util::Code::kFailedPrecondition,
            "DKV_CLUSTER gives '" + m.id + "' the address " + m.address() +
                ", but its cluster knows it at " + known->address() + " (persisted in " + where +
                "); an address cannot change in place: start it at " + known->address() +
                ", or remove the member and add it again at the new address (see README, "
                "Membership)"};
  }
  return util::Status::ok();
}

// Phase 4, a new directory: DKV_CLUSTER's membership, or the one a member
// told a joining node (which lists it as a learner): the leader then sends
// it a snapshot, or the log from index 1, whose conf changes replay onto
// that membership and end where the leader's did.
util::Status bootstrap_membership(const NodeOptions& options, kv::Store& store,
                                  Membership* membership) {
  *membership = Membership(options.members);
  if (options.join) {
    if (auto s = Membership::decode(options.join->membership, membership); !s.is_ok()) {
      return util::Status(util::Code::kFailedPrecondition,
                          "the membership of the cluster to join is unreadable: " + s.message());
    }
  }
  if (auto s = store.set_membership(membership->encode(), store.applied_index()); !s.is_ok()) {
    return s;
  }
  spdlog::info("bootstrapped membership {}", membership->encode());
  return util::Status::ok();
}

// Phase 4: the persisted membership wins over DKV_CLUSTER.
util::Status load_membership(const NodeOptions& options, kv::Store& store, Membership* membership) {
  std::string encoded;
  const util::Status ms = store.membership(&encoded);
  if (ms.code() == util::Code::kNotFound) return bootstrap_membership(options, store, membership);
  if (!ms.is_ok()) return ms;
  if (auto s = Membership::decode(encoded, membership); !s.is_ok()) {
    return util::Status(util::Code::kDataLoss, "the membership stored in " + options.db_path +
                                                   "/kv is unreadable: " + s.message());
  }
  if (auto s = check_own_address(*membership, options, options.db_path); !s.is_ok()) return s;
  auto names = [](std::vector<MemberAddress> v) {
    std::sort(v.begin(), v.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
    return Membership(std::move(v)).encode();
  };
  if (names(membership->all()) != names(options.members)) {
    spdlog::warn("DKV_CLUSTER differs from the persisted membership {}; using the persisted one",
                 membership->encode());
  }
  return util::Status::ok();
}

// Phase 4, a new directory bootstrapped from DKV_CLUSTER (a new cluster,
// whose members run this dkv): it starts at this binary's feature level,
// so etcd writes are served at once. Not a joining or rejoining node (it
// gets the level in the leader's snapshot, or from the leader's feature
// gate), and not a store rebuilt from the WAL (its WAL is not new).
util::Status bootstrap_feature_level(const NodeOptions& options, bool new_directory,
                                     kv::Store& store) {
  if (!new_directory || options.join) return util::Status::ok();
  if (auto s = store.set_feature_level(options.feature_level_supported); !s.is_ok()) return s;
  spdlog::info("bootstrapped at feature level {} ({})",
               static_cast<std::uint32_t>(options.feature_level_supported),
               kv::feature_level_name(options.feature_level_supported));
  return util::Status::ok();
}

// Phase 5.
util::Status check_store_within_wal(const kv::Store& store, const wal::Log& log) {
  if (store.applied_index() <= log.last_index()) return util::Status::ok();
  return util::Status(util::Code::kDataLoss,
                      "the store has applied index " + std::to_string(store.applied_index()) +
                          " beyond the WAL's last index " + std::to_string(log.last_index()));
}

// Phase 7. The raft storage starts from the snapshot's metadata (the image
// stays in its file), then the WAL's entries and hard state.
util::Status rebuild_raft_storage(const wal::Recovered& recovered,
                                  const std::string& snapshot_membership,
                                  const Membership& membership, raft::MemoryStorage& storage) {
  if (recovered.snapshot.index > 0) {
    Membership at_snapshot;
    if (auto s = Membership::decode(snapshot_membership, &at_snapshot); !s.is_ok()) {
      return util::Status(util::Code::kDataLoss, "snapshot membership unreadable: " + s.message());
    }
    raft::Snapshot snap;  // Raft snapshot metadata only.
    snap.metadata.index = recovered.snapshot.index;
    snap.metadata.term = recovered.snapshot.term;
    snap.metadata.conf_state = at_snapshot.conf_state();
    if (auto s = storage.apply_snapshot(snap); !s.is_ok()) return s;
  }
  storage.set_conf_state(membership.conf_state());
  if (!recovered.entries.empty()) {
    if (auto s = storage.append(recovered.entries); !s.is_ok()) return s;
  }
  storage.set_hard_state(recovered.hard_state);
  return util::Status::ok();
}

}  // namespace

wal::FileSystem& files_of(const NodeOptions& options) {
  return options.wal_fs ? *options.wal_fs : wal::posix_file_system();
}

util::Status recover(const NodeOptions& options, RecoveredState* out) {
  std::error_code ec;
  const bool new_directory = !std::filesystem::exists(options.db_path + "/wal", ec);
  wal::Recovered recovered;
  if (auto s = open_wal(options, &out->log, &recovered); !s.is_ok()) return s;
  if (auto s = open_store(options, recovered, &out->store); !s.is_ok()) return s;
  kv::Store& store = *out->store;
  std::string snapshot_membership;
  if (auto s = catch_up_store_with_snapshot_file(options, recovered, store, &snapshot_membership);
      !s.is_ok()) {
    return s;
  }
  if (auto s = load_membership(options, store, &out->membership); !s.is_ok()) return s;
  if (auto s = bootstrap_feature_level(options, new_directory, store); !s.is_ok()) return s;
  if (auto s = check_store_within_wal(store, *out->log); !s.is_ok()) return s;
  if (options.force_new_cluster) {
    const ForceNewCluster force{options.node_id, options.db_path, options.members};
    if (auto s = force_new_cluster(force, store, *out->log, &recovered, &out->membership);
        !s.is_ok()) {
      return s;
    }
    snapshot_membership = out->membership.encode();
  }
  out->storage = std::make_unique<raft::MemoryStorage>();
  if (auto s = rebuild_raft_storage(recovered, snapshot_membership, out->membership, *out->storage);
      !s.is_ok()) {
    return s;
  }
  spdlog::info("recovered: term {} commit {} last index {} applied {}", recovered.hard_state.term,
               recovered.hard_state.commit, out->log->last_index(), store.applied_index());
  return util::Status::ok();
}

}  // namespace dkv::node
