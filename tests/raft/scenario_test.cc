// Scenario scripts for the raft core (STYLE.md §13), in the manner of
// etcd-io/raft's testdata: each file in testdata/ is a list of blocks
//
//   command args...
//   ----
//   expected output (no blank lines)
//   <blank line>
//
// Commands: add-nodes N [pre-vote=B] [check-quorum=B] [first-leads=B];
// campaign ID; tick ID [N]; propose ID DATA; read-index ID CTX;
// transfer-leader FROM TO; process-ready ID... (= ready + persist);
// ready ID (take a Ready, send what may leave before the fsync); persist ID
// (finish that fsync: persist, send the rest, advance); deliver-msgs [ID...];
// drop-msgs [ID...]; stabilize; isolate ID; heal; log ID; status ID;
// add-node ID (empty, joining the leader's config); propose-conf-change ID
// add|remove|learner NODE; compact ID (snapshot at applied, compact);
// wipe ID (the node loses its disk and restarts under its id, rejoining).
// Messages print in one stable form: `1->2 MsgApp Term:1 Log:1/11 Commit:11`.
// DKV_REWRITE=1 regenerates the expected output in place; review the diff.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "raft/raw_node.h"

namespace dkv::raft {
namespace {

std::string fmt_entry(const Entry& e) {
  std::string s = std::to_string(e.index) + "/" + std::to_string(e.term);
  if (e.type == EntryType::kConfChange) return s + " ConfChange";
  return s + " \"" + e.data + "\"";
}

std::string fmt_msg(const Message& m) {
  std::ostringstream o;
  o << m.from << "->" << m.to << " " << message_type_name(m.type) << " Term:" << m.term;
  switch (m.type) {
    case MessageType::kApp:
      o << " Log:" << m.log_term << "/" << m.index << " Commit:" << m.commit;
      break;
    case MessageType::kAppResp:
      o << " Index:" << m.index;
      if (m.reject) o << " Rejected (Hint: " << m.reject_hint << "/" << m.log_term << ")";
      break;
    case MessageType::kVote:
    case MessageType::kPreVote:
      o << " Log:" << m.log_term << "/" << m.index;
      break;
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
      if (m.reject) o << " Rejected";
      break;
    case MessageType::kHeartbeat:
      o << " Commit:" << m.commit;
      break;
    case MessageType::kReadIndexResp:
      o << " Index:" << m.index;
      break;
    case MessageType::kReadIndex:  // Forwarded: the follower's term (count_read_requester).
      if (m.log_term != 0) o << " SenderTerm:" << m.log_term;
      break;
    default:
      break;
  }
  if (!m.context.empty()) o << " Context:" << m.context;
  if (!m.entries.empty()) {
    o << " Entries:[";
    for (std::size_t i = 0; i < m.entries.size(); ++i)
      o << (i ? ", " : "") << fmt_entry(m.entries[i]);
    o << "]";
  }
  if (m.snapshot)
    o << " Snapshot:" << m.snapshot->metadata.index << "/" << m.snapshot->metadata.term;
  return o.str();
}

std::string ids_str(const std::vector<NodeId>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s + "]";
}

class Interp {
 public:
  std::string run(const std::string& cmd, const std::vector<std::string>& args) {
    out_.str("");
    using A = const std::vector<std::string>&;
    auto id = [](const std::string& s) { return static_cast<NodeId>(std::stoull(s)); };
    const std::map<std::string, std::function<void(A)>> commands = {
        {"add-nodes", [&](A a) { add_nodes(a); }},
        {"add-node", [&](A a) { add_node(id(a[0])); }},
        {"wipe", [&](A a) { wipe(id(a[0])); }},
        {"campaign", [&](A a) { node(a[0]).campaign(); }},
        {"tick", [&](A a) { node(a[0]).tick_n(a.size() > 1 ? std::stoi(a[1]) : 1); }},
        {"propose", [&](A a) { print_status(node(a[0]).raw->propose(a[1])); }},
        {"propose-conf-change", [&](A a) { propose_cc(a); }},
        {"read-index", [&](A a) { node(a[0]).raw->read_index(a[1]); }},
        {"transfer-leader", [&](A a) { node(a[0]).raw->transfer_leader(id(a[1])); }},
        {"process-ready",
         [&](A a) {
           for (const auto& x : a) process_ready(id(x));
         }},
        {"ready", [&](A a) { take_ready(id(a[0])); }},
        {"persist", [&](A a) { persist(id(a[0])); }},
        {"deliver-msgs", [&](A a) { deliver(ids(a), true); }},
        {"drop-msgs", [&](A a) { deliver(ids(a), false); }},
        {"stabilize", [&](A) { stabilize(); }},
        {"isolate", [&](A a) { isolated_.insert(id(a[0])); }},
        {"heal", [&](A) { isolated_.clear(); }},
        {"compact", [&](A a) { compact(id(a[0])); }},
        {"log", [&](A a) { print_log(id(a[0])); }},
        {"status", [&](A a) { print_state(id(a[0])); }},
    };
    auto it = commands.find(cmd);
    if (it == commands.end()) {
      out_ << "unknown command " << cmd << "\n";
    } else {
      it->second(args);
    }
    std::string s = out_.str();
    return s.empty() ? "ok\n" : s;
  }

