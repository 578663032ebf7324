#include "run.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "clients.h"
#include "counter_check.h"
#include "etcd_workloads.h"
#include "harness.h"
#include "netns.h"
#include "wal/failpoints.h"

// A broken assumption of the suite itself (not of dkv): stop loudly.
#define DKV_FAULT_CHECK(cond)                                                       \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)

namespace dkv::fault {

using namespace std::chrono_literals;
using testing::LocalCluster;
using testing::TestNetwork;
using Clock = std::chrono::steady_clock;

const char* to_string(Fault f) {
  switch (f) {
    case Fault::kKillRandom:
      return "kill-random";
    case Fault::kKillLeader:
      return "kill-leader";
    case Fault::kPauseRandom:
      return "pause-random";
    case Fault::kPauseLeader:
      return "pause-leader";
    case Fault::kRestartAll:
      return "restart-all";
    case Fault::kPartitionHalves:
      return "partition-halves";
    case Fault::kPartitionLeader:
      return "partition-leader";
    case Fault::kPartitionAsymmetric:
      return "partition-asymmetric";
    case Fault::kPartitionBridge:
      return "partition-bridge";
    case Fault::kDiskFsyncFail:
      return "disk-fsync-fail";
    case Fault::kDiskTornWrite:
      return "disk-torn-write";
    case Fault::kMemberReplace:
      return "member-replace";
    case Fault::kMemberMoveLeader:
      return "member-move-leader";
    case Fault::kMemberWipe:
      return "member-wipe";
    case Fault::kMemberDisasterRecovery:
      return "member-disaster-recovery";
  }
  return "?";
}

const char* to_string(Workload w) {
  switch (w) {
    case Workload::kCasCounter:
      return "cas-counter";
    case Workload::kWatch:
      return "watch";
    case Workload::kLease:
      return "lease";
    default:
      return "registers";
  }
}

bool is_membership(Fault f) {
  return f == Fault::kMemberReplace || f == Fault::kMemberMoveLeader || f == Fault::kMemberWipe ||
         f == Fault::kMemberDisasterRecovery;
}

bool is_partition(Fault f) {
  return f == Fault::kPartitionHalves || f == Fault::kPartitionLeader ||
         f == Fault::kPartitionAsymmetric || f == Fault::kPartitionBridge;
}

std::uint64_t seed_from_env() {
  if (const char* s = std::getenv("DKV_FAULT_SEED"); s != nullptr && *s != '\0') {
    return std::strtoull(s, nullptr, 10);
  }
  return std::random_device{}() % 1'000'000'000ULL;
}

namespace {

// The CAS workload's counter: k0, so that the final /v0 reads and the
// convergence check (keys k0..k<keys-1>, keys = 1) cover it.
constexpr const char* kCounterKey = "k0";

// Client threads: each owns a KvClient and its part of the history.
class Clients {
 public:
  Clients(const RunOptions& o, LocalCluster& c, Clock::time_point epoch) : epoch_(epoch) {
    start_etcd_workload(o, c);
    int id = 0;
    for (int node = 0; o.workload == Workload::kCasCounter && node < c.size(); ++node) {
      for (int k = 0; k < o.cas_clients_per_node; ++k) {
        slots_.push_back(std::make_unique<Slot>());
        slots_.back()->client =
            make_etcd_client(c.rpc_port(node), o.client_timeout, c.id(node), c.host(node));
      }
    }
    for (int node = 0; o.workload == Workload::kRegisters && node < c.size(); ++node) {
      for (int k = 0; k < o.rest_clients_per_node + o.grpc_clients_per_node; ++k) {
        const bool rest = k < o.rest_clients_per_node;
        const bool ser = o.serializable_reads;
        auto client = rest ? make_rest_client(c.rest_port(node), o.client_timeout, c.id(node), ser,
                                              c.host(node))
                           : make_grpc_client(c.rpc_port(node), o.client_timeout, c.id(node), ser,
                                              c.host(node));
        slots_.push_back(std::make_unique<Slot>());
        slots_.back()->client = std::move(client);
        slots_.back()->rng.seed(o.seed * 1'000'003ULL + static_cast<std::uint64_t>(id));
        ++id;
      }
    }
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (o.workload == Workload::kCasCounter) {
        threads_.emplace_back([this, i] { cas_loop(static_cast<int>(i)); });
      } else {
        threads_.emplace_back([this, i, keys = o.keys] { loop(static_cast<int>(i), keys); });
      }
    }
  }
  ~Clients() { stop(); }

  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    if (watch_) watch_->stop(10s);  // Watchers catch up with the last write.
    if (lease_) lease_->stop(30s);  // Clients follow their lease to its end.
  }
  std::uint64_t ops() const {
    return ops_.load() + (watch_ ? watch_->ops() : 0) + (lease_ ? lease_->ops() : 0);
  }
  const WatchWorkload* watch() const { return watch_.get(); }
  const LeaseWorkload* lease() const { return lease_.get(); }
  // After stop(): every client's ops.
  std::vector<Op> history() const {
    std::vector<Op> all;
    for (const auto& s : slots_) all.insert(all.end(), s->history.begin(), s->history.end());
    return all;
  }
  int size() const { return static_cast<int>(slots_.size()); }

 private:
  struct Slot {
    std::unique_ptr<KvClient> client;
    std::mt19937_64 rng;
    std::vector<Op> history;
  };

  void loop(int id, int keys) {
    Slot& s = *slots_[id];
    std::uint64_t n = 0;
    while (!stop_) {
      Op op;
      op.client = id;
      op.key = "k" + std::to_string(s.rng() % static_cast<std::uint64_t>(keys));
      const auto r = s.rng() % 100;
      op.kind = r < 50 ? OpKind::kGet : (r < 85 ? OpKind::kPut : OpKind::kDelete);
      if (op.kind == OpKind::kPut) op.value = "c" + std::to_string(id) + "-" + std::to_string(n++);
      s.client->run(op, epoch_);
      s.history.push_back(op);
      ops_.fetch_add(1);
      // Pacing, not synchronisation: a refused connection returns at once;
      // do not spin on a node that is down.
      if (op.outcome == Outcome::kFailed) std::this_thread::sleep_for(50ms);
    }
  }

