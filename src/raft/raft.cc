#include "raft/raft.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>

#include "util/assert.h"

namespace dkv::raft {

namespace {
constexpr char kTransferContext[] = "transfer";
// MsgAppResp from a node that lost its log (Config::rejoining), followed by
// the nonce of its incarnation.
constexpr std::string_view kRejoiningPrefix = "rejoining:";
// MsgApp to such a node once it caught up, with the same nonce: it may vote
// again. A nonce of an earlier incarnation (a late message) says nothing.
constexpr std::string_view kRejoinedPrefix = "rejoined:";

std::string rejoin_context(std::string_view prefix, std::uint64_t nonce) {
  return std::string(prefix) + std::to_string(nonce);
}

// The nonce of a "rejoining:<nonce>" context, if it is one.
std::optional<std::uint64_t> rejoining_nonce(const std::string& context) {
  if (context.compare(0, kRejoiningPrefix.size(), kRejoiningPrefix) != 0) return std::nullopt;
  std::uint64_t nonce = 0;
  const char* first = context.data() + kRejoiningPrefix.size();
  const char* last = context.data() + context.size();
  const auto [end, ec] = std::from_chars(first, last, nonce);
  if (ec != std::errc() || end != last || nonce == 0) return std::nullopt;
  return nonce;
}

bool is_local(MessageType t) {
  return t == MessageType::kHup || t == MessageType::kBeat || t == MessageType::kCheckQuorum ||
         t == MessageType::kUnreachable || t == MessageType::kSnapStatus;
}

bool is_response(MessageType t) {
  return t == MessageType::kAppResp || t == MessageType::kVoteResp ||
         t == MessageType::kPreVoteResp || t == MessageType::kHeartbeatResp;
}

// Messages that depend on durable state (a granted vote, a persisted append)
// wait for persistence; the leader's appends and heartbeats may leave at once
// (thesis §10.2.1), as may pre-votes, which change no state, and forwarded
// requests. A heartbeat ack vouches for no log entry, only for the term, and
// a Ready that changes the term holds back all its messages (RawNode::ready),
// so it leaves at once too: linearizable reads then do not wait behind the
// followers' fsyncs.
bool must_wait_for_persist(MessageType t) {
  switch (t) {
    case MessageType::kVote:
    case MessageType::kVoteResp:
    case MessageType::kAppResp:
      return true;
    default:
      return false;
  }
}
}  // namespace

util::Status validate_config(const Config& c) {
  if (c.id == kNoNode) return util::invalid_argument("raft id must be non-zero");
  if (c.heartbeat_ticks <= 0) return util::invalid_argument("heartbeat_ticks must be > 0");
  if (c.election_ticks <= c.heartbeat_ticks) {
    return util::invalid_argument("election_ticks must be greater than heartbeat_ticks");
  }
  if (c.initial_election_ticks < 0) {
    return util::invalid_argument("initial_election_ticks must be >= 0");
  }
  if (c.max_inflight_msgs == 0) return util::invalid_argument("max_inflight_msgs must be > 0");
  if (c.max_msg_bytes == 0) return util::invalid_argument("max_msg_bytes must be > 0");
  if (!c.rng) return util::invalid_argument("rng must be set");
  return {};
}

std::string_view state_name(StateType s) {
  switch (s) {
    case StateType::kFollower:
      return "follower";
    case StateType::kPreCandidate:
      return "pre-candidate";
    case StateType::kCandidate:
      return "candidate";
    case StateType::kLeader:
      return "leader";
  }
  return "?";
}

Raft::Raft(const Config& config, const Storage& storage)
    : config_(config),
      id_(config.id),
      rejoining_(config.rejoining),
      log_(storage),
      tracker_(config.max_inflight_msgs, config.max_inflight_bytes) {
  // The node validates user input with validate_config() first.
  DKV_ASSERT(config_.id != kNoNode);
  DKV_ASSERT(config_.heartbeat_ticks > 0);
  DKV_ASSERT(config_.election_ticks > config_.heartbeat_ticks);
  DKV_ASSERT(config_.max_inflight_msgs > 0);
  DKV_ASSERT(config_.max_msg_bytes > 0);
  DKV_ASSERT(static_cast<bool>(config_.rng));
  if (rejoining_) rejoin_nonce_ = config_.rng() | 1;  // Never 0.
  const auto [hs, cs] = storage.initial_state();
  tracker_.set_conf_state(cs, log_.last_index() + 1);
  if (!hs.empty()) {
    DKV_ASSERT(hs.commit <= log_.last_index());
    term_ = hs.term;
    vote_ = hs.vote;
    log_.commit_to(hs.commit);
  }
  // What the application applied was committed. The recorded commit index
  // may lag it, since a hard state that only moves the commit index is not
  // fsynced (Ready::must_sync).
  if (config_.applied > log_.committed()) {
    DKV_ASSERT(config_.applied <= log_.last_index());
    log_.commit_to(config_.applied);
  }
  if (config_.applied > 0) log_.applied_to(config_.applied);
  become_follower(term_, kNoNode);
  const int first =
      config_.initial_election_ticks > 0 ? config_.initial_election_ticks : config_.election_ticks;
  reset_randomized_election_timeout(first);
}

// ---- Roles ---------------------------------------------------------------

void Raft::reset(Term term) {
  if (term_ != term) {
    DKV_ASSERT(term > term_);  // Terms only grow (§5.1).
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout(config_.election_ticks);
  lead_transferee_ = kNoNode;
  tracker_.reset_votes();
  tracker_.reset_all(log_.last_index() + 1);
  pending_conf_index_ = 0;
  pending_bcast_ = false;
  pending_read_round_ = false;
  read_rounds_.clear();
  removing_self_ = false;
  uncommitted_bytes_ = 0;
  pending_reads_.clear();
  reads_before_commit_.clear();
}

void Raft::reset_randomized_election_timeout(int base_ticks) {
  const auto spread = static_cast<std::uint64_t>(config_.election_ticks);
  randomized_election_timeout_ = base_ticks + static_cast<int>(config_.rng() % spread);
}

void Raft::become_follower(Term term, NodeId lead) {
  reset(term);
  lead_ = lead;
  state_ = StateType::kFollower;
}

void Raft::become_pre_candidate() {
  DKV_ASSERT(state_ != StateType::kLeader);  // invalid transition [leader -> pre-candidate]
  // A pre-candidate changes neither term nor vote (thesis §9.6).
  tracker_.reset_votes();
  lead_ = kNoNode;
  state_ = StateType::kPreCandidate;
}

void Raft::become_candidate() {
  DKV_ASSERT(state_ != StateType::kLeader);  // invalid transition [leader -> candidate]
  reset(term_ + 1);
  vote_ = id_;
  state_ = StateType::kCandidate;
}

void Raft::become_leader() {
  DKV_ASSERT(state_ != StateType::kFollower);  // invalid transition [follower -> leader]
  reset(term_);
  lead_ = id_;
  state_ = StateType::kLeader;
  Progress* self = tracker_.get(id_);
  DKV_ASSERT(self != nullptr);
  self->become_replicate();
  // The leader hears itself: it counts toward CheckQuorum's majority.
  self->recent_active = true;
  // §5.4.2: a no-op of this term lets the leader commit its predecessors'
  // entries; the leader counts only what it has persisted (thesis §10.2.1).
  append_entries({Entry{}});
  // The 2015 fix: no configuration change until an entry of this term is
  // committed and applied (every earlier one is then resolved).
  pending_conf_index_ = config_.canaries.skip_conf_change_fix ? 0 : log_.last_index();
  // A change removing us may already sit uncommitted in the log.
  removing_self_ = false;
  auto tail = log_.slice(unapplied_start(), log_.last_index() + 1,
                         std::numeric_limits<std::uint64_t>::max());
  DKV_ASSERT(tail.has_value());
  for (const Entry& e : *tail) removing_self_ = removing_self_ || removes_self(e);
  report({.type = EventType::kBecameLeader, .term = term_});
}

// First log index not yet applied (and not compacted: a node may compact up
// to what its state machine holds before telling us through advance()).
Index Raft::unapplied_start() const { return std::max(log_.applied() + 1, log_.first_index()); }

bool Raft::removes_self(const Entry& e) const {
  if (e.type != EntryType::kConfChange) return false;
  const auto cc = ConfChange::decode(e.data);
  return cc && cc->type == ConfChangeType::kRemoveNode && cc->node_id == id_;
}

// ---- Ticks ----------------------------------------------------------------

void Raft::tick() {
  if (state_ == StateType::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
  assert_invariants();
}

void Raft::tick_election() {
  ++election_elapsed_;
  if (!promotable() || election_elapsed_ < randomized_election_timeout_) return;
  election_elapsed_ = 0;
  (void)step(Message{.type = MessageType::kHup, .from = id_});
}

void Raft::tick_heartbeat() {
  DKV_ASSERT(state_ == StateType::kLeader);
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      (void)step(Message{.type = MessageType::kCheckQuorum, .from = id_});
    }
    // A transfer that did not finish within an election timeout is abandoned.
    if (state_ == StateType::kLeader && lead_transferee_ != kNoNode) {
      report({.type = EventType::kTransferAborted,
              .peer = lead_transferee_,
              .term = term_,
              .reason = "not done within an election timeout"});
      lead_transferee_ = kNoNode;
    }
  }
  if (state_ != StateType::kLeader) return;
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    (void)step(Message{.type = MessageType::kBeat, .from = id_});
  }
}