 private:
  struct N {
    std::unique_ptr<MemoryStorage> storage;
    std::unique_ptr<RawNode> raw;
    std::optional<Ready> held;  // Taken, fsync not finished.
    void campaign() { raw->campaign(); }
    void tick_n(int n) {
      for (int i = 0; i < n; ++i) raw->tick();
    }
  };

  N& node(const std::string& id) { return nodes_.at(std::stoull(id)); }

  std::set<NodeId> ids(const std::vector<std::string>& args) {
    std::set<NodeId> out;
    for (const auto& a : args) out.insert(std::stoull(a));
    if (out.empty()) {
      for (const auto& [id, n] : nodes_) out.insert(id);
    }
    return out;
  }

  void add_nodes(const std::vector<std::string>& args) {
    const int n = std::stoi(args[0]);
    std::map<std::string, bool> opt = {
        {"pre-vote", true}, {"check-quorum", true}, {"first-leads", false}};
    for (std::size_t i = 1; i < args.size(); ++i) {
      const auto eq = args[i].find('=');
      opt[args[i].substr(0, eq)] = args[i].substr(eq + 1) == "true";
    }
    ConfState cs;
    for (int i = 1; i <= n; ++i) cs.voters.push_back(static_cast<NodeId>(i));
    pre_vote_ = opt["pre-vote"];
    check_quorum_ = opt["check-quorum"];
    for (NodeId id : cs.voters) {
      N& x = nodes_[id];
      x.storage = std::make_unique<MemoryStorage>();
      x.storage->set_conf_state(cs);
      x.raw = std::make_unique<RawNode>(make_config(id, opt["first-leads"]), *x.storage);
    }
  }

  Config make_config(NodeId id, bool first_leads) const {
    Config c;
    c.id = id;
    c.election_ticks = 10;
    c.heartbeat_ticks = 1;
    c.pre_vote = pre_vote_;
    c.check_quorum = check_quorum_;
    if (first_leads) c.initial_election_ticks = id == 1 ? 10 : 30;
    // Deterministic and seed-free: timeouts are election_ticks + id - 1.
    c.rng = [id]() { return id - 1; };
    return c;
  }

  // A new member: empty log, joining with the current leader's config.
  void add_node(NodeId id) {
    ConfState cs;
    for (auto& [other, n] : nodes_) {
      if (n.raw->raft().state() == StateType::kLeader) cs = n.raw->raft().tracker().conf_state();
    }
    N& x = nodes_[id];
    x.storage = std::make_unique<MemoryStorage>();
    x.storage->set_conf_state(cs);
    x.raw = std::make_unique<RawNode>(make_config(id, false), *x.storage);
  }

  // The node's disk is lost: it restarts empty, under the same id, with the
  // membership a member told it (the leader's) and Config::rejoining.
  void wipe(NodeId id) {
    ConfState cs;
    for (auto& [other, n] : nodes_) {
      if (n.raw->raft().state() == StateType::kLeader) cs = n.raw->raft().tracker().conf_state();
    }
    N& x = nodes_.at(id);
    x.held.reset();
    std::erase_if(queue_, [&](const Message& m) { return m.to == id; });
    x.storage = std::make_unique<MemoryStorage>();
    x.storage->set_conf_state(cs);
    Config c = make_config(id, false);
    c.rejoining = true;
    x.raw = std::make_unique<RawNode>(c, *x.storage);
  }

