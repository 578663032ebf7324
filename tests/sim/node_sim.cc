#include "node_sim.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "checker.h"
#include "kv/command.h"
#include "node/background.h"
#include "node/node.h"
#include "node/snapshot_transfer.h"
#include "node_sim_leases.h"
#include "rng.h"
#include "wal/mem_file_system.h"

namespace dkv::node_sim {
namespace {

using sim::Rng;

using Time = std::int64_t;  // Simulated nanoseconds.
constexpr Time kMs = 1'000'000;
constexpr Time kStart = 1000 * kMs;  // Not 0: Node::step takes 0 as "no tick yet".

std::chrono::steady_clock::time_point at(Time t) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t));
}

struct Failure {
  std::string what;
};

class World;

// One simulated machine: its disk (the MemFileSystem of the WAL and
// snapshot files, and an LMDB directory), its boot, and the Node while up.
struct Machine : node::Background {
  World* world = nullptr;
  int index = 0;
  std::string name;
  raft::NodeId id = 0;
  std::string db_path;
  std::shared_ptr<wal::MemFileSystem> fs = std::make_shared<wal::MemFileSystem>();
  int boot = 0;
  int starts = 0;
  bool member = false;   // Started once: restarted after crashes, checked at the end.
  bool retired = false;  // Removed from the cluster: stays down.
  bool wiped = false;    // Lost its disk: restarts empty, rejoining.
  std::optional<node::NodeOptions::Join> join;  // The spare's, once added.
  std::unique_ptr<node::Node> node;             // Null while down.

  void run(Kind kind, std::function<void()> task) override;
};

struct Task {
  int machine = 0;
  node::Background::Kind kind;
  std::function<void()> fn;
};

struct Delivery {
  int from = 0;
  int to = 0;
  raft::Message message;
};

struct Client {
  bool busy = false;
  int next_value = 0;
  Time idle_since = 0;
};

class World {
 public:
  World(const Options& o, std::string root)
      : o_(o),
        rng_(o.seed),
        root_(std::move(root)),
        leases_(o.lease_clients, o.lease_op_permille, &now_) {}

  Result run();
  void post_task(int machine, node::Background::Kind kind, std::function<void()> fn) {
    const Time at = now_ + static_cast<Time>(rng_.below(o_.task_delay_ms_max + 1)) * kMs;
    tasks_.emplace(std::make_pair(at, seq_++), Task{machine, kind, std::move(fn)});
  }

 private:
  // The canary is switched on (not only its fault mix chosen).
  bool canary_on(const char* name) const { return o_.canary == name && !o_.canary_mix_only; }
  void trace(const std::string& line) {
    if (o_.trace) std::cerr << "[" << (now_ - kStart) / kMs << "ms] " << line << "\n";
  }
  void set_up();
  void start(Machine& m);
  void crash(Machine& m, bool machine_crash);
  void send(int from, std::vector<raft::Message> messages, bool faulty);
  void deliver(const Delivery& d);
  void deliver_snapshot(const Delivery& d);
  void run_due(Time until);
  void faults();
  void clients(bool faulty);
  void issue(int client);
  void step_all();
  void advance(int ms, bool faulty, const std::function<bool()>& until);
  void heal_and_check();
  void check_converged();
  void check_history();
  void check_leases();
  void tear_down();
  int pick_up_node();
  Machine* leader();
  bool may_wipe(const Machine& m) const;
  void wipe(Machine& m);
  void change_membership();
  void move_leader();
  void on_change_done(const util::Status& s, const std::string& what);

  const Options o_;
  Rng rng_;
  const std::string root_;
  Time now_ = kStart;
  std::uint64_t seq_ = 0;
  bool faulty_ = true;
  std::vector<std::unique_ptr<Machine>> machines_;
  std::map<raft::NodeId, int> by_id_;
  std::vector<node::MemberAddress> members_;
  std::map<std::pair<Time, std::uint64_t>, Delivery> network_;
  std::map<std::pair<Time, std::uint64_t>, Task> tasks_;
  std::vector<Client> clients_;
  std::vector<fault::Op> history_;
  // Membership changes: the spare (the last machine) is added as a learner,
  // promoted, then `victim_` is removed; one request at a time.
  bool change_pending_ = false;
  int isolated_ = -1;  // A machine cut off from all others (both ways), or -1.
  int victim_ = -1;
  LeaseClients leases_;  // After now_: it reads the clock.
  Result result_;
};