  // Increments of the counter (increment_counter(): a range, then the txn).
  void cas_loop(int id) {
    Slot& s = *slots_[id];
    std::uint64_t seq = 0;
    while (!stop_) {
      const std::size_t before = s.history.size();
      const Op last = increment_counter(*s.client, id, kCounterKey, &seq, epoch_, &s.history);
      ops_.fetch_add(s.history.size() - before);
      // Pacing, not synchronisation (as loop()).
      if (last.outcome == Outcome::kFailed) std::this_thread::sleep_for(50ms);
    }
  }

  void start_etcd_workload(const RunOptions& o, LocalCluster& c) {
    if (o.workload != Workload::kWatch && o.workload != Workload::kLease) return;
    EtcdWorkloadOptions w;
    for (int i = 0; i < c.size(); ++i) {
      w.endpoints.push_back(c.host(i) + ":" + std::to_string(c.rpc_port(i)));
      w.members.push_back(c.id(i));
    }
    w.seed = o.seed;
    w.client_timeout = o.client_timeout;
    if (o.workload == Workload::kWatch) watch_ = std::make_unique<WatchWorkload>(w, epoch_);
    if (o.workload == Workload::kLease) lease_ = std::make_unique<LeaseWorkload>(w, epoch_);
  }

  Clock::time_point epoch_;
  std::unique_ptr<WatchWorkload> watch_;
  std::unique_ptr<LeaseWorkload> lease_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ops_{0};
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
};

// kRemoved: taken out of the membership by member-replace, killed, its data
// wiped; heal() adds it back.
enum class NodeState { kUp, kPaused, kDown, kRemoved };

// Injects faults into the cluster (several may be active) and heals them all.
// Partitions go through `net` (null unless the run has partition faults).
class Nemesis {
 public:
  Nemesis(LocalCluster& c, std::uint64_t seed, TestNetwork* net = nullptr)
      : c_(c),
        net_(net),
        rng_(seed),
        state_(c.size(), NodeState::kUp),
        armed_(c.size()),
        unsure_removal_(c.size(), false) {}

  // Applies `f`; returns a one-line description ("" if no node can take it:
  // every node is already down or paused). `hold` bounds the retries of a
  // refused membership change.
  std::string apply(Fault f, std::chrono::milliseconds hold = 1000ms) {
    if (random_up_or_none() < 0) return "";
    if (is_partition(f)) return apply_partition(f);
    switch (f) {
      case Fault::kKillRandom:
      case Fault::kKillLeader:
        target_ = f == Fault::kKillLeader ? leader_or_random() : random_up();
        kill(target_);
        return std::string(to_string(f)) + " " + c_.id(target_);
      case Fault::kPauseRandom:
      case Fault::kPauseLeader:
        target_ = f == Fault::kPauseLeader ? leader_or_random() : random_up();
        c_.process(target_).signal(SIGSTOP);
        state_[target_] = NodeState::kPaused;
        return std::string(to_string(f)) + " " + c_.id(target_);
      case Fault::kRestartAll:
        for (int i = 0; i < c_.size(); ++i) kill(i);
        return to_string(f);
      case Fault::kDiskFsyncFail:
      case Fault::kDiskTornWrite:
        return arm_failpoint(f);
      case Fault::kMemberReplace:
        return remove_member(hold);
      case Fault::kMemberMoveLeader:
        return move_leader();
      case Fault::kMemberWipe:
        return wipe_in_place();
      case Fault::kMemberDisasterRecovery:
        return disaster_recovery();
      default:
        break;
    }
    return std::string("unsupported ") + to_string(f);
  }

  // Heals whatever is broken: the network, continues paused nodes, restarts
  // dead ones, and restarts a node still running with a failpoint armed
  // without it. Returns what went wrong, as notice_exits() (`*notes` likewise).
  std::string heal(std::string* notes) {
    std::string crashes = notice_exits(notes);
    if (net_ != nullptr) {
      const bool healed = net_->heal();
      if (!healed) std::fprintf(stderr, "heal: %s\n", net_->error().c_str());
      DKV_FAULT_CHECK(healed);
    }
    for (int i = 0; i < c_.size(); ++i) {
      if (state_[i] == NodeState::kPaused) c_.process(i).signal(SIGCONT);
      if (state_[i] == NodeState::kPaused) state_[i] = NodeState::kUp;
    }
    crashes += disarm_failpoints(notes);
    for (int i = 0; i < c_.size(); ++i) {
      if (state_[i] == NodeState::kDown) {
        c_.start(i);
        armed_[i].reset();
      }
      if (state_[i] != NodeState::kRemoved) state_[i] = NodeState::kUp;
    }
    // Rejoins last: the nodes restarted above give the cluster its quorum.
    for (int i = 0; i < c_.size(); ++i) {
      if (!unsure_removal_[i]) continue;
      const std::string failed = settle_unsure_removal(i, notes);
      if (!failed.empty()) crashes += failed + "\n";
    }
    for (int i = 0; i < c_.size(); ++i) {
      if (state_[i] != NodeState::kRemoved) continue;
      const std::string failed = rejoin(i, notes);
      if (!failed.empty()) crashes += failed + "\n";
    }
    return crashes;
  }

  int failpoint_stops() const { return failpoint_stops_; }
  int member_replaces() const { return member_replaces_; }
  int member_wipes() const { return member_wipes_; }

  std::mt19937_64& rng() { return rng_; }

