#include "node/node.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <random>

#include "node/entry_codec.h"
#include "node/force_new_cluster.h"
#include "node/snapshots.h"
#include "raft/raw_node.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "util/thread_name.h"
#include "wal/failpoints.h"
#include "wal/log.h"

namespace dkv::node {
namespace {

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

// Opens the WAL and the store and rebuilds the raft storage from them.
util::Status recover(const NodeOptions& options, std::unique_ptr<kv::Store>* store,
                     std::unique_ptr<wal::Log>* log, std::unique_ptr<raft::MemoryStorage>* storage,
                     Membership* membership) {
  kv::StoreOptions store_options;
  store_options.dir = options.db_path + "/kv";
  store_options.quota_bytes = options.quota_bytes;
  // The WAL is the durable record, so LMDB commits are not fsynced (one
  // fsync per Ready instead of two): the raft loop syncs LMDB about once a
  // second. A process crash loses nothing; after a machine crash with
  // unsynced commits the store starts empty and is rebuilt below from the
  // last snapshot, then by replaying the WAL from there (kv/store.h).
  store_options.durability = kv::StoreOptions::Durability::kDeferred;

  wal::Options wal_options;
  wal_options.node_id = options.node_id;
  wal_options.fs = options.wal_fs.get();
  // A new directory is stamped with the cluster it is bootstrapped into; an
  // existing one keeps its stamp (its membership may have changed since).
  std::error_code ec;
  if (!std::filesystem::exists(options.db_path + "/wal", ec)) {
    // A joining node takes the id of the cluster it joins (see Join).
    wal_options.cluster_id =
        options.join ? options.join->cluster_id : cluster_id_of(options.members);
  }
  wal::Recovered recovered;
  if (auto s = wal::Log::open(options.db_path, wal_options, log, &recovered); !s.is_ok()) return s;
  if (!recovered.torn_tail.empty()) {
    spdlog::warn("WAL recovery cut a torn last record (a crash mid-write): {}",
                 recovered.torn_tail);
  }
  if (options.test_ack_before_persist) {
    // The canary's WAL loses acknowledged entries on a crash, but LMDB kept
    // what it applied (page cache): rebuild the store from the WAL, as if it
    // were no more durable than the WAL.
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
  if (auto s = remove_snapshot_leftovers(options.db_path); !s.is_ok()) return s;

  // The latest snapshot: the raft storage starts from it, and the store is
  // restored from it (streaming from the file) if LMDB is behind it (a crash
  // during or right after installing a leader's snapshot, or LMDB losing its
  // last transactions).
  std::string snapshot_membership;
  if (recovered.snapshot.index > 0) {
    std::unique_ptr<wal::SnapshotReader> reader;
    if (auto s = open_snapshot_file(options.db_path, recovered.snapshot, &reader); !s.is_ok()) {
      return s;
    }
    snapshot_membership = reader->meta().membership;
    if ((*store)->applied_index() < recovered.snapshot.index) {
      spdlog::info("restoring the store from snapshot {}", recovered.snapshot.index);
      if (auto s = restore_store(**store, *reader); !s.is_ok()) return s;
    } else {
      // Not needed here, but peers may be sent it: a damaged file stops us
      // now rather than being refused by every follower later.
      wal::SnapshotMeta meta;
      const std::string path =
          wal::snapshot_path(wal::snap_dir_path(options.db_path), recovered.snapshot);
      if (auto s = wal::SnapshotReader::verify(wal::posix_file_system(), path, &meta); !s.is_ok()) {
        return s;
      }
    }
  }

  std::string encoded;
  util::Status ms = (*store)->membership(&encoded);
  if (ms.code() == util::Code::kNotFound) {
    *membership = Membership(options.members);
    // A joining node starts from the membership a member told it (which
    // lists it as a learner): the leader then sends it a snapshot, or the
    // log from index 1, whose conf changes replay onto that membership and
    // end where the leader's did (each member's last change decides).
    if (options.join) {
      if (auto s = Membership::decode(options.join->membership, membership); !s.is_ok()) {
        return util::Status(util::Code::kFailedPrecondition,
                            "the membership of the cluster to join is unreadable: " + s.message());
      }
    }
    if (auto s = (*store)->set_membership(membership->encode(), (*store)->applied_index());
        !s.is_ok()) {
      return s;
    }
    spdlog::info("bootstrapped membership {}", membership->encode());
  } else if (!ms.is_ok()) {
    return ms;
  } else {
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
  }

  if ((*store)->applied_index() > (*log)->last_index()) {
    return util::Status(util::Code::kDataLoss,
                        "the store has applied index " + std::to_string((*store)->applied_index()) +
                            " beyond the WAL's last index " + std::to_string((*log)->last_index()));
  }
  if (options.force_new_cluster) {
    const ForceNewCluster force{options.node_id, options.db_path, options.members};
    if (auto s = force_new_cluster(force, **store, **log, &recovered, membership); !s.is_ok()) {
      return s;
    }
    snapshot_membership = membership->encode();
  }

  *storage = std::make_unique<raft::MemoryStorage>();
  const std::uint64_t applied = (*store)->applied_index();
  if (recovered.snapshot.index > 0) {
    Membership at_snapshot;
    if (auto s = Membership::decode(snapshot_membership, &at_snapshot); !s.is_ok()) {
      return util::Status(util::Code::kDataLoss, "snapshot membership unreadable: " + s.message());
    }
    raft::Snapshot snap;  // Metadata only: the image stays in its file.
    snap.metadata.index = recovered.snapshot.index;
    snap.metadata.term = recovered.snapshot.term;
    snap.metadata.conf_state = at_snapshot.conf_state();
    if (auto s = (*storage)->apply_snapshot(snap); !s.is_ok()) return s;
  }
  (*storage)->set_conf_state(membership->conf_state());
  if (!recovered.entries.empty()) {
    if (auto s = (*storage)->append(recovered.entries); !s.is_ok()) return s;
  }
  (*storage)->set_hard_state(recovered.hard_state);
  spdlog::info("recovered: term {} commit {} last index {} applied {}", recovered.hard_state.term,
               recovered.hard_state.commit, (*log)->last_index(), applied);
  return util::Status::ok();
}

}  // namespace

namespace {

// The marker of a data directory whose node lost its log (NodeOptions::
// rejoining): written, durably, before the WAL exists; removed once caught up.
std::string rejoining_marker(const std::string& db_path) { return db_path + "/rejoining"; }

util::Status sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return util::Status(util::Code::kInternal, dir + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return util::Status(util::Code::kInternal, dir + ": fsync: " + std::strerror(errno));
  return util::Status::ok();
}

util::Status write_rejoining_marker(const std::string& db_path) {
  std::error_code ec;
  std::filesystem::create_directories(db_path, ec);
  const std::string path = rejoining_marker(db_path);
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fd < 0) return util::Status(util::Code::kInternal, path + ": " + std::strerror(errno));
  static const char kText[] = "this node lost its data and rejoins: no votes until caught up\n";
  const bool ok = ::write(fd, kText, sizeof kText - 1) == static_cast<ssize_t>(sizeof kText - 1) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return util::Status(util::Code::kInternal, path + ": " + std::strerror(errno));
  return sync_dir(db_path);
}

}  // namespace

void Node::finish_rejoining() {
  rejoining_ = false;
  std::error_code ec;
  std::filesystem::remove(rejoining_marker(options_.db_path), ec);
  // Best effort: a marker that survives a crash only keeps the node out of
  // elections until a leader catches it up again (the safe side).
  if (ec || !sync_dir(options_.db_path).is_ok()) {
    spdlog::warn("could not remove {}: {}", rejoining_marker(options_.db_path), ec.message());
  }
  spdlog::info("caught up after losing its data: this node votes again");
}

util::Status Node::open(NodeOptions options, std::unique_ptr<Node>* out) {
#ifdef DKV_TEST_HOOKS
  if (!options.test_failpoints.empty() || options.test_ack_before_persist) {
    wal::Failpoints f;
    if (!options.test_failpoints.empty()) {
      if (auto s = wal::parse_failpoints(options.test_failpoints, &f); !s.is_ok()) return s;
    }
    if (options.test_ack_before_persist) f.lazy_sync_period = std::chrono::milliseconds(300);
    options.wal_fs = std::make_shared<wal::FailpointFileSystem>(wal::posix_file_system(), f);
  }
#else
  options.test_stale_reads = false;
  options.test_failpoints.clear();
  options.test_ack_before_persist = false;
#endif
  std::error_code ec;
  if (options.rejoining && !std::filesystem::exists(options.db_path + "/wal", ec)) {
    if (auto s = write_rejoining_marker(options.db_path); !s.is_ok()) return s;
  }
  const bool rejoining = std::filesystem::exists(rejoining_marker(options.db_path), ec);
  std::unique_ptr<kv::Store> store;
  std::unique_ptr<wal::Log> log;
  std::unique_ptr<raft::MemoryStorage> storage;
  Membership membership;
  if (auto s = recover(options, &store, &log, &storage, &membership); !s.is_ok()) return s;
  const raft::Index applied = store->applied_index();
  std::unique_ptr<Node> node(new Node(std::move(options), std::move(store), std::move(log),
                                      std::move(storage), std::move(membership)));
  node->rejoining_ = rejoining;
  if (auto s = node->start_raft(applied); !s.is_ok()) return s;
  *out = std::move(node);
  return util::Status::ok();
}

Node::Node(NodeOptions options, std::unique_ptr<kv::Store> store, std::unique_ptr<wal::Log> log,
           std::unique_ptr<raft::MemoryStorage> storage, Membership membership)
    : options_(std::move(options)),
      raft_id_(node_id_of(options_.node_id)),
      store_(std::move(store)),
      log_(std::move(log)),
      storage_(std::move(storage)),
      membership_(std::move(membership)) {
  // Request ids: a random per-process prefix and a counter, so ids from
  // different nodes and restarts never meet in one log.
  std::random_device rd;
  next_request_id_ = (static_cast<std::uint64_t>(rd()) << 32) ^ (raft_id_ << 48);
  cluster_id_ = std::strtoull(log_->metadata().cluster_id.c_str(), nullptr, 16);
  last_snapshot_index_ = log_->snapshot().index;
  status_.node_id = options_.node_id;
  status_.applied_index = store_->applied_index();
  for (const auto& name : membership_.removed()) removed_ids_.insert(node_id_of(name));
  if (membership_.find(raft_id_) == nullptr && membership_.was_removed(raft_id_)) {
    removed_ = true;
    spdlog::warn("this node is not a member of the cluster (it was removed): serving nothing");
  }
}

Node::~Node() { stop(); }

util::Status Node::start_raft(raft::Index applied) {
  raft::Config config;
  config.id = raft_id_;
  config.heartbeat_ticks = 1;
  election_ticks_ = static_cast<int>(options_.election_ms / options_.heartbeat_ms);
  readiness_ = Readiness(election_ticks_);
  config.election_ticks = election_ticks_;
  // The first member of the configured cluster leads first, as in the
  // original dkv: the others wait several election timeouts before their
  // first campaign.
  const Membership m = membership();
  const bool first = !m.voters().empty() && m.voters().front().id == options_.node_id;
  config.initial_election_ticks = first ? election_ticks_ : 3 * election_ticks_;
  config.applied = applied;
  config.max_msg_bytes = 2 << 20;
  config.max_uncommitted_bytes = 64 << 20;
  config.max_inflight_msgs = 256;
  config.pre_vote = true;
  config.check_quorum = true;
  config.rejoining = rejoining_;
  if (rejoining_) {
    spdlog::warn(
        "this node lost its data: it takes no part in elections until a leader caught it up");
  }
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}() ^ raft_id_);
  config.rng = [rng] { return (*rng)(); };
  // Raft events (elections, votes, rejected appends, snapshots, transfers)
  // are debug lines, named by member where known.
  config.on_event = [this](const raft::Event& e) {
    events_.record_raft(e, [this](raft::NodeId id) { return membership().name_of(id); });
    if (!spdlog::should_log(spdlog::level::debug)) return;
    spdlog::debug("raft: {}", raft::describe(e, [this](raft::NodeId id) {
                    std::string name = membership().name_of(id);
                    return name.empty() ? "node " + std::to_string(id) : name;
                  }));
  };
  if (auto s = raft::validate_config(config); !s.is_ok()) return s;
  raw_ = std::make_unique<raft::RawNode>(config, *storage_);
  // Alone in the cluster: no one to wait for.
  const auto cs = m.conf_state();
  if (cs.voters.size() == 1 && cs.voters.front() == raft_id_) raw_->campaign();
  raft_thread_ = std::thread([this] {
    util::set_thread_name("raft");
    run();
  });
  return util::Status::ok();
}