node::MemberAddress address_of(const Machine& m) {
  return {m.name, "127.0.0.1", static_cast<std::uint16_t>(7000 + m.index)};
}

void Machine::run(Kind kind, std::function<void()> task) {
  world->post_task(index, kind, std::move(task));
}

void World::set_up() {
  const int machines = o_.nodes + (o_.membership_permille > 0 ? 1 : 0);
  for (int i = 0; i < machines; ++i) {
    auto m = std::make_unique<Machine>();
    m->world = this;
    m->index = i;
    m->name = "n" + std::to_string(i + 1);
    m->id = node::node_id_of(m->name);
    m->db_path = root_ + "/" + m->name;
    by_id_[m->id] = i;
    if (i < o_.nodes) members_.push_back(address_of(*m));
    machines_.push_back(std::move(m));
  }
  clients_.resize(o_.clients);
  for (int i = 0; i < o_.nodes; ++i) start(*machines_[i]);
}

void World::start(Machine& m) {
  node::NodeOptions opt;
  opt.node_id = m.name;
  opt.members = members_;
  opt.db_path = m.db_path;
  opt.quota_bytes = 64ull << 20;
  opt.snapshot_entries = o_.snapshot_entries;
  opt.snapshot_catchup_entries = o_.catchup_entries;
  opt.join = m.join;
  opt.wal_fs = m.fs;
  opt.wal_segment_bytes = 64 << 10;
  // A sync a second of simulated time, as before the server's default
  // became 10 s: runs are seconds long, and crash points need syncs.
  opt.store_sync_interval = std::chrono::seconds(1);
  opt.background = &m;
  opt.seed = o_.seed * 1000 + static_cast<std::uint64_t>(++m.starts) * 10 + m.index + 1;
  opt.boot_id = "boot-" + std::to_string(m.boot);
  opt.rejoining = m.wiped;  // As cmd/dkv's discover_rejoin would find.
  m.wiped = false;
  if (canary_on("waiter-before-apply")) opt.test_canaries.waiter_before_apply = true;
  if (canary_on("read-before-applied")) opt.test_canaries.read_before_applied = true;
  if (o_.canary == "old-leader-revoke") {
    // The control (--mix-only) keeps the rule: the stale revokes carry
    // their term and apply ignores them.
    opt.test_canaries.lessor_after_demotion = true;
    opt.test_canaries.revoke_without_term = !o_.canary_mix_only;
  }
  const int from = m.index;
  opt.send = [this, from](std::vector<raft::Message> msgs) {
    send(from, std::move(msgs), faulty_);
  };
  util::Status s = node::Node::open(std::move(opt), &m.node);
  if (!s.is_ok()) throw Failure{m.name + " failed to start: " + s.to_string()};
  m.node->lessor().set_applied_observer(
      [this](const std::vector<kv::LeaseChange>& changes, auto) { leases_.on_applied(changes); });
  m.member = true;
  trace(m.name + " started (boot " + std::to_string(m.boot) + ")");
}

// A process crash keeps every file as the process left it; a machine crash
// drops what was not fsynced, and the new boot makes LMDB's unsynced
// commits count as lost (kv/store.h).
void World::crash(Machine& m, bool machine_crash) {
  // The read thread's batches are applied already: served, as a crash right
  // after serving them. A snapshot job dies with the process.
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second.machine != m.index) {
      ++it;
      continue;
    }
    if (it->second.kind == node::Background::Kind::kReads) it->second.fn();
    it = tasks_.erase(it);
  }
  std::unique_ptr<wal::MemFileSystem> disk;
  const std::string marker = m.db_path + "/kv/unsynced-since-boot";
  const bool unsynced = std::filesystem::exists(marker);
  if (machine_crash) {
    disk = m.fs->clone();  // What the disk holds now; the crash cuts it.
    disk->crash(wal::MemFileSystem::CrashMode::kLoseUnsynced);
  }
  m.node.reset();  // Closing syncs LMDB; a machine crash undoes that below.
  if (machine_crash) {
    m.fs = std::move(disk);
    ++m.boot;
    if (unsynced) {
      // LMDB's marker says commits were never synced: put it back.
      std::FILE* f = std::fopen(marker.c_str(), "w");
      if (f == nullptr) throw Failure{"cannot restore " + marker};
      std::fprintf(f, "boot-%d\n", m.boot - 1);
      std::fclose(f);
    }
  }
  ++result_.crashes;
  trace(m.name + (machine_crash ? " machine crash" : " process crash") +
        (unsynced ? " (LMDB unsynced)" : ""));
}