bool Raft::promotable() const { return tracker_.is_voter(id_); }

// ---- Elections ----------------------------------------------------------------

void Raft::hup(bool transfer) {
  if (state_ == StateType::kLeader) return;
  if (!promotable()) return;
  // Lost its log: a leader it elects could lack entries this node once
  // acknowledged. Wait until a leader says it caught up.
  if (rejoining_ && !config_.canaries.vote_while_rejoining) return;
  // A configuration change committed but not applied may change who votes:
  // wait until it is applied (etcd does the same).
  if (log_.committed() > log_.applied()) {
    auto ents = log_.slice(unapplied_start(), log_.committed() + 1,
                           std::numeric_limits<std::uint64_t>::max());
    if (!ents) return;
    for (const Entry& e : *ents) {
      if (e.type == EntryType::kConfChange) return;
    }
  }
  campaign(config_.pre_vote && !transfer, transfer);
}

void Raft::campaign(bool pre, bool transfer) {
  Term vote_term = 0;
  if (pre) {
    become_pre_candidate();
    vote_term = term_ + 1;  // Ask "would you vote for me at term+1?".
  } else {
    become_candidate();
    vote_term = term_;
  }
  report({.type = EventType::kCampaign,
          .term = vote_term,
          .pre = pre,
          .reason = transfer ? "leadership transfer" : "election timeout"});
  if (poll(id_, true) == VoteResult::kWon) {
    // Single voter: the self vote wins at once.
    if (pre) {
      campaign(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId to : tracker_.conf_state().voters) {
    if (to == id_) continue;
    send(Message{.type = pre ? MessageType::kPreVote : MessageType::kVote,
                 .to = to,
                 .term = vote_term,
                 .log_term = log_.last_term(),
                 .index = log_.last_index(),
                 .context = transfer ? kTransferContext : ""});
  }
}

VoteResult Raft::poll(NodeId from, bool granted) {
  tracker_.record_vote(from, granted);
  return tracker_.tally_votes();
}

// ---- step ------------------------------------------------------------------

util::Status Raft::step(const Message& m) {
  util::Status st = step_inner(m);
  assert_invariants();
  return st;
}

void Raft::assert_invariants() const {
  DKV_ASSERT(log_.applied() <= log_.committed());
  DKV_ASSERT(log_.committed() <= log_.last_index());
  DKV_ASSERT(log_.persisted() <= log_.last_index());
  if (state_ == StateType::kLeader) {
    DKV_ASSERT(lead_ == id_);
    // The leader counts only what it has persisted (thesis §10.2.1).
    const Progress* it = tracker_.get(id_);
    DKV_ASSERT(it == nullptr || it->match <= log_.persisted() ||
               config_.canaries.count_leader_before_persist);
  } else {
    DKV_ASSERT(lead_ != id_);
    DKV_ASSERT(pending_reads_.empty() && read_rounds_.empty());  // Leader's only.
  }
  if (state_ == StateType::kCandidate) DKV_ASSERT(vote_ == id_);
}

util::Status Raft::step_inner(const Message& m) {
  if (!step_term(m)) return {};
  switch (m.type) {
    case MessageType::kHup:
      hup(false);
      return {};
    case MessageType::kVote:
    case MessageType::kPreVote:
      step_vote(m);
      return {};
    default:
      break;
  }
  switch (state_) {
    case StateType::kLeader:
      return step_leader(m);
    case StateType::kCandidate:
    case StateType::kPreCandidate:
      return step_candidate(m);
    case StateType::kFollower:
      return step_follower(m);
  }
  return {};
}

// Term rules common to all roles (§5.1, thesis §4.2.3, §9.6). Returns false
// if m must be dropped.
bool Raft::step_term(const Message& m) {
  if (m.term == 0 || m.term == term_) return true;  // Local or current.
  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Thesis §4.2.3: while we hear from a leader, ignore vote requests, so a
      // removed or partitioned server cannot disrupt it; TimeoutNow overrides.
      const bool forced = m.context == kTransferContext;
      const bool in_lease =
          config_.check_quorum && lead_ != kNoNode && election_elapsed_ < config_.election_ticks;
      if (!forced && in_lease) {
        report({.type = EventType::kVoteIgnored,
                .peer = m.from,
                .term = m.term,
                .pre = m.type == MessageType::kPreVote,
                .reason = "a leader was heard from within the election timeout"});
        return false;
      }
    }
    if (m.type == MessageType::kPreVote) return true;  // Never changes our term.
    if (m.type == MessageType::kPreVoteResp && !m.reject) {
      return true;  // We bump the term ourselves if the pre-vote wins.
    }
    const bool from_leader = m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
                             m.type == MessageType::kSnap;
    if (state_ == StateType::kLeader) {
      report({.type = EventType::kSteppedDown,
              .peer = m.from,
              .term = term_,
              .reason = "a message of a higher term"});
    }
    become_follower(m.term, from_leader ? m.from : kNoNode);
    return true;
  }
  // m.term < term_: stale.
  if ((config_.check_quorum || config_.pre_vote) &&
      (m.type == MessageType::kHeartbeat || m.type == MessageType::kApp)) {
    // A leader cut off by a partition may never learn our term otherwise
    // (with PreVote nobody bumps its term): tell it, so it steps down.
    send(Message{.type = MessageType::kAppResp, .to = m.from});
  } else if (m.type == MessageType::kPreVote) {
    send(Message{.type = MessageType::kPreVoteResp, .to = m.from, .reject = true});
  }
  return false;
}