  // Nodes that exited though the nemesis did not kill them. Marks them down
  // (heal() restarts them). Returns one line per crash (an assert, a fatal
  // error: a failure of the run); a clean shutdown on SIGTERM, which the suite
  // never sends, came from outside (seen: a neighbour's `pkill dkv`) and only
  // goes to `*outside`.
  // A node started with a failpoint armed that stops the way the failpoint
  // says is expected: that goes to `*outside` too.
  std::string notice_exits(std::string* outside) {
    std::string crashes;
    for (int i = 0; i < c_.size(); ++i) {
      if (state_[i] == NodeState::kDown || state_[i] == NodeState::kRemoved ||
          c_.process(i).running()) {
        continue;
      }
      const int code = c_.process(i).wait_exit(0ms);
      state_[i] = NodeState::kDown;
      const std::string log = c_.process(i).log();
      const auto tail = log.substr(log.size() > 4096 ? log.size() - 4096 : 0);
      if (code == 0 && tail.find("received SIGTERM") != std::string::npos) {
        *outside += "node " + c_.id(i) + " stopped by a SIGTERM from outside the suite\n";
        continue;
      }
      if (const std::string line = failpoint_stop_line(i, code); !line.empty()) {
        *outside += "node " + c_.id(i) + " stopped by its failpoint, as expected: " + line + "\n";
        armed_[i].reset();
        ++failpoint_stops_;
        continue;
      }
      crashes +=
          "node " + c_.id(i) + " exited unexpectedly with code " + std::to_string(code) + "\n";
    }
    return crashes;
  }

 private:
  void kill(int i) {
    if (state_[i] == NodeState::kDown || state_[i] == NodeState::kRemoved) return;
    c_.process(i).signal(SIGKILL);
    c_.process(i).wait_exit(10s);
    state_[i] = NodeState::kDown;
  }

  // A node restarted with a WAL failpoint (src/wal/failpoints.h) armed.
  struct Armed {
    Fault fault;
    std::size_t log_offset = 0;  // Its log before this start.
  };

  // Kills a random node and restarts it with the failpoint of `f` armed
  // after a seeded number of syncs (or writes): a few hundred ms of load.
  std::string arm_failpoint(Fault f) {
    const int i = random_up();
    const bool fsync = f == Fault::kDiskFsyncFail;
    const std::uint64_t after = 5 + rng_() % 40;
    const std::string spec =
        std::string(fsync ? "wal-fsync-eio" : "wal-torn-write") + ":after=" + std::to_string(after);
    kill(i);
    armed_[i] = Armed{f, c_.process(i).log().size()};
    c_.start(i, {{"DKV_TEST_FAILPOINTS", spec}});
    state_[i] = NodeState::kUp;
    return std::string(to_string(f)) + " " + c_.id(i) + " (" + spec + ")";
  }

  // The failpoint's line if node i (exited with `code`) stopped as its armed
  // failpoint makes it: wal-fsync-eio exits 1 with one critical line naming
  // the failpoint (never retrying), wal-torn-write exits with
  // kTornWriteExitCode after naming it. "" otherwise: a crash.
  std::string failpoint_stop_line(int i, int code) {
    if (!armed_[i]) return "";
    const std::string log = c_.process(i).log();
    const std::string since = log.substr(std::min(armed_[i]->log_offset, log.size()));
    const bool fsync = armed_[i]->fault == Fault::kDiskFsyncFail;
    const int want_code = fsync ? 1 : wal::kTornWriteExitCode;
    const std::string want =
        fsync ? "(failpoint wal-fsync-eio)" : "failpoint wal-torn-write: wrote";
    const auto at = since.rfind(want);
    if (code != want_code || at == std::string::npos) return "";
    const auto begin = since.rfind('\n', at);
    const auto end = since.find('\n', at);
    const std::string line =
        since.substr(begin == std::string::npos ? 0 : begin + 1,
                     end == std::string::npos ? std::string::npos : end - begin - 1);
    if (fsync && line.find("critical") == std::string::npos) return "";
    return line;
  }

  // Nodes still running with a failpoint armed: if the fsync failpoint fired
  // the node must stop within a bound (else that is the failure returned);
  // if it never fired (not enough load), kill -9 it. heal() restarts them.
  std::string disarm_failpoints(std::string* notes) {
    std::string failures;
    for (int i = 0; i < c_.size(); ++i) {
      if (!armed_[i] || state_[i] == NodeState::kDown) continue;
      const std::string log = c_.process(i).log();
      const bool fired = log.find("failpoint wal-fsync-eio: fdatasync fails",
                                  armed_[i]->log_offset) != std::string::npos;
      if (fired) {
        const int code = c_.process(i).wait_exit(5s);
        if (code < 0) {
          failures += "node " + c_.id(i) + " kept running 5 s after an fsync failed\n";
        } else {
          std::string more = notice_exits(notes);
          failures += more;
          continue;
        }
      } else {
        *notes += "node " + c_.id(i) + ": failpoint not reached, restarted without it\n";
      }
      kill(i);
      armed_[i].reset();
    }
    return failures;
  }

  // A random node that is up (not killed or paused by us), or -1.
  int random_up_or_none() {
    std::vector<int> up;
    for (int i = 0; i < c_.size(); ++i) {
      if (state_[i] == NodeState::kUp) up.push_back(i);
    }
    return up.empty() ? -1 : up[rng_() % up.size()];
  }
  int random_up() {
    const int i = random_up_or_none();
    DKV_FAULT_CHECK(i >= 0);  // apply() returned early otherwise.
    return i;
  }

  // The leader the up nodes agree on, found within a short bound (a node
  // restarted by the last heal may not answer yet), else a random node.
  int leader_or_random() {
    const int fallback = random_up();  // Drawn always: keeps the seed's draws aligned.
    std::vector<int> up;
    for (int i = 0; i < c_.size(); ++i) {
      if (state_[i] == NodeState::kUp && c_.process(i).running()) up.push_back(i);
    }
    const int leader = c_.wait_for_leader(up, 2s);
    // The up nodes may still name a leader we killed or paused; never signal
    // a node that is down: its pid may belong to another process by now.
    if (leader < 0 || state_[leader] != NodeState::kUp) return fallback;
    return leader;
  }