void World::send(int from, std::vector<raft::Message> messages, bool faulty) {
  for (auto& msg : messages) {
    auto it = by_id_.find(msg.to);
    if (it == by_id_.end()) continue;
    // A lost snapshot is reported to the sender (deliver_snapshot), as the
    // transport does; other messages just vanish.
    const bool snapshot = msg.type == raft::MessageType::kSnap;
    const bool cut = faulty && (from == isolated_ || it->second == isolated_);
    if (!snapshot && (cut || (faulty && rng_.percent(o_.drop_pct)))) continue;
    const Time at = now_ + static_cast<Time>(rng_.below(o_.delay_ms_max + 1)) * kMs;
    network_.emplace(std::make_pair(at, seq_++), Delivery{from, it->second, std::move(msg)});
  }
}

// What the transport's snapshot lane does: the sender's file, streamed in
// chunks into the receiver's sink, which makes it durable before the kSnap
// reaches the node; the sender hears how it went.
void World::deliver_snapshot(const Delivery& d) {
  Machine& from = *machines_[d.from];
  Machine& to = *machines_[d.to];
  bool ok = false;
  std::unique_ptr<wal::SnapshotSource> source;
  const bool cut = faulty_ && (d.from == isolated_ || d.to == isolated_);
  if (to.node && !cut &&
      node::open_snapshot_source(from.db_path, d.message, &source, *from.fs).is_ok()) {
    node::NodeCanaries canaries;
    canaries.snapshot_before_fsync = canary_on("snapshot-before-fsync");
    auto sink =
        node::make_snapshot_sink(to.db_path, d.message, source->total_bytes(), *to.fs, canaries);
    std::string chunk;
    util::Status s = sink ? util::Status::ok() : util::internal_error("no sink");
    std::uint64_t sent = 0;
    while (s.is_ok() && sent < source->total_bytes()) {
      s = source->read(64 << 10, &chunk);
      if (s.is_ok()) s = sink->write(chunk);
      sent += chunk.size();
    }
    raft::Message msg = d.message;
    if (s.is_ok()) s = sink->finish(&msg);
    if (s.is_ok()) {
      to.node->receive(std::move(msg));
      ok = true;
      ++result_.snapshots_sent;
    }
  }
  trace(from.name + " -> " + to.name + " snapshot at " +
        std::to_string(d.message.snapshot->metadata.index) + (ok ? "" : " failed"));
  if (from.node) from.node->report_snapshot(to.id, ok);
}

void World::deliver(const Delivery& d) {
  if (d.message.type == raft::MessageType::kSnap) return deliver_snapshot(d);
  Machine& to = *machines_[d.to];
  if (to.node) to.node->receive(d.message);
}

// Delivers the messages and runs the tasks due by `until`, in time order.
void World::run_due(Time until) {
  for (;;) {
    const bool msg = !network_.empty() && network_.begin()->first.first <= until;
    const bool task = !tasks_.empty() && tasks_.begin()->first.first <= until;
    if (!msg && !task) return;
    if (msg && (!task || network_.begin()->first <= tasks_.begin()->first)) {
      Delivery d = std::move(network_.begin()->second);
      network_.erase(network_.begin());
      deliver(d);
    } else {
      Task t = std::move(tasks_.begin()->second);
      tasks_.erase(tasks_.begin());
      t.fn();
    }
  }
}

int World::pick_up_node() {
  std::vector<int> up;
  for (auto& m : machines_) {
    if (m->node) up.push_back(m->index);
  }
  if (up.empty()) return -1;
  return up[rng_.below(up.size())];
}