// §5.2, §5.4.1: grant if we have not voted for someone else this term (or,
// for a pre-vote, the asked term is higher) and the candidate's log is at
// least as up-to-date as ours.
void Raft::step_vote(const Message& m) {
  // Lost its log and vote: it may have voted in this very term already, and
  // its empty log would make any candidate look up to date. No answer: the
  // candidate needs a majority of the others.
  if (rejoining_ && !config_.canaries.vote_while_rejoining) return;
  const bool pre = m.type == MessageType::kPreVote;
  const bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && lead_ == kNoNode) || (pre && m.term > term_);
  const MessageType resp = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  if (!can_vote || !log_.is_up_to_date(m.index, m.log_term)) {
    std::string why;
    if (!can_vote) {
      why = vote_ != kNoNode ? "already voted in this term" : "a leader is known in this term";
    } else {
      why = "its log (last " + std::to_string(m.index) + " term " + std::to_string(m.log_term) +
            ") is behind ours (last " + std::to_string(log_.last_index()) + " term " +
            std::to_string(log_.last_term()) + ")";
    }
    report({.type = EventType::kVoteRejected,
            .peer = m.from,
            .term = m.term,
            .pre = pre,
            .reason = why});
    send(Message{.type = resp, .to = m.from, .term = term_, .reject = true});
    return;
  }
  report({.type = EventType::kVoteGranted, .peer = m.from, .term = m.term, .pre = pre});
  // Answer with the asked term: a pre-vote grant is for term+1.
  send(Message{.type = resp, .to = m.from, .term = m.term});
  if (!pre) {
    DKV_ASSERT(m.term == term_);
    election_elapsed_ = 0;
    vote_ = m.from;
  }
}