  // Cuts the network as `f` says; returns its description.
  std::string apply_partition(Fault f) {
    DKV_FAULT_CHECK(net_ != nullptr);  // run_fault() makes one for partition faults.
    std::vector<int> nodes(c_.size());
    for (int i = 0; i < c_.size(); ++i) nodes[i] = i;
    std::shuffle(nodes.begin(), nodes.end(), rng_);
    const int n = c_.size();
    std::vector<int> a, b;
    std::string what = to_string(f);
    bool done = false;
    if (f == Fault::kPartitionHalves) {
      a.assign(nodes.begin(), nodes.begin() + n / 2);
      b.assign(nodes.begin() + n / 2, nodes.end());
      done = net_->partition(a, b);
      what += " " + names(a) + " | " + names(b);
    } else if (f == Fault::kPartitionLeader || f == Fault::kPartitionAsymmetric) {
      const int x = leader_or_random();
      for (int i : nodes) {
        if (i != x) b.push_back(i);
      }
      if (f == Fault::kPartitionLeader) {
        done = net_->isolate(x);
        what += " " + c_.id(x) + " | " + names(b);
      } else if (rng_() % 2 == 0) {
        done = net_->cut_one_way({x}, b);
        what += " " + c_.id(x) + " -> " + names(b) + " dropped";
      } else {
        done = net_->cut_one_way(b, {x});
        what += " " + names(b) + " -> " + c_.id(x) + " dropped";
      }
    } else {
      const int bridge = nodes[0];
      a.assign(nodes.begin() + 1, nodes.begin() + 1 + (n - 1) / 2);
      b.assign(nodes.begin() + 1 + (n - 1) / 2, nodes.end());
      done = net_->bridge(a, bridge, b);
      what += " " + names(a) + " | " + names(b) + " via " + c_.id(bridge);
    }
    if (!done) std::fprintf(stderr, "%s: %s\n", what.c_str(), net_->error().c_str());
    DKV_FAULT_CHECK(done);
    return what;
  }

  std::string names(const std::vector<int>& nodes) const {
    std::string out;
    for (int i : nodes) out += (out.empty() ? "" : ",") + c_.id(i);
    return out;
  }

  // member-replace, first half: removes a random up node (the leader too)
  // through another up node, retrying refusals until `hold` (at least 1 s)
  // passes; once a live node no longer lists it, kills it and wipes its data.
  std::string remove_member(std::chrono::milliseconds hold) {
    const int i = random_up();
    const std::string what = std::string(to_string(Fault::kMemberReplace)) + " " + c_.id(i);
    const auto until = Clock::now() + std::max<std::chrono::milliseconds>(hold, 1s);
    std::string last;
    int listed = 1;
    int tries = 0;
    while (listed != 0 && Clock::now() < until) {
      const int via = random_up_other_than(i);
      if (via < 0) return what + ": no other node up, skipped";
      const auto r = call(via, "DELETE", "/v0/members/" + c_.id(i));
      last = "via " + c_.id(via) + ": " + (r.status == 200 ? "200" : answer(r));
      ++tries;
      listed = member_listed(c_.id(i), i, 3s);
      if (listed != 0) std::this_thread::sleep_for(100ms);  // Retry pacing.
    }
    if (listed != 0) {
      // A try that timed out may still commit later (its change pending in
      // the log): heal() asks again once the cluster is whole.
      unsure_removal_[i] = true;
      return what +
             (listed == 1 ? ": not removed by the end of the hold (last: "
                          : ": removal outcome unknown, no node answered GET /v0/members (") +
             last + "), skipped";
    }
    take_out(i);
    return what + " (removed " + last + (tries > 1 ? ", try " + std::to_string(tries) : "") +
           "; killed, data wiped)";
  }

  // Kills removed node i and wipes its data directory.
  void take_out(int i) {
    c_.process(i).signal(SIGKILL);
    c_.process(i).wait_exit(10s);
    std::error_code ec;
    std::filesystem::remove_all(c_.db_path(i), ec);
    armed_[i].reset();
    state_[i] = NodeState::kRemoved;
  }

  // A removal that was not confirmed in its hold may have committed since:
  // if no member lists node i now, it is taken out (and rejoins). Returns
  // what went wrong ("" if nothing).
  std::string settle_unsure_removal(int i, std::string* notes) {
    unsure_removal_[i] = false;
    if (state_[i] != NodeState::kUp) return "";
    const int listed = member_listed(c_.id(i), i, 10s);
    if (listed == 1) return "";
    if (listed < 0) return "member-replace " + c_.id(i) + ": no node answered GET /v0/members";
    *notes += "member-replace " + c_.id(i) + ": its unconfirmed removal committed after all\n";
    take_out(i);
    return "";
  }