  // propose-conf-change ID add|remove|learner NODE
  void propose_cc(const std::vector<std::string>& args) {
    ConfChange cc;
    cc.node_id = std::stoull(args[2]);
    if (args[1] == "add") cc.type = ConfChangeType::kAddNode;
    if (args[1] == "remove") cc.type = ConfChangeType::kRemoveNode;
    if (args[1] == "learner") cc.type = ConfChangeType::kAddLearner;
    print_status(node(args[0]).raw->propose_conf_change(cc));
  }

  // Snapshot at the applied index and compact the log up to it.
  void compact(NodeId id) {
    N& n = nodes_.at(id);
    const Index applied = n.raw->raft().log().applied();
    (void)n.storage->create_snapshot(applied, n.raw->raft().tracker().conf_state(),
                                     "state@" + std::to_string(applied));
    (void)n.storage->compact(applied);
    out_ << id << ": snapshot and compact at " << applied << "\n";
  }

  void print_status(const util::Status& st) {
    if (!st.is_ok()) out_ << "error: " << st.to_string() << "\n";
  }

  void process_ready(NodeId id) {
    if (take_ready(id)) persist(id);
  }

  // Takes and prints a Ready and sends its immediate messages; the fsync
  // (persist) is a separate step, as with asynchronous persistence.
  bool take_ready(NodeId id) {
    N& n = nodes_.at(id);
    if (n.held) {
      out_ << "error: Ready of " << id << " not persisted yet\n";
      return false;
    }
    if (!n.raw->has_ready()) return false;
    n.held = n.raw->ready();
    Ready& rd = *n.held;
    out_ << "> " << id << " handling Ready\n";
    if (rd.soft_state) {
      out_ << "  State:" << state_name(rd.soft_state->state) << " Lead:" << rd.soft_state->lead
           << "\n";
    }
    if (rd.hard_state) {
      out_ << "  HardState Term:" << rd.hard_state->term << " Vote:" << rd.hard_state->vote
           << " Commit:" << rd.hard_state->commit << "\n";
    }
    if (!rd.snapshot.empty()) {
      out_ << "  Snapshot " << rd.snapshot.metadata.index << "/" << rd.snapshot.metadata.term
           << " voters=" << ids_str(rd.snapshot.metadata.conf_state.voters) << "\n";
    }
    if (!rd.entries.empty()) {
      out_ << "  Entries:\n";
      for (const Entry& e : rd.entries) out_ << "  " << fmt_entry(e) << "\n";
    }
    if (!rd.messages.empty()) {
      out_ << "  Messages (send at once):\n";
      for (const Message& m : rd.messages) out_ << "  " << fmt_msg(m) << "\n";
    }
    if (!rd.messages_after_persist.empty()) {
      out_ << "  Messages (after persisting):\n";
      for (const Message& m : rd.messages_after_persist) out_ << "  " << fmt_msg(m) << "\n";
    }
    if (!rd.committed_entries.empty()) {
      out_ << "  CommittedEntries:\n";
      for (const Entry& e : rd.committed_entries) out_ << "  " << fmt_entry(e) << "\n";
    }
    for (const ReadState& r : rd.read_states) {
      out_ << "  ReadState Index:" << r.index << " Context:" << r.context << "\n";
    }
    for (Message& m : rd.messages) queue_.push_back(std::move(m));
    rd.messages.clear();
    return true;
  }

