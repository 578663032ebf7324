#include "node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <random>

#include "kv/mvcc_request.h"
#include "node/entry_codec.h"
#include "node/recovery.h"
#include "raft/raw_node.h"
#include "raft/storage.h"
#include "util/assert.h"
#include "util/thread_name.h"
#include "wal/failpoints.h"
#include "wal/file.h"
#include "wal/log.h"

namespace dkv::node {
namespace {

// The marker of a data directory whose node lost its log (NodeOptions::
// rejoining): written, durably, before the WAL exists; removed once caught up.
std::string rejoining_marker(const std::string& db_path) { return db_path + "/rejoining"; }

util::Status write_rejoining_marker(const std::string& db_path) {
  wal::FileSystem& fs = wal::posix_file_system();
  if (auto s = wal::ensure_dir(fs, db_path); !s.is_ok()) return s;
  return wal::atomic_write_file(fs, rejoining_marker(db_path),
                                "this node lost its data and rejoins: no votes until caught up\n");
}

}  // namespace

void Node::finish_rejoining() {
  rejoining_ = false;
  std::error_code ec;
  std::filesystem::remove(rejoining_marker(options_.db_path), ec);
  // Best effort: a marker that survives a crash only keeps the node out of
  // elections until a leader catches it up again (the safe side).
  if (ec || !wal::posix_file_system().sync_dir(options_.db_path).is_ok()) {
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
  options.test_canaries = NodeCanaries{};
  options.feature_level_supported = kv::kFeatureLevelSupported;
#endif
  std::error_code ec;
  if (options.rejoining && !std::filesystem::exists(options.db_path + "/wal", ec)) {
    if (auto s = write_rejoining_marker(options.db_path); !s.is_ok()) return s;
  }
  const bool rejoining = std::filesystem::exists(rejoining_marker(options.db_path), ec);
  RecoveredState r;
  if (auto s = recover(options, &r); !s.is_ok()) return s;
  const raft::Index applied = r.store->applied_index();
  std::unique_ptr<Node> node(new Node(std::move(options), std::move(r.store), std::move(r.log),
                                      std::move(r.storage), std::move(r.membership)));
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
      pending_writes_(options_.pending_writes_max),
      log_(std::move(log)),
      storage_(std::move(storage)),
      election_ticks_(static_cast<int>(options_.election_ms / options_.heartbeat_ms)),
      membership_(std::move(membership)) {
  const NodeCanaries& canaries = options_.test_canaries;
  applier_ = std::make_unique<Applier>(*store_, pending_writes_, canaries.waiter_before_apply);
  if (options_.background == nullptr) start_wal_writer();
  driver_ = std::make_unique<ReadyDriver>(
      *log_, *storage_, wal_writer_.get(),
      ReadyDriver::Hooks{
          .send = options_.send,
          .install_snapshot = [this](const raft::Snapshot& s) { install_snapshot(s); },
          .apply = [this](const std::vector<raft::Entry>& e) { apply_committed(e); },
          .report_persisted = [this](raft::Index i,
                                     raft::Term t) { raw_->report_persisted(i, t); }});
  reads_ = std::make_unique<ReadPath>(election_ticks_, canaries.read_before_applied);
  store_reader_ = std::make_unique<StoreReader>(*store_);
  read_server_ = std::make_unique<ReadServer>(*store_reader_, options_.background);
  watch_hub_ = std::make_unique<WatchHub>(store_->current_revision(), store_->compact_revision());
  store_->set_history_listener(
      [hub = watch_hub_.get()](kv::CommittedHistory&& h) { hub->publish(std::move(h)); });
  if (options_.background == nullptr) {
    watch_catchup_ = std::make_unique<WatchCatchup>(
        *watch_hub_,
        [store = store_.get()](std::int64_t from, std::int64_t to, std::size_t bytes,
                               std::vector<kv::HistoryEvent>* out, std::int64_t* through) {
          return store->read_history(from, to, bytes, out, through);
        });
  }
  const SnapshotPolicy policy{options_.snapshot_entries, options_.snapshot_bytes,
                              options_.snapshot_catchup_entries};
  auto post_snapshot = [this](SnapshotDone done) {
    {
      util::MutexLock lock(mu_);
      inbox_.snapshot_done = std::move(done);
    }
    cv_.notify_one();
  };
  snapshotter_ =
      std::make_unique<Snapshotter>(files_of(options_), options_.db_path, policy, *store_, *log_,
                                    *storage_, std::move(post_snapshot), options_.background);
  store_flusher_ = std::make_unique<StoreFlusher>(*store_, options_.background == nullptr);
  // Request ids: a random per-process prefix and a counter, so ids from
  // different nodes and restarts never meet in one log.
  std::random_device rd;
  const std::uint64_t prefix = options_.seed != 0 ? options_.seed : rd();
  next_request_id_ = (static_cast<std::uint64_t>(prefix) << 32) ^ (raft_id_ << 48);
  cluster_id_ = std::strtoull(log_->metadata().cluster_id.c_str(), nullptr, 16);
  status_.node_id = options_.node_id;
  status_.applied_index = store_->applied_index();
  for (const auto& name : membership_.removed()) removed_ids_.insert(node_id_of(name));
  learner_ = membership_.is_learner(raft_id_);
  if (membership_.find(raft_id_) == nullptr && membership_.was_removed(raft_id_)) {
    removed_ = true;
    spdlog::warn("this node is not a member of the cluster (it was removed): serving nothing");
  }
}

Node::~Node() { stop(); }

void Node::start_wal_writer() {
  wal_writer_ = std::make_unique<WalWriter>(
      *log_,
      [this] {
        {
          util::MutexLock lock(mu_);
          inbox_.wal_written = true;
        }
        cv_.notify_one();
      },
      [this](const std::string& what, const util::Status& s) { fatal(what, s); });
}

util::Status Node::start_raft(raft::Index applied) {
  raft::Config config;
  config.id = raft_id_;
  config.heartbeat_ticks = 1;
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
  config.leader_persists_async = wal_writer_ != nullptr;
  if (rejoining_) {
    spdlog::warn(
        "this node lost its data: it takes no part in elections until a leader caught it up");
  }
  // Seeded anew at each start (NodeOptions::seed: the simulator's, which
  // differs per start): it also draws the nonce that tells this incarnation
  // apart while it rejoins (Config::rejoining).
  std::random_device random;
  const std::uint64_t seed =
      options_.seed != 0 ? options_.seed : (std::uint64_t{random()} << 32 | random());
  auto rng = std::make_shared<std::mt19937_64>(seed ^ raft_id_);
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
  changes_ = std::make_unique<MembershipChanges>(*raw_, options_.node_id, election_ticks_,
                                                 [this] { return membership(); });
  // Alone in the cluster: no one to wait for.
  const auto cs = m.conf_state();
  if (cs.voters.size() == 1 && cs.voters.front() == raft_id_) raw_->campaign();
  if (options_.background != nullptr) return util::Status::ok();  // The owner calls step().
  raft_thread_ = std::thread([this] {
    util::set_thread_name("raft");
    run();
  });
  return util::Status::ok();
}

Membership Node::membership() const {
  util::MutexLock lock(mu_);
  return membership_;
}

namespace {
util::Status removed_error() {
  return util::unavailable("this node was removed from the cluster; use another member");
}
}  // namespace

void Node::write(kv::Command command, Deadline deadline, WriteDone done) {
  if (removed_) return done(removed_error(), {});
  if (auto s = admit_space(command); !s.is_ok()) return done(std::move(s), {});
  // The feature gate's one check (kv/feature_level.h): what an older member
  // could not apply is never proposed.
  if (auto s = kv::check_proposal(command, store_->feature_level()); !s.is_ok()) {
    return done(std::move(s), {});
  }
  PendingWrite w;
  w.request_id = next_request_id_.fetch_add(1);
  w.data = encode_entry(w.request_id, command);
  w.deadline = deadline;
  w.done = std::move(done);
  util::Status refused;
  {
    util::MutexLock lock(mu_);
    if (stopping_) {
      refused = util::unavailable("node is shutting down");
    } else if (!pending_writes_.try_add()) {
      refused = util::resource_exhausted("too many writes in flight");
    } else {
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
    util::MutexLock lock(mu_);
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
    util::MutexLock lock(mu_);
    if (stopping_) return;
    inbox_.messages.push_back(std::move(message));
  }
  cv_.notify_one();
}

void Node::receive(std::vector<raft::Message> messages) {
  if (messages.empty()) return;
  {
    util::MutexLock lock(mu_);
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
    util::MutexLock lock(mu_);
    inbox_.unreachable.push_back(peer);
  }
  cv_.notify_one();
}

void Node::report_snapshot(raft::NodeId peer, bool ok) {
  {
    util::MutexLock lock(mu_);
    inbox_.snapshot_status.emplace_back(peer, ok);
  }
  cv_.notify_one();
}

NodeStatus Node::status() const {
  util::MutexLock lock(mu_);
  NodeStatus st = status_;
  st.members = membership_.all();
  for (const auto& l : membership_.learners()) st.learner_ids.push_back(l.id);
  st.removed = removed_;
  st.rejoining = rejoining_.load();
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
    util::MutexLock lock(mu_);
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
  util::MutexLock lock(mu_);
  if (stopping_) return false;
  (inbox_.*queue).push_back(std::move(item));
  cv_.notify_one();
  return true;
}

void Node::read_store(StoreReadFn fn, bool serializable, Deadline deadline, StoreReadDone done) {
  if (removed_) return done(removed_error());
  if (serializable || options_.test_stale_reads) return done(fn(*store_));
  PendingRead r;
  r.deadline = deadline;
  r.read = [this, fn = std::move(fn)] { return fn(*store_); };
  r.done = [done = std::move(done)](util::Status s, std::string) { done(std::move(s)); };
  if (!enqueue(&Inbox::reads, r)) r.done(util::unavailable("node is shutting down"), {});
}

std::uint64_t Node::term() const {
  util::MutexLock lock(mu_);
  return status_.term;
}

bool Node::has_leader() const {
  util::MutexLock lock(mu_);
  return !status_.leader_id.empty();
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
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  util::MutexLock lock(mu_);
  if (status_.role != "leader") return true;
  if (membership_.voters().size() < 2) return false;  // Nobody to hand over to.
  inbox_.transfer_leadership = true;
  cv_.notify_one();
  while (!stopping_ && status_.role == "leader") {
    if (!role_changed_.wait_until(mu_, deadline)) break;
  }
  return stopping_ || status_.role != "leader";
}

void Node::stop() {
  {
    util::MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  ready_ = false;
  cv_.notify_all();
  role_changed_.notify_all();
  if (raft_thread_.joinable()) raft_thread_.join();
  if (watch_catchup_ != nullptr) watch_catchup_->stop();
  // What run() does last; not if start_raft() failed before the raft state existed.
  if (options_.background != nullptr && changes_ != nullptr) finish_raft_thread();
}

}  // namespace dkv::node