  // member-replace, second half: adds node i back as a learner (same id and
  // address), starts it to join, waits until it has caught up, promotes it.
  // Returns what failed ("" on success); every step is bounded.
  std::string rejoin(int i, std::string* notes) {
    const std::string id = c_.id(i);
    const std::string what = "member-replace " + id + ": rejoin";
    const auto start = Clock::now();
    const auto until = start + 30s;
    const std::string add = R"({"id":")" + id + R"(","address":")" + c_.host(i) + ":" +
                            std::to_string(c_.rpc_port(i)) + R"(","voter":false,"force":true})";
    std::string last;
    int listed = 0;
    while (listed != 1 && Clock::now() < until) {
      const int via = random_up_other_than(i);
      if (via < 0) return what + ": no node up to add it through";
      last = answer(call(via, "POST", "/v0/members", add));
      listed = member_listed(id, i, 3s);
      if (listed != 1) std::this_thread::sleep_for(100ms);  // Retry pacing.
    }
    if (listed != 1) return what + ": member add did not commit by 30 s (" + last + ")";
    if (!c_.start(i, {{"DKV_CLUSTER_STATE", "existing"}})) return what + ": cannot start dkv";
    state_[i] = NodeState::kUp;  // Running: notice_exits() watches it from now.
    const auto left = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max<Clock::duration>(until - Clock::now(), 0s));
    };
    if (!c_.wait_ready(i, left())) {
      return what + ": not ready by 30 s (exit code " +
             std::to_string(c_.process(i).wait_exit(0ms)) + ")";
    }
    // Caught up: within 100 entries of the leader's applied index.
    bool caught_up = false;
    while (!caught_up && Clock::now() < until) {
      const int leader = leader_among_up();
      const std::string mine = c_.status_field(i, "appliedIndex");
      const std::string theirs = leader < 0 ? "" : c_.status_field(leader, "appliedIndex");
      caught_up =
          index_of(mine) >= 0 && index_of(theirs) >= 0 && index_of(theirs) - index_of(mine) <= 100;
      if (!caught_up) std::this_thread::sleep_for(50ms);  // Poll interval.
    }
    if (!caught_up) return what + ": did not catch up by 30 s";
    bool voter = false;
    while (!voter && Clock::now() < until) {
      const int via = random_up_other_than(i);
      if (via < 0) return what + ": no node up to promote it through";
      const auto r = call(via, "POST", "/v0/members/" + id + "/promote", "{}");
      last = answer(r);
      voter = r.status == 200 || r.body.find("is a voter already") != std::string::npos;
      if (!voter) std::this_thread::sleep_for(100ms);  // Retry pacing (refused: far behind...).
    }
    if (!voter) return what + ": not promoted by 30 s (" + last + ")";
    *notes +=
        what + "ed: added as a learner, joined, caught up, promoted in " +
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()) +
        " ms\n";
    ++member_replaces_;
    return "";
  }

  // member-wipe: the README's recovery of a lost data directory, in place.
  std::string wipe_in_place() {
    const std::string what = to_string(Fault::kMemberWipe);
    for (int k = 0; k < c_.size(); ++k) {
      if (state_[k] != NodeState::kUp || unsure_removal_[k])
        return what + ": a node is not up, skipped";
      if (still_rejoining(k)) return what + ": " + c_.id(k) + " still rejoins, skipped";
    }
    const int leader = leader_among_up();
    if (leader < 0) return what + ": no leader, skipped";
    const int i = random_up_other_than(leader);
    if (i < 0) return what + ": no follower up, skipped";
    c_.process(i).signal(SIGKILL);
    c_.process(i).wait_exit(10s);
    std::error_code ec;
    std::filesystem::remove_all(c_.db_path(i), ec);
    armed_[i].reset();
    wiped_log_offset_[i] = c_.process(i).log().size();
    if (!c_.start(i)) {
      state_[i] = NodeState::kDown;
      return what + " " + c_.id(i) + ": cannot start dkv";
    }
    ++member_wipes_;
    return what + " " + c_.id(i) + " (killed, data wiped, restarted with the same id)";
  }

  // Node k was wiped and has not logged yet that it votes again.
  bool still_rejoining(int k) {
    if (!wiped_log_offset_[k]) return false;
    const std::string log = c_.process(k).log();
    if (log.find("this node votes again", std::min(*wiped_log_offset_[k], log.size())) !=
        std::string::npos) {
      wiped_log_offset_[k].reset();
      return false;
    }
    return true;
  }

  // member-disaster-recovery: the majority is lost for good; the leader,
  // which holds every committed entry (Raft §5.4.1), restarts as a cluster
  // of itself. The others are wiped and rejoin in heal() (the forced start
  // removed their names: rejoin() adds them back with force). Skipped
  // unless every node is up (no other fault half-done) and one leads.
  std::string disaster_recovery() {
    const std::string what = to_string(Fault::kMemberDisasterRecovery);
    for (int k = 0; k < c_.size(); ++k) {
      if (state_[k] != NodeState::kUp) return what + ": not every node is up, skipped";
    }
    const int leader = leader_among_up();
    if (leader < 0) return what + ": no leader, skipped";
    std::string lost;
    for (int k = 0; k < c_.size(); ++k) {
      if (k == leader) continue;
      take_out(k);
      lost += (lost.empty() ? "" : ",") + c_.id(k);
    }
    // Whatever the leader appended after the others died is in its log,
    // unacknowledged: the forced start commits it (clients saw "unknown").
    kill(leader);
    c_.start(leader, {{"DKV_FORCE_NEW_CLUSTER", "true"}});
    state_[leader] = NodeState::kUp;
    const bool ready = c_.wait_ready(leader, 30s);
    return what + ": " + lost + " killed and wiped, " + c_.id(leader) +
           (ready ? " restarted with DKV_FORCE_NEW_CLUSTER"
                  : " NOT ready 30 s after its forced start");
  }

  // member-move-leader: asks a random up node to move leadership to a
  // random other up voter; the answer goes to the schedule.
  std::string move_leader() {
    const int leader = leader_or_random();
    const int target = random_up_other_than(leader);
    const std::string what = std::string(to_string(Fault::kMemberMoveLeader));
    if (target < 0) return what + ": no other voter up, skipped";
    const int via = random_up();
    const auto r = call(via, "POST", "/v0/leader", R"({"id":")" + c_.id(target) + R"("})");
    return what + " " + c_.id(leader) + " -> " + c_.id(target) + " (via " + c_.id(via) + ": " +
           answer(r) + ")";
  }

  testing::HttpResponse call(int via, const std::string& method, const std::string& target,
                             const std::string& body = "") {
    return testing::http_at(c_.host(via), method, c_.rest_port(via), target, body, 5s,
                            "application/json");
  }
  static std::string answer(const testing::HttpResponse& r) {
    std::string body = r.body.substr(0, 160);
    std::replace(body.begin(), body.end(), '\n', ' ');
    return std::to_string(r.status) + (body.empty() ? "" : " " + body);
  }

  // Whether a live node other than `not_this` lists member `id` (1), does
  // not (0), or none answered within `timeout` (-1). GET /v0/members is
  // linearizable: absent means the removal is committed.
  int member_listed(const std::string& id, int not_this, std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      const int via = random_up_other_than(not_this);
      if (via < 0) return -1;
      const auto r = call(via, "GET", "/v0/members");
      if (r.status == 200) {
        return r.body.find(R"("id":")" + id + "\"") == std::string::npos ? 0 : 1;
      }
      std::this_thread::sleep_for(100ms);  // Retry pacing.
    }
    return -1;
  }

  static long long index_of(const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stoll(s);
  }

  // A random up node other than `i`, or -1.
  int random_up_other_than(int i) {
    std::vector<int> up;
    for (int k = 0; k < c_.size(); ++k) {
      if (k != i && state_[k] == NodeState::kUp) up.push_back(k);
    }
    return up.empty() ? -1 : up[rng_() % up.size()];
  }

  // The leader the up nodes agree on (within 2 s), or -1.
  int leader_among_up() {
    std::vector<int> up;
    for (int k = 0; k < c_.size(); ++k) {
      if (state_[k] == NodeState::kUp) up.push_back(k);
    }
    return up.empty() ? -1 : c_.wait_for_leader(up, 2s);
  }

  LocalCluster& c_;
  TestNetwork* net_;
  std::mt19937_64 rng_;
  std::vector<NodeState> state_;
  std::vector<std::optional<Armed>> armed_;  // By node.
  int failpoint_stops_ = 0;
  int member_replaces_ = 0;
  int member_wipes_ = 0;
  // By node: its log's size when it was last wiped, until it logs that it
  // caught up and votes again.
  std::vector<std::optional<std::size_t>> wiped_log_offset_ =
      std::vector<std::optional<std::size_t>>(c_.size());
  std::vector<bool> unsure_removal_;  // By node: a removal that may yet commit.
  int target_ = 0;
};