util::Status Raft::step_candidate(const Message& m) {
  const MessageType my_resp =
      state_ == StateType::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kProp:
      return util::unavailable("no leader: election in progress");
    case MessageType::kApp:
      become_follower(m.term, m.from);
      handle_append(m);
      return {};
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      return {};
    case MessageType::kSnap:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      return {};
    case MessageType::kReadIndex:
      return util::unavailable("no leader: election in progress");
    default:
      break;
  }
  if (m.type != my_resp) return {};
  switch (poll(m.from, !m.reject)) {
    case VoteResult::kWon:
      if (state_ == StateType::kPreCandidate) {
        campaign(false, false);
      } else {
        become_leader();
        bcast_append();
      }
      break;
    case VoteResult::kLost:
      // A rejection carries a term >= ours; stay in it as a follower.
      become_follower(std::max(term_, m.term), kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
  return {};
}

util::Status Raft::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kProp:
      if (lead_ == kNoNode) return util::unavailable("no leader");
      if (config_.disable_proposal_forwarding) {
        return util::unavailable("not the leader; forwarding disabled");
      }
      {
        Message fwd = m;
        fwd.to = lead_;
        send(std::move(fwd));
      }
      return {};
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      // The leader says this node, which lost its log, caught up: it holds
      // everything committed with its old acks (start_rejoin).
      if (handle_append(m) && rejoining_ &&
          m.context == rejoin_context(kRejoinedPrefix, rejoin_nonce_)) {
        rejoining_ = false;
      }
      return {};
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_heartbeat(m);
      return {};
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      handle_snapshot(m);
      return {};
    case MessageType::kTransferLeader:
    case MessageType::kReadIndex:
      if (lead_ == kNoNode) return util::unavailable("no leader");
      {
        Message fwd = m;
        fwd.to = lead_;
        if (fwd.type == MessageType::kReadIndex) {
          fwd.from = id_;
          fwd.log_term = term_;  // It followed lead_ in this term when it sent this.
        }
        send(std::move(fwd));
      }
      return {};
    case MessageType::kTimeoutNow:
      // Thesis §3.10: campaign at once, skipping PreVote and the lease.
      hup(true);
      return {};
    case MessageType::kReadIndexResp:
      read_states_.push_back({m.index, m.context});
      return {};
    default:
      return {};
  }
}

// ---- Leader -------------------------------------------------------------------

util::Status Raft::step_leader(const Message& m) {
  switch (m.type) {
    case MessageType::kBeat:
      // A read round for every queued request, in flight or not: it also
      // retries a round whose heartbeats or answers were lost.
      if (pending_reads_.empty()) {
        bcast_heartbeat(std::string());
      } else {
        send_read_round(/*to_all=*/true);
      }
      return {};
    case MessageType::kCheckQuorum:
      if (!tracker_.quorum_active()) {
        report({.type = EventType::kSteppedDown,
                .term = term_,
                .reason = "CheckQuorum: no quorum heard from in an election timeout"});
        become_follower(term_, kNoNode);  // Thesis §6.2: step down.
        return {};
      }
      for (auto& [id, pr] : tracker_.progress()) pr.recent_active = id == id_;
      return {};
    case MessageType::kProp:
      return propose(m);
    case MessageType::kReadIndex:
      read_index(m);
      return {};
    case MessageType::kTransferLeader:
      leader_transfer(m);
      return {};
    default:
      break;
  }
  Progress* pr = tracker_.get(m.from);
  if (pr == nullptr || m.from == id_) return {};
  switch (m.type) {
    case MessageType::kAppResp:
      pr->recent_active = true;
      leader_app_resp(m, *pr);
      break;
    case MessageType::kHeartbeatResp:
      pr->recent_active = true;
      leader_heartbeat_resp(m, *pr);
      break;
    case MessageType::kSnapStatus:
      if (pr->state != ProgressState::kSnapshot) break;
      if (m.reject) pr->pending_snapshot = 0;
      pr->become_probe();
      pr->probe_sent = true;  // Wait for a heartbeat response before probing.
      break;
    case MessageType::kUnreachable:
      if (pr->state == ProgressState::kReplicate) pr->become_probe();
      break;
    default:
      break;
  }
  return {};
}

