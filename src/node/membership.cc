#include "node/membership.h"

#include <algorithm>
#include <cstdio>

namespace dkv::node {

raft::NodeId node_id_of(const std::string& name) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == raft::kNoNode ? 1 : h;
}

std::string cluster_id_of(const std::vector<MemberAddress>& members) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx",
                static_cast<unsigned long long>(node_id_of(Membership(members).encode())));
  return buf;
}

Membership::Membership(std::vector<MemberAddress> voters) : voters_(std::move(voters)) {}

util::Status Membership::decode(const std::string& encoded, Membership* out) {
  std::vector<MemberAddress> members;
  if (auto s = parse_cluster(encoded, &members); !s.is_ok()) return s;
  *out = Membership(std::move(members));
  return util::Status::ok();
}

std::string Membership::encode() const {
  std::string out;
  for (const auto& m : voters_) {
    if (!out.empty()) out += ',';
    out += m.id + "@" + m.address();
  }
  return out;
}

raft::ConfState Membership::conf_state() const {
  raft::ConfState cs;
  for (const auto& m : voters_) cs.voters.push_back(node_id_of(m.id));
  std::sort(cs.voters.begin(), cs.voters.end());
  return cs;
}

const MemberAddress* Membership::find(raft::NodeId id) const {
  for (const auto& m : voters_) {
    if (node_id_of(m.id) == id) return &m;
  }
  return nullptr;
}

std::string Membership::name_of(raft::NodeId id) const {
  const MemberAddress* m = find(id);
  return m == nullptr ? std::string() : m->id;
}

void Membership::add(MemberAddress member) {
  remove(node_id_of(member.id));
  voters_.push_back(std::move(member));
}

void Membership::remove(raft::NodeId id) {
  std::erase_if(voters_, [&](const MemberAddress& m) { return node_id_of(m.id) == id; });
}

}  // namespace dkv::node