void World::issue(int c) {
  const int target = pick_up_node();
  if (target < 0) return;
  node::Node& n = *machines_[target]->node;
  Client& client = clients_[c];
  client.busy = true;
  const std::size_t op_index = history_.size();
  fault::Op op;
  op.client = c;
  op.key = "k" + std::to_string(rng_.below(o_.keys));
  op.invoke_ns = now_;
  op.note = machines_[target]->name;
  const node::Deadline deadline = at(now_ + 3000 * kMs);
  if (rng_.percent(o_.put_pct)) {
    // A fifth of the writes delete (the checker's "deleted" is `found`).
    const bool del = rng_.percent(20);
    op.kind = del ? fault::OpKind::kDelete : fault::OpKind::kPut;
    if (!del) op.value = "c" + std::to_string(c) + "-" + std::to_string(client.next_value++);
    history_.push_back(op);
    const kv::Command command{del ? kv::Op::kDelete : kv::Op::kPut, op.key, op.value};
    n.write(command, deadline, [this, c, op_index](util::Status s, kv::ApplyResult applied) {
      fault::Op& o = history_[op_index];
      o.complete_ns = now_;
      o.found = applied.deleted == 1;
      // Refused before proposing: it never happened. Otherwise an
      // error leaves it unknown (it may still commit).
      o.outcome = s.is_ok()                                    ? fault::Outcome::kOk
                  : s.code() == util::Code::kResourceExhausted ? fault::Outcome::kFailed
                                                               : fault::Outcome::kUnknown;
      if (s.is_ok()) ++result_.puts_ok;
      clients_[c].busy = false;
      clients_[c].idle_since = now_;
    });
    return;
  }
  op.kind = fault::OpKind::kGet;
  history_.push_back(op);
  n.read(op.key, false, deadline, [this, c, op_index](util::Status s, std::string value) {
    fault::Op& o = history_[op_index];
    o.complete_ns = now_;
    const bool missing = s.code() == util::Code::kNotFound;
    o.outcome = s.is_ok() || missing ? fault::Outcome::kOk : fault::Outcome::kFailed;
    o.found = s.is_ok();
    o.value = std::move(value);
    if (o.outcome == fault::Outcome::kOk) ++result_.reads_ok;
    clients_[c].busy = false;
    clients_[c].idle_since = now_;
  });
}

void World::clients(bool faulty) {
  if (!faulty) return;
  for (int c = 0; c < o_.clients; ++c) {
    if (!clients_[c].busy && rng_.permille(o_.op_permille)) issue(c);
  }
  if (o_.lease_clients == 0) return;
  const int any = pick_up_node();
  Machine* lead = leader();
  leases_.tick(rng_, lead ? lead->node.get() : nullptr,
               any < 0 ? nullptr : machines_[any]->node.get());
}

// One member at a time loses its data, never the spare (it joined with a
// membership of its own) and never while another still catches up: two
// wiped voters of three would be a lost majority, which no system survives.
bool World::may_wipe(const Machine& m) const {
  if (o_.membership_permille > 0 && &m == machines_.back().get()) return false;
  for (const auto& other : machines_) {
    if (other.get() == &m || other->retired) continue;
    if (other->wiped || (other->node && other->node->status().rejoining)) return false;
    if (!other->node && other->member) return false;  // Down: it may hold the only copy.
  }
  return true;
}

// The disk is gone: the WAL, the snapshot files and LMDB.
void World::wipe(Machine& m) {
  std::error_code ec;
  std::filesystem::remove_all(m.db_path, ec);
  m.fs = std::make_shared<wal::MemFileSystem>();
  m.wiped = true;
  ++result_.wipes;
  trace(m.name + " lost its disk");
}

Machine* World::leader() {
  for (auto& m : machines_) {
    if (m->node && m->node->status().role == "leader") return m.get();
  }
  return nullptr;
}