util::Status Raft::propose(const Message& m) {
  DKV_ASSERT(!m.entries.empty());
  if (!tracker_.is_voter(id_) && !tracker_.is_learner(id_)) {
    return util::unavailable("leader is being removed");
  }
  if (lead_transferee_ != kNoNode) {
    return util::unavailable("leadership transfer in progress");  // Thesis §3.10.
  }
  std::uint64_t bytes = 0;
  for (const Entry& e : m.entries) bytes += e.data.size();
  if (config_.max_uncommitted_bytes > 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + bytes > config_.max_uncommitted_bytes) {
    return util::resource_exhausted("too many uncommitted bytes at the leader");
  }
  // Checks first, then state changes: a refused proposal changes nothing.
  std::optional<std::size_t> cc_pos;
  for (std::size_t k = 0; k < m.entries.size(); ++k) {
    const Entry& e = m.entries[k];
    if (e.type != EntryType::kConfChange) continue;
    if (cc_pos) return {util::Code::kFailedPrecondition, "one configuration change per proposal"};
    cc_pos = k;
    // One change at a time, and (the 2015 fix) not before an entry of
    // this term is applied: pending_conf_index_ starts at the no-op.
    if (pending_conf_index_ > log_.applied()) {
      return {util::Code::kFailedPrecondition, "a configuration change is pending"};
    }
    if (removes_self(e) && tracker_.is_single_voter(id_)) {
      return {util::Code::kFailedPrecondition, "cannot remove the last voter"};
    }
  }
  if (cc_pos) {
    pending_conf_index_ = log_.last_index() + 1 + *cc_pos;
    removing_self_ = removing_self_ || removes_self(m.entries[*cc_pos]);
  }
  std::vector<Entry> ents = m.entries;
  append_entries(std::move(ents));
  uncommitted_bytes_ += bytes;
  pending_bcast_ = true;  // Sent by flush(), batched.
  return {};
}