  // Finishes the fsync of the held Ready: persist, send the rest, advance.
  void persist(NodeId id) {
    N& n = nodes_.at(id);
    if (!n.held) return;
    Ready rd = std::move(*n.held);
    n.held.reset();
    if (!rd.snapshot.empty()) (void)n.storage->apply_snapshot(rd.snapshot);
    (void)n.storage->append(rd.entries);
    if (rd.hard_state) n.storage->set_hard_state(*rd.hard_state);
    for (Message& m : rd.messages_after_persist) queue_.push_back(std::move(m));
    for (const Entry& e : rd.committed_entries) {
      if (e.type != EntryType::kConfChange) continue;
      const ConfState cs = n.raw->apply_conf_change(*ConfChange::decode(e.data));
      n.storage->set_conf_state(cs);
      out_ << "> " << id << " applied conf change " << e.index << ": voters=" << ids_str(cs.voters)
           << " learners=" << ids_str(cs.learners) << "\n";
    }
    if (!rd.snapshot.empty()) {
      out_ << "> " << id << " installed snapshot " << rd.snapshot.metadata.index << " \""
           << rd.snapshot.data << "\"\n";
    }
    n.raw->advance();
  }

  // Delivers (or drops) the queued messages addressed to `to`.
  void deliver(const std::set<NodeId>& to, bool deliver) {
    std::deque<Message> keep;
    std::vector<Message> go;
    for (Message& m : queue_) {
      if (to.count(m.to)) {
        go.push_back(std::move(m));
      } else {
        keep.push_back(std::move(m));
      }
    }
    queue_ = std::move(keep);
    for (const Message& m : go) {
      const bool cut = isolated_.count(m.from) || isolated_.count(m.to);
      if (!deliver || cut) {
        out_ << "dropped: " << fmt_msg(m) << "\n";
        continue;
      }
      out_ << fmt_msg(m) << "\n";
      (void)nodes_.at(m.to).raw->step(m);
    }
  }

  void stabilize() {
    for (int round = 0; round < 100; ++round) {
      bool moved = false;
      for (auto& [id, n] : nodes_) {
        if (n.held) {
          persist(id);
          moved = true;
        } else if (n.raw->has_ready()) {
          process_ready(id);
          moved = true;
        }
      }
      if (!queue_.empty()) {
        moved = true;
        deliver(ids({}), true);
      }
      if (!moved) return;
    }
  }

  void print_log(NodeId id) {
    MemoryStorage& s = *nodes_.at(id).storage;
    std::vector<Entry> ents;
    (void)s.entries(s.first_index(), s.last_index() + 1, ~0ULL, &ents);
    if (ents.empty()) out_ << "log is empty\n";
    for (const Entry& e : ents) out_ << fmt_entry(e) << "\n";
  }

  void print_state(NodeId id) {
    const Raft& r = nodes_.at(id).raw->raft();
    out_ << id << ": " << state_name(r.state()) << " Term:" << r.term() << " Lead:" << r.lead()
         << " Commit:" << r.log().committed() << " Applied:" << r.log().applied()
         << " Persisted:" << r.log().persisted() << " Last:" << r.log().last_index()
         << (r.rejoining() ? " Rejoining" : "") << "\n";
  }

  std::map<NodeId, N> nodes_;
  bool pre_vote_ = true;
  bool check_quorum_ = true;
  std::deque<Message> queue_;
  std::set<NodeId> isolated_;
  std::ostringstream out_;
};

struct Block {
  std::string command;
  std::string expected;
};

std::vector<std::string> split(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void run_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  Interp interp;
  std::string rewritten;
  for (std::size_t i = 0; i < lines.size();) {
    const std::string& line = lines[i];
    if (line.empty() || line[0] == '#') {
      rewritten += line + "\n";
      ++i;
      continue;
    }
    const std::string command = line;
    ++i;
    std::string expected;
    if (i < lines.size() && lines[i] == "----") {
      ++i;
      while (i < lines.size() && !lines[i].empty()) expected += lines[i++] + "\n";
    }
    auto words = split(command);
    const std::string name = words[0];
    words.erase(words.begin());
    const std::string got = interp.run(name, words);
    EXPECT_EQ(got, expected) << path.filename() << ": " << command;
    rewritten += command + "\n----\n" + got;
  }
  if (std::getenv("DKV_REWRITE") != nullptr) std::ofstream(path) << rewritten;
}

TEST(Scenario, Testdata) {
  const std::filesystem::path dir = DKV_RAFT_TESTDATA_DIR;
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.path().extension() != ".txt") continue;
    SCOPED_TRACE(f.path().filename().string());
    run_file(f.path());
    ++files;
  }
  EXPECT_GT(files, 0);
}

}  // namespace
}  // namespace dkv::raft