std::chrono::milliseconds uniform(std::mt19937_64& rng, std::chrono::milliseconds lo,
                                  std::chrono::milliseconds hi) {
  const auto span = static_cast<std::uint64_t>(std::max<std::int64_t>(hi.count() - lo.count(), 0));
  return lo + std::chrono::milliseconds(rng() % (span + 1));
}

// Waits `d` (a pause of the fault schedule, not a synchronisation), calling
// `tick` about once a second.
void hold(std::chrono::milliseconds d, const std::function<void()>& tick) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), 1s));
    tick();
  }
}

std::string progress_line(const RunOptions& o, const Clients& clients, Clock::time_point epoch,
                          int faults, const std::string& last) {
  const double t = std::chrono::duration<double>(Clock::now() - epoch).count();
  std::ostringstream s;
  s.precision(0);
  s << std::fixed << "seed=" << o.seed << " t=" << t << "s ops=" << clients.ops() << " ("
    << (t > 0 ? static_cast<double>(clients.ops()) / t : 0) << "/s) faults=" << faults
    << " last: " << last;
  return s.str();
}

// Final linearizable reads of every key on every node, recorded in the
// history (client ids after the workers'). Returns true if each node answered
// each key within a bounded number of tries.
bool final_reads(const RunOptions& o, LocalCluster& c, Clock::time_point epoch, int first_client,
                 std::vector<Op>* history) {
  bool all = true;
  const auto until = Clock::now() + o.recovery_timeout;
  for (int i = 0; i < c.size(); ++i) {
    auto client = make_rest_client(c.rest_port(i), o.client_timeout, c.id(i), false, c.host(i));
    for (int k = 0; k < o.keys; ++k) {
      bool ok = false;
      for (int attempt = 0; attempt < 10 && !ok && Clock::now() < until; ++attempt) {
        Op op;
        op.client = first_client + i;
        op.key = "k" + std::to_string(k);
        op.kind = OpKind::kGet;
        client->run(op, epoch);
        history->push_back(op);
        ok = op.outcome == Outcome::kOk;
        if (!ok) std::this_thread::sleep_for(200ms);  // Retry pacing.
      }
      all = all && ok;
    }
  }
  return all;
}

// Every node has applied the same index and serves the same value for every
// key from its local state (serializable reads). Bounded wait.
bool converged(const RunOptions& o, LocalCluster& c, std::string* why) {
  const auto until = Clock::now() + o.recovery_timeout;
  while (Clock::now() < until) {
    std::set<std::string> applied;
    for (int i = 0; i < c.size(); ++i) applied.insert(c.status_field(i, "appliedIndex"));
    if (applied.size() == 1 && !applied.begin()->empty()) break;
    std::this_thread::sleep_for(100ms);  // Poll interval.
  }
  for (int k = 0; k < o.keys; ++k) {
    const std::string target =
        "/v0/kv/key/" + base64("k" + std::to_string(k)) + "?serializable=true";
    std::string first;
    for (int i = 0; i < c.size(); ++i) {
      const auto r = testing::http("GET", c.rest_port(i), target);
      const std::string seen = std::to_string(r.status) + " " + r.body;
      if (i == 0) first = seen;
      if (seen != first) {
        *why = "k" + std::to_string(k) + ": " + c.id(0) + " has " + first + ", " + c.id(i) +
               " has " + seen + " (applied index " + c.status_field(0, "appliedIndex") + " vs " +
               c.status_field(i, "appliedIndex") + ")";
        return false;
      }
    }
  }
  return true;
}

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
}

void report(const RunOptions& o, LocalCluster& c, RunResult& r, const CheckResult& checked) {
  const std::string root =
      o.report_root.empty() ? std::filesystem::temp_directory_path().string() : o.report_root;
  r.report_dir =
      (std::filesystem::path(root) / ("dkv-fault-seed-" + std::to_string(o.seed))).string();
  std::filesystem::remove_all(r.report_dir);
  write_report(r.report_dir, o.seed, o.replay, r.history, checked);
  for (int i = 0; i < c.size(); ++i) {
    write_text(std::filesystem::path(r.report_dir) / ("node-" + c.id(i) + ".log"),
               c.process(i).log());
  }
  if (!r.workload_history.empty()) {
    write_text(std::filesystem::path(r.report_dir) / "workload-history.txt", r.workload_history);
  }
  write_text(std::filesystem::path(r.report_dir) / "schedule.txt",
             "seed=" + std::to_string(o.seed) + "\n" + r.schedule + "error: " + r.error + "\n");
}

}  // namespace