void Raft::leader_app_resp(const Message& m, Progress& pr) {
  if (!leader_rejoin_resp(m, pr)) return;
  if (m.reject) {
    // Fast backtracking: skip every entry of the follower's conflicting term.
    Index probe = m.reject_hint;
    if (m.log_term > 0) probe = log_.find_conflict_by_term(m.reject_hint, m.log_term).first;
    report({.type = EventType::kAppendRejectedBy,
            .peer = m.from,
            .term = term_,
            .index = m.index,
            .hint = probe});
    if (pr.maybe_decr_to(m.index, probe)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      send_append(m.from);
    }
    return;
  }
  const bool was_paused = pr.is_paused();
  if (pr.maybe_update(m.index)) {
    if (pr.state == ProgressState::kProbe) {
      pr.become_replicate();
    } else if (pr.state == ProgressState::kSnapshot && pr.match + 1 >= log_.first_index()) {
      pr.become_probe();
      pr.become_replicate();
    } else if (pr.state == ProgressState::kReplicate) {
      pr.inflights.free_le(m.index);
    }
    finish_rejoins();
    if (maybe_commit()) {
      pending_bcast_ = true;  // Spread the new commit index.
    } else if (was_paused && !pending_bcast_) {
      send_append(m.from);  // Unpaused: resume (unless a broadcast is due anyway).
    }
    while (maybe_send_append(m.from, false)) {
    }
    if (m.from == lead_transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
  }
}

// A follower that lost its log flags its MsgAppResp with the nonce of its
// incarnation. The first flagged answer of an incarnation restarts its
// progress (start_rejoin); later ones, also late ones after it caught up,
// are its own (acks after its fsyncs). A loss is always a new incarnation,
// so a message of an earlier one can neither hide a loss nor end one. While
// it rejoins, its match is only a guide for what to send, never counted: an
// ack may predate the loss (it then acknowledges less than the rejoin
// target: that entry was appended after), so only an ack at or above the
// target proves the peer holds it. A rejection, flagged or not, lowers the
// match below the rejected index, so a stale ack cannot leave the leader
// probing above the peer's log. Returns false if m was handled here.
bool Raft::leader_rejoin_resp(const Message& m, Progress& pr) {
  const std::optional<std::uint64_t> nonce = rejoining_nonce(m.context);
  pr.rejoin_flagged = nonce.has_value();
  if (nonce && *nonce != pr.rejoin_nonce) start_rejoin(m.from, pr, *nonce);
  if (pr.rejoin_target == 0) return true;
  if (!m.reject) return true;      // maybe_update takes it.
  if (m.index == 0) return false;  // Index 0 always matches: not a real rejection.
  // Probe from its hint (fast backtracking), below the rejected index.
  Index probe = m.reject_hint;
  if (m.log_term > 0) probe = log_.find_conflict_by_term(m.reject_hint, m.log_term).first;
  probe = std::min(probe, m.index - 1);
  pr.become_probe();
  pr.match = std::min(pr.match, probe);
  pr.next = probe + 1;
  DKV_ASSERT(pr.match < pr.next);
  send_append(m.from);
  return false;
}

// The peer's match is forgotten (it counts for nothing until it catches up
// again), and it must reach an entry appended now. That entry commits only
// on a majority of the others, after the peer lost its log, so the peer is
// told it caught up only once everything its old acks helped commit is back
// on its disk.
void Raft::start_rejoin(NodeId peer, Progress& pr, std::uint64_t nonce) {
  DKV_ASSERT(state_ == StateType::kLeader);
  DKV_ASSERT(peer != id_);
  DKV_ASSERT(nonce != 0);
  pr.match = 0;
  pr.become_probe();
  pr.next = 1;
  pr.rejoin_nonce = nonce;
  append_entries({Entry{}});
  pr.rejoin_target = log_.last_index();
  DKV_ASSERT(pr.rejoin_target > 0);
  pending_bcast_ = true;
}

void Raft::finish_rejoins() {
  for (auto& [id, pr] : tracker_.progress()) {
    if (pr.rejoin_target == 0) continue;
    if (pr.match < pr.rejoin_target || log_.committed() < pr.rejoin_target) continue;
    pr.rejoin_target = 0;
    pending_bcast_ = true;  // The next MsgApp carries the news (send_append).
  }
}

void Raft::leader_heartbeat_resp(const Message& m, Progress& pr) {
  if (pr.state == ProgressState::kProbe) pr.probe_sent = false;
  // The follower is alive but the window stays full: appends were probably
  // lost. Free one slot so the next append probes (a rejection then falls
  // back to kProbe from match + 1).
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
  if (pr.match < log_.last_index()) send_append(m.from);
  // A node that lost its log may have forgotten a newer term, so its
  // answer does not vouch for this leader (handle_heartbeat).
  if (m.reject) return;
  answer_reads_confirmed_by(m);
}

void Raft::leader_transfer(const Message& m) {
  const NodeId target = m.from;
  if (!tracker_.is_voter(target)) return;  // Learners cannot lead.
  if (target == id_) return;
  if (lead_transferee_ == target) return;  // Already under way.
  Progress* pr = tracker_.get(target);
  DKV_ASSERT(pr != nullptr);
  // It lost its log and may not campaign until told it caught up.
  if (pr->rejoin_target != 0 || pr->rejoin_flagged) return;
  election_elapsed_ = 0;  // The transfer must finish within an election timeout.
  lead_transferee_ = target;
  report({.type = EventType::kTransferStarted, .peer = target, .term = term_});
  if (pr->match == log_.last_index()) {
    send_timeout_now(target);
  } else {
    send_append(target);
  }
}

void Raft::append_entries(std::vector<Entry> ents) {
  DKV_ASSERT(state_ == StateType::kLeader);
  Index i = log_.last_index();
  for (Entry& e : ents) {
    e.term = term_;
    e.index = ++i;
  }
  log_.append(ents);
  // The leader's own match moves only when the node reports persistence.
  update_self_progress();
}

void Raft::update_self_progress() {
  Progress* self = tracker_.get(id_);
  if (self == nullptr) return;  // Removed from the configuration.
  if (config_.canaries.count_leader_before_persist) {
    self->maybe_update(log_.last_index());  // Canary: counts an unpersisted copy.
    return;
  }
  self->maybe_update(std::min(log_.persisted(), log_.last_index()));
}

bool Raft::maybe_commit() {
  DKV_ASSERT(state_ == StateType::kLeader);
  const Index quorum_index = tracker_.committed_index(removing_self_ ? id_ : kNoNode);
  const Index committed_before = log_.committed();
  if (config_.canaries.commit_old_term_by_counting) {
    if (quorum_index <= log_.committed()) return false;
    log_.commit_to(quorum_index);  // Canary: ignores Figure 8.
  } else if (!log_.maybe_commit(quorum_index, term_)) {
    return false;
  }
  reduce_uncommitted(committed_before);
  release_pending_reads();
  finish_rejoins();
  return true;
}

void Raft::reduce_uncommitted(Index committed_before) {
  if (uncommitted_bytes_ == 0) return;
  auto ents = log_.slice(committed_before + 1, log_.committed() + 1,
                         std::numeric_limits<std::uint64_t>::max());
  if (!ents) {
    uncommitted_bytes_ = 0;
    return;
  }
  for (const Entry& e : *ents) {
    uncommitted_bytes_ -= std::min<std::uint64_t>(uncommitted_bytes_, e.data.size());
  }
}

bool Raft::committed_entry_in_current_term() const {
  return log_.term_or_zero(log_.committed()) == term_;
}

bool Raft::maybe_send_append(NodeId to, bool send_if_empty) {
  Progress* pr = tracker_.get(to);
  DKV_ASSERT(pr != nullptr);
  if (pr->is_paused()) return false;
  const Index prev = pr->next - 1;
  const std::optional<Term> prev_term = log_.term(prev);
  auto ents = log_.entries_from(pr->next, config_.max_msg_bytes);
  if (!prev_term || !ents) return send_snapshot(to, *pr);  // Compacted away (§7).
  if (ents->empty() && !send_if_empty) return false;
  std::uint64_t bytes = 0;
  for (const Entry& e : *ents) bytes += entry_size_bytes(e);
  const Index last = ents->empty() ? prev : ents->back().index;
  pr->sent_entries(last, ents->size(), bytes);
  send(Message{.type = MessageType::kApp,
               .to = to,
               .log_term = *prev_term,
               .index = prev,
               .entries = std::move(*ents),
               .commit = log_.committed(),
               .context = rejoined_context(*pr)});
  return true;
}

bool Raft::send_snapshot(NodeId to, Progress& pr) {
  if (!pr.recent_active) return false;  // Don't stream to a peer that seems down.
  Snapshot snap = log_.snapshot();
  if (snap.empty()) return false;  // Not available yet.
  pr.become_snapshot(snap.metadata.index);
  report({.type = EventType::kSnapshotSent,
          .peer = to,
          .term = term_,
          .index = snap.metadata.index,
          .log_term = snap.metadata.term});
  send(Message{.type = MessageType::kSnap, .to = to, .snapshot = std::move(snap)});
  return true;
}

void Raft::bcast_append() {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) send_append(id);
  }
}

