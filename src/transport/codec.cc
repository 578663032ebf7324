#include "transport/codec.h"

#include <string>
#include <utility>

#include "dkv/raftpb/raft.pb.h"

namespace dkv::transport {
namespace {

// The wire enums mirror the C++ ones value for value, so the mapping is a
// cast plus a validity check on the way in.
#define DKV_SAME_VALUE(cpp, pb) \
  static_assert(static_cast<int>(raft::MessageType::cpp) == raftpb::pb, #cpp)
DKV_SAME_VALUE(kHup, MSG_HUP);
DKV_SAME_VALUE(kBeat, MSG_BEAT);
DKV_SAME_VALUE(kProp, MSG_PROP);
DKV_SAME_VALUE(kCheckQuorum, MSG_CHECK_QUORUM);
DKV_SAME_VALUE(kUnreachable, MSG_UNREACHABLE);
DKV_SAME_VALUE(kSnapStatus, MSG_SNAP_STATUS);
DKV_SAME_VALUE(kTransferLeader, MSG_TRANSFER_LEADER);
DKV_SAME_VALUE(kApp, MSG_APP);
DKV_SAME_VALUE(kAppResp, MSG_APP_RESP);
DKV_SAME_VALUE(kVote, MSG_VOTE);
DKV_SAME_VALUE(kVoteResp, MSG_VOTE_RESP);
DKV_SAME_VALUE(kPreVote, MSG_PRE_VOTE);
DKV_SAME_VALUE(kPreVoteResp, MSG_PRE_VOTE_RESP);
DKV_SAME_VALUE(kSnap, MSG_SNAP);
DKV_SAME_VALUE(kHeartbeat, MSG_HEARTBEAT);
DKV_SAME_VALUE(kHeartbeatResp, MSG_HEARTBEAT_RESP);
DKV_SAME_VALUE(kTimeoutNow, MSG_TIMEOUT_NOW);
DKV_SAME_VALUE(kReadIndex, MSG_READ_INDEX);
DKV_SAME_VALUE(kReadIndexResp, MSG_READ_INDEX_RESP);
#undef DKV_SAME_VALUE
static_assert(static_cast<int>(raft::EntryType::kNormal) == raftpb::ENTRY_NORMAL);
static_assert(static_cast<int>(raft::EntryType::kConfChange) == raftpb::ENTRY_CONF_CHANGE);

// Every raft::MessageType value; proto3 enums are open, so an unknown number
// can arrive and must be refused rather than cast.
bool known_message_type(int v) {
  if (v < 0 || v > 0xff) return false;  // Outside the underlying uint8_t.
  switch (static_cast<raft::MessageType>(v)) {
    case raft::MessageType::kHup:
    case raft::MessageType::kBeat:
    case raft::MessageType::kProp:
    case raft::MessageType::kCheckQuorum:
    case raft::MessageType::kUnreachable:
    case raft::MessageType::kSnapStatus:
    case raft::MessageType::kTransferLeader:
    case raft::MessageType::kApp:
    case raft::MessageType::kAppResp:
    case raft::MessageType::kVote:
    case raft::MessageType::kVoteResp:
    case raft::MessageType::kPreVote:
    case raft::MessageType::kPreVoteResp:
    case raft::MessageType::kSnap:
    case raft::MessageType::kHeartbeat:
    case raft::MessageType::kHeartbeatResp:
    case raft::MessageType::kTimeoutNow:
    case raft::MessageType::kReadIndex:
    case raft::MessageType::kReadIndexResp:
      return true;
  }
  return false;
}

bool known_entry_type(int v) {
  return v == static_cast<int>(raft::EntryType::kNormal) ||
         v == static_cast<int>(raft::EntryType::kConfChange);
}

void encode_conf_state(const raft::ConfState& in, raftpb::ConfState* out) {
  out->mutable_voters()->Assign(in.voters.begin(), in.voters.end());
  out->mutable_learners()->Assign(in.learners.begin(), in.learners.end());
}

void decode_conf_state(const raftpb::ConfState& in, raft::ConfState* out) {
  out->voters.assign(in.voters().begin(), in.voters().end());
  out->learners.assign(in.learners().begin(), in.learners().end());
}

}  // namespace

void encode(raft::Message&& in, raftpb::Message* out) {
  out->Clear();
  out->set_type(static_cast<raftpb::MessageType>(in.type));
  out->set_to(in.to);
  out->set_from(in.from);
  out->set_term(in.term);
  out->set_log_term(in.log_term);
  out->set_index(in.index);
  out->mutable_entries()->Reserve(static_cast<int>(in.entries.size()));
  for (raft::Entry& e : in.entries) {
    raftpb::Entry* pe = out->add_entries();
    pe->set_term(e.term);
    pe->set_index(e.index);
    pe->set_type(static_cast<raftpb::EntryType>(e.type));
    pe->set_data(std::move(e.data));
  }
  out->set_commit(in.commit);
  out->set_reject(in.reject);
  out->set_reject_hint(in.reject_hint);
  if (in.snapshot.has_value()) {
    raftpb::Snapshot* ps = out->mutable_snapshot();  // Present even if empty.
    raftpb::SnapshotMetadata* pm = ps->mutable_metadata();
    pm->set_index(in.snapshot->metadata.index);
    pm->set_term(in.snapshot->metadata.term);
    encode_conf_state(in.snapshot->metadata.conf_state, pm->mutable_conf_state());
    ps->set_data(std::move(in.snapshot->data));
  }
  out->set_context(std::move(in.context));
}

void encode(const raft::Message& in, raftpb::Message* out) { encode(raft::Message(in), out); }

util::Status decode(raftpb::Message&& in, raft::Message* out) {
  if (!known_message_type(in.type())) {
    return util::invalid_argument("unknown raft message type " + std::to_string(in.type()));
  }
  *out = raft::Message{};
  out->type = static_cast<raft::MessageType>(in.type());
  out->to = in.to();
  out->from = in.from();
  out->term = in.term();
  out->log_term = in.log_term();
  out->index = in.index();
  out->entries.reserve(in.entries_size());
  for (raftpb::Entry& pe : *in.mutable_entries()) {
    if (!known_entry_type(pe.type())) {
      return util::invalid_argument("unknown raft entry type " + std::to_string(pe.type()));
    }
    raft::Entry& e = out->entries.emplace_back();
    e.term = pe.term();
    e.index = pe.index();
    e.type = static_cast<raft::EntryType>(pe.type());
    e.data = std::move(*pe.mutable_data());
  }
  out->commit = in.commit();
  out->reject = in.reject();
  out->reject_hint = in.reject_hint();
  if (in.has_snapshot()) {
    raftpb::Snapshot* ps = in.mutable_snapshot();
    raft::Snapshot& s = out->snapshot.emplace();
    s.metadata.index = ps->metadata().index();
    s.metadata.term = ps->metadata().term();
    decode_conf_state(ps->metadata().conf_state(), &s.metadata.conf_state);
    s.data = std::move(*ps->mutable_data());
  }
  out->context = std::move(*in.mutable_context());
  return util::Status::ok();
}

util::Status decode(const raftpb::Message& in, raft::Message* out) {
  return decode(raftpb::Message(in), out);
}

std::uint64_t message_size_bytes(const raft::Message& m) {
  std::uint64_t n = 64 + m.context.size();
  for (const raft::Entry& e : m.entries) n += raft::entry_size_bytes(e);
  if (m.snapshot.has_value()) {
    n += m.snapshot->data.size() + 16 +
         8 * (m.snapshot->metadata.conf_state.voters.size() +
              m.snapshot->metadata.conf_state.learners.size());
  }
  return n;
}

}  // namespace dkv::transport