Membership Node::membership() const {
  std::lock_guard lock(mu_);
  return membership_;
}

namespace {
util::Status removed_error() {
  return util::unavailable("this node was removed from the cluster; use another member");
}
}  // namespace

void Node::write(kv::Command command, Deadline deadline, WriteDone done) {
  if (removed_) return done(removed_error(), {});
  if (command.op == kv::Op::kPut &&
      store_->used_bytes() + kv::Store::put_cost_bytes(command) > store_->quota_bytes()) {
    // As etcd: refused before it is proposed; "database space exceeded".
    done(util::resource_exhausted("database space exceeded"), {});
    return;
  }
  PendingWrite w;
  w.request_id = next_request_id_.fetch_add(1);
  w.data = encode_entry(w.request_id, command);
  w.deadline = deadline;
  w.done = std::move(done);
  util::Status refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = util::unavailable("node is shutting down");
    } else if (pending_writes_ >= options_.pending_writes_max) {
      refused = util::resource_exhausted("too many writes in flight");
    } else {
      ++pending_writes_;
      inbox_.writes.push_back(std::move(w));
    }
  }
  if (!refused.is_ok()) {
    w.done(std::move(refused), {});
    return;
  }
  cv_.notify_one();
}

void Node::read(std::string key, bool serializable, Deadline deadline, ReadDone done) {
  if (removed_) return done(removed_error(), {});
  if (serializable || options_.test_stale_reads) {
    std::string value;
    util::Status s = store_->get(key, &value);
    done(std::move(s), std::move(value));
    return;
  }
  bool refused = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = true;
    } else {
      inbox_.reads.push_back(PendingRead{std::move(key), deadline, std::move(done)});
    }
  }
  if (refused) {
    done(util::unavailable("node is shutting down"), {});
    return;
  }
  cv_.notify_one();
}