namespace {

// Records what heal() found wrong (a crash, a node running on after a
// failed fsync) as the run's error.
void healed(const std::string& crashes, RunResult& r) {
  if (crashes.empty()) return;
  r.schedule += crashes;
  if (r.error.empty()) r.error = crashes.substr(0, crashes.size() - 1);
}

// The fault phase: until `end`, gap, apply 1..faults_at_once_max faults,
// hold, heal; then heal everything. `tick` runs about once a second.
void nemesis_phase(const RunOptions& o, Nemesis& nemesis, Clock::time_point epoch,
                   Clock::time_point end, const std::function<void()>& tick, std::string* last,
                   RunResult& r) {
  while (Clock::now() < end && !o.faults.empty()) {
    hold(uniform(nemesis.rng(), o.fault_gap_min, o.fault_gap_max), tick);
    const int at_once = 1 + static_cast<int>(nemesis.rng()() % std::max(o.faults_at_once_max, 1));
    const auto hold_for = uniform(nemesis.rng(), o.fault_hold_min, o.fault_hold_max);
    const double at = std::chrono::duration<double>(Clock::now() - epoch).count();
    const std::int64_t injected_ns = since_ns(epoch);
    std::string applied;
    for (int k = 0; k < at_once; ++k) {
      const std::size_t drawn = nemesis.rng()() % o.faults.size();
      const std::size_t step = static_cast<std::size_t>(r.faults_injected);
      const std::string what = nemesis.apply(
          step < o.first_faults.size() ? o.first_faults[step] : o.faults[drawn], hold_for);
      if (what.empty()) continue;
      applied += (applied.empty() ? "" : " + ") + what;
      ++r.faults_injected;
    }
    *last = applied;
    r.schedule +=
        std::to_string(at) + "s " + applied + " for " + std::to_string(hold_for.count()) + "ms\n";
    hold(hold_for, tick);
    tick();
    healed(nemesis.heal(&r.schedule), r);
    if (!applied.empty()) r.fault_windows_ns.emplace_back(injected_ns, since_ns(epoch));
  }
  hold(std::max<std::chrono::milliseconds>(
           std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()), 0ms),
       tick);
  tick();
  healed(nemesis.heal(&r.schedule), r);
  r.failpoint_stops = nemesis.failpoint_stops();
  r.member_replaces = nemesis.member_replaces();
  r.member_wipes = nemesis.member_wipes();
  r.schedule += "healed at " +
                std::to_string(std::chrono::duration<double>(Clock::now() - epoch).count()) + "s\n";
}

// After the clients stopped: final reads, convergence, counts, the checker.
void finish(const RunOptions& o, LocalCluster& c, Clock::time_point epoch, int first_client,
            RunResult& r) {
  r.live = final_reads(o, c, epoch, first_client, &r.history);
  std::string why;
  r.converged = converged(o, c, &why);
  if (!r.converged && r.error.empty()) r.error = "nodes did not converge: " + why;
  if (!r.live && r.error.empty()) r.error = "final reads did not succeed on every node";
  for (const Op& op : r.history) {
    r.ok += op.outcome == Outcome::kOk;
    r.failed += op.outcome == Outcome::kFailed;
    r.unknown += op.outcome == Outcome::kUnknown;
  }
  const auto check_start = Clock::now();
  const CheckResult checked = check(r.history);
  r.check_seconds = std::chrono::duration<double>(Clock::now() - check_start).count();
  r.verdict = checked.verdict;
  if (o.workload == Workload::kCasCounter) {
    const CounterCheck counted = check_counter(r.history, kCounterKey);
    r.counter_final = counted.final_value;
    r.cas_acknowledged = counted.acknowledged;
    r.cas_uncertain = counted.uncertain;
    if (!counted.ok && r.error.empty()) r.error = counted.why;
    if (counted.acknowledged == 0 && r.error.empty()) {
      r.error = "no increment was acknowledged (does the cluster serve etcd's KV service?)";
    }
  }
  if (!r.passed() || o.report_always) report(o, c, r, checked);
}

}  // namespace