// One step of the membership script, decided from the leader's applied
// membership (a request that timed out may still have been applied): add
// the spare as a learner, start it (joining), promote it, remove a voter.
void World::change_membership() {
  Machine* lead = leader();
  if (change_pending_ || lead == nullptr) return;
  Machine& spare = *machines_.back();
  const node::Membership m = lead->node->membership();
  node::ChangeRequest request;
  std::string what;
  if (m.find(spare.id) == nullptr && !m.was_removed(spare.id)) {
    request = {node::ChangeKind::kAddLearner, address_of(spare)};
    what = "add learner " + spare.name;
  } else if (m.is_learner(spare.id)) {
    if (!spare.member) {
      spare.join =
          node::NodeOptions::Join{node::cluster_id_hex(lead->node->cluster_id()), m.encode()};
      start(spare);
      return;
    }
    request = {node::ChangeKind::kPromote, {spare.name, "", 0}};
    what = "promote " + spare.name;
  } else if (m.find(spare.id) != nullptr && victim_ < 0) {
    victim_ = static_cast<int>(rng_.below(o_.nodes));
    if (machines_[victim_].get() == lead) victim_ = (victim_ + 1) % o_.nodes;
    return;
  } else if (victim_ >= 0 && m.find(machines_[victim_]->id) != nullptr) {
    if (machines_[victim_].get() == lead) return;  // Not the leader: it would hand off.
    request = {node::ChangeKind::kRemove, {machines_[victim_]->name, "", 0}};
    what = "remove " + machines_[victim_]->name;
  } else {
    if (victim_ >= 0) machines_[victim_]->retired = true;  // Removed (maybe after a timeout).
    return;
  }
  change_pending_ = true;
  trace(lead->name + " asked to " + what);
  lead->node->change_membership(
      request, at(now_ + 3000 * kMs),
      [this, what](util::Status s, node::Membership) { on_change_done(s, what); });
}

// The leader hands leadership to another voter (thesis §3.10), as
// `dkvctl move-leader` does.
void World::move_leader() {
  Machine* lead = leader();
  if (lead == nullptr) return;
  const std::vector<node::MemberAddress> voters = lead->node->membership().voters();
  const node::MemberAddress& to = voters[rng_.below(voters.size())];
  if (to.id == lead->name) return;
  trace(lead->name + " asked to hand leadership to " + to.id);
  lead->node->move_leader(to.id, at(now_ + 3000 * kMs),
                          [this, to = to.id](util::Status s, std::string) {
                            trace("move leader to " + to + ": " + s.to_string());
                            if (s.is_ok()) ++result_.transfers;
                          });
}

void World::on_change_done(const util::Status& s, const std::string& what) {
  change_pending_ = false;
  trace(what + ": " + s.to_string());
  if (!s.is_ok() || what.rfind("remove ", 0) != 0) return;
  ++result_.conf_changes;
  Machine& victim = *machines_[victim_];
  victim.retired = true;  // Out of the cluster: stopped for good.
}

void World::faults() {
  if (rng_.permille(o_.membership_permille)) change_membership();
  if (rng_.permille(o_.transfer_permille)) move_leader();
  if (isolated_ >= 0 && rng_.permille(o_.heal_permille)) {
    trace(machines_[isolated_]->name + " reconnected");
    isolated_ = -1;
  } else if (isolated_ < 0 && rng_.permille(o_.partition_permille)) {
    isolated_ = static_cast<int>(rng_.below(machines_.size()));
    trace(machines_[isolated_]->name + " cut off");
  }
  for (auto& m : machines_) {
    if (m->retired && m->node) crash(*m, false);
    if (!m->member || m->retired) continue;
    if (m->node && rng_.permille(o_.crash_permille)) {
      crash(*m, rng_.percent(o_.machine_crash_pct));
      if (rng_.percent(o_.wipe_pct) && may_wipe(*m)) wipe(*m);
    } else if (!m->node && rng_.permille(o_.restart_permille)) {
      start(*m);
    }
  }
}

void World::step_all() {
  for (auto& m : machines_) {
    if (m->node) m->node->step(at(now_));
  }
}

void World::check_history() {
  for (auto& op : history_) {
    // Still pending at the end: its outcome is unknown.
    if (op.complete_ns == 0) op.outcome = fault::Outcome::kUnknown;
  }
  if (o_.trace) {
    for (const auto& op : history_) std::cerr << "  op " << fault::describe(op) << "\n";
  }
  const fault::CheckResult r = fault::check(history_);
  if (r.verdict != fault::Verdict::kViolation) return;
  const fault::KeyResult* k = r.smallest_violation();
  std::string window;
  for (std::size_t i : fault::violation_window(history_, *k, 6)) {
    window += "\n    " + fault::describe(history_[i]);
  }
  throw Failure{"history not linearizable on key " + k->key + ":" + window};
}