void Node::receive(raft::Message message) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    inbox_.messages.push_back(std::move(message));
  }
  cv_.notify_one();
}

void Node::receive(std::vector<raft::Message> messages) {
  if (messages.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (inbox_.messages.empty()) {
      inbox_.messages.swap(messages);
    } else {
      std::move(messages.begin(), messages.end(), std::back_inserter(inbox_.messages));
    }
  }
  cv_.notify_one();
}

void Node::report_unreachable(raft::NodeId peer) {
  {
    std::lock_guard lock(mu_);
    inbox_.unreachable.push_back(peer);
  }
  cv_.notify_one();
}

void Node::report_snapshot(raft::NodeId peer, bool ok) {
  {
    std::lock_guard lock(mu_);
    inbox_.snapshot_status.emplace_back(peer, ok);
  }
  cv_.notify_one();
}

NodeStatus Node::status() const {
  std::lock_guard lock(mu_);
  NodeStatus st = status_;
  st.members = membership_.all();
  for (const auto& l : membership_.learners()) st.learner_ids.push_back(l.id);
  st.removed = removed_;
  if (membership_.is_learner(raft_id_)) st.role = "learner";
  return st;
}

bool Node::ready() const { return ready_.load() && !removed_.load(); }

void Node::list_members(Deadline deadline, MembersDone done) {
  if (removed_) return done(removed_error(), {});
  PendingRead r;
  r.deadline = deadline;
  r.barrier_only = true;
  r.done = [this, done = std::move(done)](util::Status s, std::string) {
    done(s, s.is_ok() ? membership() : Membership());
  };
  bool refused = false;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = true;
    } else {
      inbox_.reads.push_back(std::move(r));
    }
  }
  if (refused) return r.done(util::unavailable("node is shutting down"), {});
  cv_.notify_one();
}

