#include "node/force_new_cluster.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "node/entry_codec.h"
#include "node/snapshots.h"
#include "util/assert.h"

namespace dkv::node {
namespace {

// Entry bytes applied per LMDB transaction (bounds its dirty pages).
constexpr std::uint64_t kApplyBatchBytesMax = 8u << 20;

// Step 1: applies every entry after the store's applied index to the store
// and every configuration change to `names`.
util::Status apply_whole_log(kv::Store& store, const std::vector<raft::Entry>& entries,
                             Membership* names) {
  std::vector<kv::Command> commands;
  std::uint64_t batch_bytes = 0;
  raft::Index batch_through = 0;
  auto flush = [&]() -> util::Status {
    if (commands.empty()) return util::Status::ok();
    std::vector<kv::ApplyResult> results;
    if (auto s = store.apply(commands, batch_through, &results); !s.is_ok()) return s;
    commands.clear();
    batch_bytes = 0;
    return util::Status::ok();
  };
  const raft::Index applied = store.applied_index();
  for (const raft::Entry& e : entries) {
    if (e.index <= applied) continue;
    if (e.type == raft::EntryType::kConfChange) {
      const auto cc = raft::ConfChange::decode(e.data);
      if (!cc)
        return {util::Code::kDataLoss, "undecodable conf change at " + std::to_string(e.index)};
      if (auto s = names->apply(*cc); !s.is_ok()) {
        return {util::Code::kDataLoss,
                "conf change at " + std::to_string(e.index) + ": " + s.message()};
      }
      continue;
    }
    if (e.data.empty()) continue;  // A leader's no-op.
    std::uint64_t request_id = 0;
    kv::Command c;
    if (auto s = decode_entry(e.data, &request_id, &c); !s.is_ok()) {
      return {util::Code::kDataLoss,
              "undecodable entry " + std::to_string(e.index) + ": " + s.message()};
    }
    commands.push_back(std::move(c));
    batch_through = e.index;
    batch_bytes += e.data.size();
    if (batch_bytes >= kApplyBatchBytesMax) {
      if (auto s = flush(); !s.is_ok()) return s;
    }
  }
  return flush();
}

// This node's address: the persisted one, else DKV_CLUSTER's.
MemberAddress own_address(const ForceNewCluster& options, const Membership& names) {
  if (const MemberAddress* self = names.find(node_id_of(options.node_id))) return *self;
  for (const auto& m : options.configured) {
    if (m.id == options.node_id) return m;
  }
  return MemberAddress{options.node_id, "", 0};
}

// Step 3: the snapshot file at `marker` holding the store (at marker.index,
// with the forced membership), then the WAL: commit, marker, compaction.
util::Status write_forced_snapshot(const ForceNewCluster& options, kv::Store& store, wal::Log& log,
                                   wal::SnapshotMarker marker, const std::string& membership,
                                   raft::HardState* hs) {
  DKV_ASSERT(store.applied_index() == marker.index);
  std::unique_ptr<kv::Store::ReadView> view;
  if (auto s = store.open_view(&view); !s.is_ok()) return s;
  std::uint64_t image_bytes = 0;
  if (auto s = write_snapshot_file(wal::posix_file_system(), options.db_path, marker, membership,
                                   store, *view, &image_bytes);
      !s.is_ok()) {
    return s;
  }
  view.reset();
  hs->commit = std::max(hs->commit, marker.index);
  hs->term = std::max(hs->term, marker.term);
  if (auto s = log.save(hs, {}); !s.is_ok()) return s;
  if (auto s = log.sync(); !s.is_ok()) return s;
  if (auto s = log.save_snapshot_marker(marker); !s.is_ok()) return s;
  if (auto s = log.release_to(marker.index + 1); !s.is_ok()) return s;
  return remove_old_snapshot_files(wal::posix_file_system(), options.db_path, marker);
}

}  // namespace

util::Status force_new_cluster(const ForceNewCluster& options, kv::Store& store, wal::Log& log,
                               wal::Recovered* recovered, Membership* membership) {
  const raft::Index last = log.last_index();
  const raft::Index commit = recovered->hard_state.commit;
  DKV_ASSERT(store.applied_index() >= recovered->snapshot.index);
  DKV_ASSERT(recovered->entries.empty() || recovered->entries.back().index == last);
  const std::string before = membership->encode();
  if (auto s = apply_whole_log(store, recovered->entries, membership); !s.is_ok()) return s;
  membership->force_single(own_address(options, *membership));
  const std::string forced = membership->encode();
  // The store's applied index may still be below `last` (trailing no-ops or
  // conf changes): this transaction moves it there.
  if (auto s = store.set_membership(forced, last); !s.is_ok()) return s;
  if (auto s = store.sync(); !s.is_ok()) return s;
  if (last > 0) {
    const raft::Term term =
        recovered->entries.empty() ? recovered->snapshot.term : recovered->entries.back().term;
    const wal::SnapshotMarker marker{last, term};
    raft::HardState hs = recovered->hard_state;
    if (auto s = write_forced_snapshot(options, store, log, marker, forced, &hs); !s.is_ok()) {
      return s;
    }
    recovered->snapshot = marker;
    recovered->entries.clear();
    recovered->hard_state = hs;
  }
  spdlog::warn(
      "DKV_FORCE_NEW_CLUSTER: applied the whole log through index {} ({} entries beyond the "
      "commit index {}); membership rewritten from {} to {}{}; add members again",
      last, last > commit ? last - commit : 0, commit, before, forced,
      last > 0 ? ", the log compacted under a snapshot at its last index that carries it" : "");
  return util::Status::ok();
}

}  // namespace dkv::node