// Runs `ms` of simulated time: messages, tasks, clients (while faulty),
// faults (every 100 ms, while faulty) and one turn of every node per ms.
void World::advance(int ms, bool faulty, const std::function<bool()>& until) {
  faulty_ = faulty;
  for (int i = 0; i < ms; ++i, now_ += kMs) {
    if (until && until()) return;
    run_due(now_);
    clients(faulty);
    if (faulty && i % 100 == 0) faults();
    step_all();
  }
}

// No more faults: every machine comes back, and the cluster must take a
// write and bring every node to the same state.
void World::heal_and_check() {
  for (auto& m : machines_) {
    if (!m->node && m->member && !m->retired) start(*m);
  }
  advance(o_.heal_ms, false, nullptr);
  // Shared: a write still pending at a failure is answered at tear_down().
  auto answer = std::make_shared<std::optional<util::Status>>();
  Machine* writer = leader();
  if (writer == nullptr) writer = machines_[pick_up_node()].get();
  writer->node->write(kv::Command{kv::Op::kPut, "final", "x"}, at(now_ + 5000 * kMs),
                      [answer](util::Status s, kv::ApplyResult) { *answer = s; });
  advance(6000, false, [&] { return answer->has_value(); });
  if (!answer->has_value() || !(*answer)->is_ok()) {
    throw Failure{"no write after healing: " +
                  (answer->has_value() ? (*answer)->to_string() : "no answer")};
  }
  advance(2000, false, nullptr);
  check_converged();
  check_leases();
}

// Each member's store (its history replayed), then the expiry times.
void World::check_leases() {
  if (o_.lease_clients == 0) return;
  for (auto& m : machines_) {
    if (!m->node || m->retired) continue;
    std::string failure;
    m->node->read_store(
        [&](const kv::Store& store) {
          failure = leases_.check_store(m->name, store);
          return util::Status::ok();
        },
        true, {}, [](util::Status) {});
    if (!failure.empty()) throw Failure{failure};
  }
  if (std::string failure = leases_.check_expiries(); !failure.empty()) throw Failure{failure};
}

// Every node applied the same index and holds the same values.
void World::check_converged() {
  Machine* reference = leader();
  if (reference == nullptr) throw Failure{"no leader after healing"};
  const node::Membership members = reference->node->membership();
  const node::NodeStatus first = reference->node->status();
  for (auto& m : machines_) {
    // Never added, or removed (a node removed while down never hears of it).
    if (!m->node || members.find(m->id) == nullptr) continue;
    const node::NodeStatus st = m->node->status();
    if (st.applied_index != first.applied_index) {
      throw Failure{m->name + " applied " + std::to_string(st.applied_index) + ", " +
                    reference->name + " " + std::to_string(first.applied_index)};
    }
    for (int k = 0; k <= o_.keys; ++k) {
      const std::string key = k == o_.keys ? "final" : "k" + std::to_string(k);
      std::string mine;
      std::string theirs;
      m->node->read(key, true, {}, [&](util::Status, std::string v) { mine = std::move(v); });
      reference->node->read(key, true, {}, [&](util::Status, std::string v) { theirs = v; });
      if (mine != theirs) {
        throw Failure{m->name + " has " + key + "=" + mine + ", " + reference->name + " " + theirs};
      }
    }
  }
}

// Every node down, its pending tasks run or dropped (as at a crash).
void World::tear_down() {
  for (auto& m : machines_) {
    if (m->node) crash(*m, false);
  }
  network_.clear();
}

}  // namespace

Result World::run() {
  try {
    set_up();
    advance(o_.faulty_ms, true, nullptr);
    heal_and_check();
    tear_down();
    check_history();
    result_.lease_grants = leases_.grants_ok();
    result_.keepalives = leases_.keepalives_ok();
    result_.leases_expired = leases_.expired();
  } catch (const Failure& f) {
    result_.ok = false;
    result_.failure = f.what;
    tear_down();
  }
  return std::move(result_);
}

}  // namespace dkv::node_sim