template <typename T>
bool Node::enqueue(std::vector<T> Inbox::*queue, T& item) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  (inbox_.*queue).push_back(std::move(item));
  cv_.notify_one();
  return true;
}

void Node::change_membership(ChangeRequest request, Deadline deadline, MembersDone done) {
  if (removed_) return done(removed_error(), {});
  PendingChange c{std::move(request), deadline, std::move(done)};
  if (!enqueue(&Inbox::changes, c)) c.done(util::unavailable("node is shutting down"), {});
}

void Node::move_leader(std::string id, Deadline deadline, LeaderDone done) {
  if (removed_) return done(removed_error(), {});
  PendingMove m{std::move(id), deadline, std::move(done)};
  if (!enqueue(&Inbox::moves, m)) m.done(util::unavailable("node is shutting down"), {});
}

void Node::hand_off_before_removal(ChangeRequest request, Deadline deadline, LeaderDone done) {
  if (removed_) return done(removed_error(), {});
  PendingMove m{options_.node_id, deadline, std::move(done), std::move(request)};
  if (!enqueue(&Inbox::moves, m)) m.done(util::unavailable("node is shutting down"), {});
}

bool Node::transfer_leadership(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (status_.role != "leader") return true;
  if (membership_.voters().size() < 2) return false;  // Nobody to hand over to.
  inbox_.transfer_leadership = true;
  cv_.notify_one();
  return role_changed_.wait_for(lock, timeout,
                                [&] { return stopping_ || status_.role != "leader"; });
}

void Node::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  ready_ = false;
  cv_.notify_all();
  role_changed_.notify_all();
  if (raft_thread_.joinable()) raft_thread_.join();
}

}  // namespace dkv::node