void Raft::bcast_heartbeat(const std::string& context) {
  for (auto& [id, pr] : tracker_.progress()) {
    if (id != id_) send_heartbeat(id, context);
  }
}

void Raft::send_heartbeat(NodeId to, const std::string& context) {
  // Only commit up to what the follower is known to hold, so it never
  // commits past its log.
  const Progress* pr = tracker_.get(to);
  const Index commit = std::min(pr->match, log_.committed());
  send(Message{.type = MessageType::kHeartbeat, .to = to, .commit = commit, .context = context});
}

void Raft::hand_off_leadership() {
  NodeId best = kNoNode;
  Index best_match = 0;
  for (NodeId id : tracker_.conf_state().voters) {
    const Progress* pr = tracker_.get(id);
    const bool rejoining = pr->rejoin_target != 0 || pr->rejoin_flagged;
    if (id != id_ && !rejoining && pr->match > best_match) {
      best = id;
      best_match = pr->match;
    }
  }
  // Only a voter holding our whole log can win at once.
  if (best != kNoNode && best_match == log_.last_index()) send_timeout_now(best);
}

void Raft::send_timeout_now(NodeId to) {
  report({.type = EventType::kTimeoutNowSent, .peer = to, .term = term_});
  send(Message{.type = MessageType::kTimeoutNow, .to = to});
}

// ---- Follower handlers -------------------------------------------------------------

std::string Raft::app_resp_context() const {
  return rejoining_ ? rejoin_context(kRejoiningPrefix, rejoin_nonce_) : std::string();
}

// Every MsgApp to a peer whose incarnation caught up in this term says so:
// the leader cannot tell when the peer heard (its unflagged answers might
// be stale ones from before the loss), and the peer ignores the news once
// it has it.
std::string Raft::rejoined_context(const Progress& pr) const {
  if (pr.rejoin_nonce == 0 || pr.rejoin_target != 0) return {};
  return rejoin_context(kRejoinedPrefix, pr.rejoin_nonce);
}

bool Raft::handle_append(const Message& m) {
  if (m.index < log_.committed()) {
    // Already committed here: tell the leader where we are.
    send(Message{.type = MessageType::kAppResp,
                 .to = m.from,
                 .index = log_.committed(),
                 .context = app_resp_context()});
    return false;
  }
  if (auto last_new = log_.maybe_append(m.index, m.log_term, m.commit, m.entries)) {
    send(Message{.type = MessageType::kAppResp,
                 .to = m.from,
                 .index = *last_new,
                 .context = app_resp_context()});
    return true;
  }
  // Reject with a hint (fast backtracking): the largest index <= m.index
  // whose term is <= m.log_term; the leader skips the whole conflicting term.
  const Index hint = std::min(m.index, log_.last_index());
  const auto [hint_index, hint_term] = log_.find_conflict_by_term(hint, m.log_term);
  report({.type = EventType::kAppendRejected,
          .peer = m.from,
          .term = term_,
          .index = m.index,
          .log_term = m.log_term,
          .hint = hint_index,
          .reason = m.index > log_.last_index() ? "our log is shorter"
                                                : "our entry there has another term"});
  send(Message{.type = MessageType::kAppResp,
               .to = m.from,
               .log_term = hint_term,
               .index = m.index,
               .reject = true,
               .reject_hint = hint_index,
               .context = app_resp_context()});
  return false;
}

// A rejoining node (Config::rejoining) answers, so that the leader keeps
// sending to it, but flags the answer: it may have forgotten a newer term
// and a leader of it, so it cannot confirm this leader's ReadIndex round
// (a stale leader could otherwise serve a stale read).
void Raft::handle_heartbeat(const Message& m) {
  log_.commit_to(std::min(m.commit, log_.last_index()));
  send(Message{.type = MessageType::kHeartbeatResp,
               .to = m.from,
               .reject = rejoining_,
               .context = m.context});
}