namespace dkv::node_sim {

bool known_canary(const std::string& name) {
  return name == "waiter-before-apply" || name == "read-before-applied" ||
         name == "snapshot-before-fsync" || name == "old-leader-revoke";
}

Options derive_options(std::uint64_t seed, const std::string& canary) {
  Rng rng(seed ^ 0x5eed5eed5eedULL);
  Options o;
  o.seed = seed;
  o.canary = canary;
  o.nodes = rng.percent(20) ? 5 : 3;
  o.clients = 2 + static_cast<int>(rng.below(3));
  o.keys = 1 + static_cast<int>(rng.below(3));
  o.op_permille = 20 + static_cast<int>(rng.below(200));
  o.put_pct = 30 + static_cast<int>(rng.below(50));
  o.drop_pct = static_cast<int>(rng.below(6));
  o.delay_ms_max = 1 + static_cast<int>(rng.below(40));
  o.task_delay_ms_max = static_cast<int>(rng.below(20));
  o.crash_permille = rng.percent(25) ? 0 : 5 + static_cast<int>(rng.below(40));
  o.machine_crash_pct = static_cast<int>(rng.below(101));
  o.restart_permille = 50 + static_cast<int>(rng.below(300));
  o.membership_permille = rng.percent(40) ? 50 + static_cast<int>(rng.below(200)) : 0;
  o.wipe_pct = rng.percent(30) ? 5 + static_cast<int>(rng.below(30)) : 0;
  o.transfer_permille = rng.percent(30) ? 10 + static_cast<int>(rng.below(60)) : 0;
  o.partition_permille = rng.percent(50) ? 10 + static_cast<int>(rng.below(60)) : 0;
  o.heal_permille = 50 + static_cast<int>(rng.below(250));
  const bool snapshots = rng.percent(70);
  o.snapshot_entries = snapshots ? 5 + rng.below(60) : 100'000;
  o.catchup_entries = snapshots ? rng.below(10) : 5'000;
  // A sixth of the seeds (and the snapshot canary's): snapshots every few
  // entries, machine crashes, followers caught up by snapshot transfers.
  if (canary == "snapshot-before-fsync" || rng.percent(15)) {
    o.snapshot_entries = 5 + rng.below(20);
    o.catchup_entries = rng.below(3);
    o.crash_permille = 30 + static_cast<int>(rng.below(40));
    o.machine_crash_pct = 100;
  }
  // Leases on three seeds in five; the lease canary's mix: leader moves
  // while clients keep their leases alive on the new leader.
  o.lease_clients = rng.percent(60) ? 1 + static_cast<int>(rng.below(2)) : 0;
  o.lease_op_permille = 20 + static_cast<int>(rng.below(100));
  if (canary == "old-leader-revoke") {
    o.lease_clients = 2;
    o.lease_op_permille = 200;
    o.transfer_permille = 40 + static_cast<int>(rng.below(60));
    o.crash_permille = 0;
  }
  return o;
}

void print_options(std::ostream& out, const Options& o) {
  out << "seed=" << o.seed << " nodes=" << o.nodes << " faulty_ms=" << o.faulty_ms
      << " heal_ms=" << o.heal_ms << " clients=" << o.clients << " keys=" << o.keys
      << " op_permille=" << o.op_permille << " put_pct=" << o.put_pct << " drop_pct=" << o.drop_pct
      << " delay_ms_max=" << o.delay_ms_max << " task_delay_ms_max=" << o.task_delay_ms_max
      << " crash_permille=" << o.crash_permille << " machine_crash_pct=" << o.machine_crash_pct
      << " restart_permille=" << o.restart_permille << " snapshot_entries=" << o.snapshot_entries
      << " catchup_entries=" << o.catchup_entries
      << " membership_permille=" << o.membership_permille << " wipe_pct=" << o.wipe_pct
      << " transfer_permille=" << o.transfer_permille
      << " partition_permille=" << o.partition_permille << " heal_permille=" << o.heal_permille
      << " lease_clients=" << o.lease_clients << " lease_op_permille=" << o.lease_op_permille;
  if (!o.canary.empty()) out << " canary=" << o.canary << (o.canary_mix_only ? " (mix only)" : "");
}

Result run(const Options& options, const std::string& tmp_root) {
  const std::string root = tmp_root + "/seed-" + std::to_string(options.seed);
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  std::filesystem::create_directories(root, ec);
  Result r;
  {
    World world(options, root);
    r = world.run();
  }
  std::filesystem::remove_all(root, ec);
  return r;
}

}  // namespace dkv::node_sim
