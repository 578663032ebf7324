// Raft's ReadIndex (thesis §6.4): the leader records its commit index for
// each request and answers it once a heartbeat round sent after the request
// arrived reached a quorum. Every round covers all requests queued when it
// is sent; with Config::max_read_rounds_in_flight reached (1: etcd's
// coalescing), new requests wait for the next round, started when one in
// flight is answered. A round sent on a Ready goes to just a quorum
// (Config::read_rounds_to_quorum); the heartbeat tick resends to all.
// Part of Raft (raft.h): same threading, no I/O.
#include <algorithm>
#include <charconv>

#include "raft/raft.h"
#include "util/assert.h"

namespace dkv::raft {

void Raft::read_index(const Message& m) {
  // Thesis §6.4 step 1: the leader's commit index is only known to cover
  // every committed entry once an entry of its own term is committed. That
  // holds for a single voter too: after a restart its recorded commit index
  // may lag entries it acknowledged (Ready::must_sync).
  if (!committed_entry_in_current_term()) {
    reads_before_commit_.push_back(m);
    return;
  }
  if (tracker_.is_single_voter(id_)) {
    respond_read(m, log_.committed());
    return;
  }
  if (config_.canaries.read_index_without_heartbeat) {
    respond_read(m, log_.committed());  // Canary: no leadership check.
    return;
  }
  if (requester_confirms(m)) {
    respond_read(m, log_.committed());
    return;
  }
  pending_reads_.push_back(ReadRequest{m, log_.committed(), next_read_seq_++});
  // Sent by flush(), shared by all reads until then. It never joins a
  // round already sent; at the limit of rounds in flight it waits.
  if (may_start_read_round()) pending_read_round_ = true;
}

// A follower's forwarded request is its sender's ack, as of when it was
// sent (after the client's read began): the sender was then in this term,
// following this leader. Every write acknowledged before the read began
// was committed either in a term <= ours, and so is in this leader's log
// under its commit index (it committed an entry of its term), or in a
// later term, by a quorum that was in that term before the read began:
// such a quorum cannot overlap this leader (still in its term now) or the
// sender (in this term when it sent). So when the two alone are a quorum
// (a 3-voter cluster), no heartbeat round is needed.
bool Raft::requester_confirms(const Message& m) const {
  if (!config_.count_read_requester) return false;
  if (m.from == kNoNode || m.from == id_) return false;
  // Conservative: a sender in an older term (it cannot be in a newer one,
  // having followed this leader) would do too, as neither it nor this
  // leader was in any term above this leader's before the read began.
  if (m.log_term != term_) return false;
  return config_.canaries.read_requester_is_quorum || tracker_.has_quorum({id_, m.from});
}

bool Raft::may_start_read_round() const {
  const int limit = config_.max_read_rounds_in_flight;
  return limit <= 0 || read_rounds_.size() < static_cast<std::size_t>(limit);
}

void Raft::send_read_round(bool to_all) {
  DKV_ASSERT(state_ == StateType::kLeader && !pending_reads_.empty());
  const std::uint64_t last = pending_reads_.back().seq;
  // A round covering the same requests is re-sent under its own id: its
  // acks so far stay valid, all its heartbeats followed those requests.
  if (read_rounds_.empty() || read_rounds_.back().last_seq != last) {
    DKV_ASSERT(read_rounds_.empty() || read_rounds_.back().last_seq < last);
    read_rounds_.push_back(ReadRound{next_read_round_++, last, {id_}});
  }
  const std::string context = std::to_string(read_rounds_.back().id);
  if (to_all || !config_.read_rounds_to_quorum) {
    bcast_heartbeat(context);
    return;
  }
  for (NodeId to : read_round_targets()) send_heartbeat(to, context);
}

std::vector<NodeId> Raft::read_round_targets() const {
  std::vector<std::pair<std::uint64_t, NodeId>> voters;  // (newest ack, id)
  std::vector<NodeId> others;
  for (const auto& [id, pr] : tracker_.progress()) {
    if (id == id_) continue;
    others.push_back(id);
    if (tracker_.is_voter(id) && pr.rejoin_target == 0) {
      voters.emplace_back(pr.last_read_ack_round, id);
    }
  }
  std::sort(voters.begin(), voters.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<NodeId> quorum{id_};
  for (const auto& [round, id] : voters) {
    if (tracker_.has_quorum(quorum)) break;
    quorum.push_back(id);
  }
  if (!tracker_.has_quorum(quorum)) return others;
  quorum.erase(quorum.begin());
  return quorum;
}

// A quorum of a round confirms every request up to its last one (batched);
// older rounds are then moot. Requests no round covers (they waited at the
// limit) get the next round (flush()).
void Raft::answer_reads_confirmed_by(const Message& ack) {
  if (ack.context.empty()) return;
  std::uint64_t id = 0;
  const char* end = ack.context.data() + ack.context.size();
  if (std::from_chars(ack.context.data(), end, id).ptr != end) return;
  if (Progress* pr = tracker_.get(ack.from); pr != nullptr) {
    pr->last_read_ack_round = std::max(pr->last_read_ack_round, id);
  }
  if (read_rounds_.empty()) return;
  auto round = std::find_if(read_rounds_.begin(), read_rounds_.end(),
                            [&](const ReadRound& r) { return r.id == id; });
  if (round == read_rounds_.end()) return;  // Answered already, or stale.
  if (std::find(round->acks.begin(), round->acks.end(), ack.from) == round->acks.end()) {
    round->acks.push_back(ack.from);
  }
  if (!tracker_.has_quorum(round->acks)) return;
  const std::uint64_t last = round->last_seq;
  read_rounds_.erase(read_rounds_.begin(), std::next(round));
  std::vector<ReadRequest> ready;
  while (!pending_reads_.empty() && pending_reads_.front().seq <= last) {
    ready.push_back(std::move(pending_reads_.front()));
    pending_reads_.pop_front();
  }
  for (const ReadRequest& r : ready) respond_read(r.req, r.index);
  const std::uint64_t covered = read_rounds_.empty() ? last : read_rounds_.back().last_seq;
  if (!pending_reads_.empty() && pending_reads_.back().seq > covered && may_start_read_round()) {
    pending_read_round_ = true;
  }
}

void Raft::respond_read(const Message& req, Index index) {
  if (req.from == kNoNode || req.from == id_) {
    read_states_.push_back({index, req.context});
    return;
  }
  send(Message{
      .type = MessageType::kReadIndexResp, .to = req.from, .index = index, .context = req.context});
}

void Raft::release_pending_reads() {
  if (reads_before_commit_.empty() || !committed_entry_in_current_term()) return;
  std::vector<Message> reads;
  reads.swap(reads_before_commit_);
  for (const Message& m : reads) read_index(m);
}

}  // namespace dkv::raft