namespace {

// kWatch, kLease: their checker over the recorded history. Violations go
// to the schedule (schedule.txt of the report), the first one to the error.
void check_etcd_workload(const RunOptions& o, const Clients& clients, RunResult& r) {
  std::vector<std::pair<std::string, std::string>> found;  // Rule, detail.
  if (const WatchWorkload* w = clients.watch(); w != nullptr) {
    const WatchCheckResult checked = check_watch(w->watchers(), w->writes());
    r.workload_history = describe_watch_history(w->watchers(), w->writes());
    for (const auto& v : checked.violations) {
      found.emplace_back(v.rule, "watcher " + std::to_string(v.watcher) + ": " + v.detail);
    }
    r.workload_summary = std::to_string(w->writes().size()) + " writes, " +
                         std::to_string(checked.events) + " events delivered, " +
                         std::to_string(checked.resumes) + " resumes, " +
                         std::to_string(checked.progress) + " progress notifications";
    if (checked.events == 0 && found.empty()) found.emplace_back("watch", "no event was delivered");
  }
  if (const LeaseWorkload* l = clients.lease(); l != nullptr) {
    std::int64_t election_ms = 1000;
    if (const auto e = o.env.find("DKV_ELECTION_MS"); e != o.env.end()) {
      election_ms = std::atoll(e->second.c_str());
    }
    const auto slack = o.lease_kept_slack;
    const LeaseCheckResult checked = check_leases(
        l->leases(),
        {std::chrono::nanoseconds(slack).count(), r.fault_windows_ns,
         std::chrono::nanoseconds(2 * std::chrono::milliseconds(election_ms)).count()});
    r.workload_history = describe_lease_history(l->leases());
    for (const auto& v : checked.violations) found.emplace_back(v.rule, v.detail);
    r.workload_summary = std::to_string(checked.leases) + " leases, " +
                         std::to_string(checked.renewals) + " renewals, " +
                         std::to_string(checked.expired_seen) + " seen expired, kept slack " +
                         std::to_string(slack.count()) + " ms + leader changes over " +
                         std::to_string(r.fault_windows_ns.size()) + " fault windows";
    if (checked.expired_seen == 0 && found.empty()) {
      found.emplace_back("lease", "no lease was seen to expire or be revoked");
    }
  }
  for (const auto& [rule, detail] : found) r.schedule += rule + " violation: " + detail + "\n";
  if (!found.empty() && r.error.empty()) {
    r.error = found.front().first + " violation: " + found.front().second;
  }
}

// A peer CA and a member certificate it signs, in `dir`; their DKV_PEER_*
// variables into *env. False if openssl failed.
bool make_peer_pki(const std::string& dir, std::map<std::string, std::string>* env) {
  auto openssl = [](const std::string& args) {
    return std::system(("openssl " + args + " >/dev/null 2>&1").c_str()) == 0;
  };
  const bool ok =
      openssl("req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=dkv-fault-peer-ca -keyout " +
              dir + "/ca.key -out " + dir + "/ca.crt") &&
      openssl("req -newkey rsa:2048 -nodes -subj /CN=dkv-member -keyout " + dir +
              "/peer.key -out " + dir + "/peer.csr") &&
      openssl("x509 -req -days 1 -in " + dir + "/peer.csr -CA " + dir + "/ca.crt -CAkey " + dir +
              "/ca.key -CAcreateserial -out " + dir + "/peer.crt");
  (*env)["DKV_PEER_CERT_FILE"] = dir + "/peer.crt";
  (*env)["DKV_PEER_KEY_FILE"] = dir + "/peer.key";
  (*env)["DKV_PEER_TRUSTED_CA_FILE"] = dir + "/ca.crt";
  return ok;
}

}  // namespace

RunResult run_fault(const RunOptions& options) {
  RunOptions o = options;
  if (o.workload != Workload::kRegisters) o.keys = 1;  // The counter, k0 (unused by watch, lease).
  RunResult r;
  r.seed = o.seed;
  // Partitions need the nodes in network namespaces; the network outlives
  // the cluster (declared first).
  std::unique_ptr<TestNetwork> net;
  const bool partitions = std::any_of(o.faults.begin(), o.faults.end(), is_partition) ||
                          std::any_of(o.first_faults.begin(), o.first_faults.end(), is_partition);
  const bool membership = std::any_of(o.faults.begin(), o.faults.end(), is_membership) ||
                          std::any_of(o.first_faults.begin(), o.first_faults.end(), is_membership);
  if (partitions && membership) {
    r.error =
        "membership faults (member-*) run on loopback clusters, partitions in network namespaces: "
        "run them separately";
    return r;
  }
  if (partitions) {
    if (const std::string why = TestNetwork::unavailable(); !why.empty()) {
      r.error = "partition faults: " + why;
      return r;
    }
    net = std::make_unique<TestNetwork>(o.nodes);
    if (!net->ok()) {
      r.error = "partition faults: cannot build the test network: " + net->error();
      return r;
    }
  }
  std::unique_ptr<testing::TempDir> pki;
  std::map<std::string, std::string> env = o.env;
  if (o.peer_tls) {
    pki = std::make_unique<testing::TempDir>("fault_pki_" + std::to_string(o.seed));
    if (!make_peer_pki(pki->path(), &env)) {
      r.error = "peer TLS: openssl could not make the certificates";
      return r;
    }
  }
  LocalCluster c("fault_" + std::to_string(o.seed), o.nodes, env, net.get());
  std::vector<int> all;
  for (int i = 0; i < c.size(); ++i) all.push_back(i);
  if (!c.start_all(30s) || c.wait_for_leader(all, 20s) < 0) {
    r.error = "the cluster did not start";
    report(o, c, r, {});
    return r;
  }
  const auto epoch = Clock::now();
  Clients clients(o, c, epoch);
  Nemesis nemesis(c, o.seed, net.get());
  std::string last = "none";
  auto next_progress = epoch + o.progress_every;
  auto tick = [&] {
    std::string outside;
    const std::string exits = nemesis.notice_exits(&outside);
    r.schedule += outside;
    if (!exits.empty()) {
      r.schedule += exits;
      if (r.error.empty()) r.error = exits.substr(0, exits.size() - 1);
    }
    if (o.progress && Clock::now() >= next_progress) {
      next_progress = Clock::now() + o.progress_every;
      o.progress(progress_line(o, clients, epoch, r.faults_injected, last));
    }
  };
  nemesis_phase(o, nemesis, epoch, epoch + o.nemesis_duration, tick, &last, r);
  bool ready = true;
  const auto healed_at = Clock::now();
  for (int i = 0; i < c.size(); ++i) {
    const auto left = std::max<Clock::duration>(healed_at + o.recovery_timeout - Clock::now(), 0s);
    ready = c.wait_ready(i, std::chrono::duration_cast<std::chrono::milliseconds>(left)) && ready;
  }
  if ((!ready || c.wait_for_leader(all, o.recovery_timeout) < 0) && r.error.empty()) {
    r.error = "no ready leader " + std::to_string(o.recovery_timeout.count()) + " ms after healing";
  }
  hold(o.quiet_after_heal, tick);  // Clients keep going on the healed cluster.
  clients.stop();
  r.seconds = std::chrono::duration<double>(Clock::now() - epoch).count();
  r.history = clients.history();
  check_etcd_workload(o, clients, r);
  finish(o, c, epoch, clients.size(), r);
  return r;
}

}  // namespace dkv::fault