void Raft::handle_snapshot(const Message& m) {
  DKV_ASSERT(m.snapshot.has_value());
  const bool restored = restore(*m.snapshot);
  if (restored) {
    report({.type = EventType::kSnapshotRestored,
            .peer = m.from,
            .term = term_,
            .index = m.snapshot->metadata.index,
            .log_term = m.snapshot->metadata.term});
  }
  const Index index = restored ? log_.last_index() : log_.committed();
  send(Message{
      .type = MessageType::kAppResp, .to = m.from, .index = index, .context = app_resp_context()});
}

bool Raft::restore(const Snapshot& snap) {
  const Index i = snap.metadata.index;
  if (i <= log_.committed()) return false;
  DKV_ASSERT(state_ == StateType::kFollower);
  if (log_.match_term(i, snap.metadata.term)) {
    // We already have the entries: just fast-forward commit.
    log_.commit_to(i);
    return false;
  }
  log_.restore(snap);
  tracker_.set_conf_state(snap.metadata.conf_state, log_.last_index() + 1);
  return true;
}

// ---- Persistence and configuration ---------------------------------------------------------

void Raft::on_persisted(Index index, Term term) {
  log_.stable_to(index, term);
  if (state_ != StateType::kLeader) return;
  update_self_progress();
  if (maybe_commit()) pending_bcast_ = true;
}

void Raft::flush() {
  if (pending_bcast_ && state_ == StateType::kLeader) bcast_append();
  pending_bcast_ = false;
  if (pending_read_round_ && state_ == StateType::kLeader && !pending_reads_.empty() &&
      may_start_read_round()) {
    send_read_round(/*to_all=*/false);  // One round for every read queued so far.
  }
  pending_read_round_ = false;
}

void Raft::on_snapshot_persisted(Index index) { log_.stable_snap_to(index); }

ConfState Raft::apply_conf_change(const ConfChange& cc) {
  ConfState cs = tracker_.conf_state();
  auto erase = [](std::vector<NodeId>& v, NodeId id) {
    v.erase(std::remove(v.begin(), v.end(), id), v.end());
  };
  switch (cc.type) {
    case ConfChangeType::kAddNode:
      erase(cs.learners, cc.node_id);  // Promotion.
      if (!tracker_.is_voter(cc.node_id)) cs.voters.push_back(cc.node_id);
      break;
    case ConfChangeType::kAddLearner:
      if (tracker_.is_voter(cc.node_id)) break;  // No demotion of voters.
      if (!tracker_.is_learner(cc.node_id)) cs.learners.push_back(cc.node_id);
      break;
    case ConfChangeType::kRemoveNode:
      erase(cs.voters, cc.node_id);
      erase(cs.learners, cc.node_id);
      break;
  }
  tracker_.set_conf_state(cs, log_.last_index() + 1);
  if (state_ != StateType::kLeader) return tracker_.conf_state();
  if (!tracker_.is_voter(id_)) {
    // Thesis §4.2.2: a removed leader steps down once the change that
    // removes it is committed (it is: we are applying it). To shorten the
    // gap, it first tells the most up-to-date remaining voter to campaign
    // at once (thesis §3.10's TimeoutNow).
    hand_off_leadership();
    report({.type = EventType::kSteppedDown,
            .term = term_,
            .reason = "removed from the configuration"});
    become_follower(term_, kNoNode);
    return tracker_.conf_state();
  }
  if (lead_transferee_ != kNoNode && !tracker_.is_voter(lead_transferee_)) {
    lead_transferee_ = kNoNode;
  }
  Progress* self = tracker_.get(id_);
  if (self->state != ProgressState::kReplicate) self->become_replicate();
  update_self_progress();
  // The quorum changed: commit may move, and new members need the log.
  if (maybe_commit()) {
    pending_bcast_ = true;
  } else {
    for (auto& [id, pr] : tracker_.progress()) {
      if (id != id_ && pr.match == 0) maybe_send_append(id, true);
    }
  }
  return tracker_.conf_state();
}

void Raft::send(Message m) {
  DKV_ASSERT(m.to != kNoNode);
  DKV_ASSERT(!is_local(m.type));
  m.from = m.from == kNoNode ? id_ : m.from;
  // Proposals and read requests are forwarded with term 0; votes carry the
  // term they ask for; everything else carries ours.
  if (m.type != MessageType::kProp && m.type != MessageType::kReadIndex && m.term == 0 &&
      m.type != MessageType::kVote && m.type != MessageType::kPreVote && !is_response(m.type)) {
    m.term = term_;
  }
  if (is_response(m.type) && m.term == 0) m.term = term_;
  if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) DKV_ASSERT(m.term != 0);
  if (must_wait_for_persist(m.type)) {
    msgs_after_persist_.push_back(std::move(m));
  } else {
    msgs_.push_back(std::move(m));
  }
}

}  // namespace dkv::raft
