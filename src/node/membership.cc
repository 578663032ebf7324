#include "node/membership.h"

#include <algorithm>
#include <cstdio>

namespace dkv::node {
namespace {

std::string encode_list(const std::vector<MemberAddress>& members) {
  std::string out;
  for (const auto& m : members) {
    if (!out.empty()) out += ',';
    out += m.id + "@" + m.address();
  }
  return out;
}

bool erase_id(std::vector<MemberAddress>* v, raft::NodeId id) {
  return std::erase_if(*v, [&](const MemberAddress& m) { return node_id_of(m.id) == id; }) > 0;
}

const MemberAddress* find_in(const std::vector<MemberAddress>& v, raft::NodeId id) {
  for (const auto& m : v) {
    if (node_id_of(m.id) == id) return &m;
  }
  return nullptr;
}

}  // namespace

raft::NodeId node_id_of(const std::string& name) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == raft::kNoNode ? 1 : h;
}

std::string cluster_id_hex(std::uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string cluster_id_of(const std::vector<MemberAddress>& members) {
  return cluster_id_hex(node_id_of(Membership(members).encode()));
}

Membership::Membership(std::vector<MemberAddress> voters) : voters_(std::move(voters)) {}

util::Status Membership::decode(const std::string& encoded, Membership* out) {
  const std::size_t first = encoded.find(';');
  const std::size_t second = first == std::string::npos ? first : encoded.find(';', first + 1);
  const std::string source = "membership \"" + encoded + "\"";
  Membership m;
  if (auto s = parse_cluster(encoded.substr(0, first), &m.voters_, source); !s.is_ok()) return s;
  if (first != std::string::npos) {
    const std::string learners = encoded.substr(first + 1, second - first - 1);
    if (!learners.empty()) {
      if (auto s = parse_cluster(learners, &m.learners_, source); !s.is_ok()) return s;
    }
  }
  if (second != std::string::npos) {
    std::size_t start = second + 1;
    while (start < encoded.size()) {
      std::size_t end = encoded.find(',', start);
      if (end == std::string::npos) end = encoded.size();
      if (end == start) return util::invalid_argument(source + ": empty removed member name");
      m.removed_.push_back(encoded.substr(start, end - start));
      start = end + 1;
    }
  }
  for (const auto& l : m.learners_) {
    if (find_in(m.voters_, node_id_of(l.id)) != nullptr) {
      return util::invalid_argument(source + ": member '" + l.id + "' is both voter and learner");
    }
  }
  *out = std::move(m);
  return util::Status::ok();
}

std::string Membership::encode() const {
  std::string out = encode_list(voters_);
  if (learners_.empty() && removed_.empty()) return out;
  out += ';' + encode_list(learners_);
  if (removed_.empty()) return out;
  out += ';';
  for (std::size_t i = 0; i < removed_.size(); ++i) {
    if (i > 0) out += ',';
    out += removed_[i];
  }
  return out;
}

std::vector<MemberAddress> Membership::all() const {
  std::vector<MemberAddress> out = voters_;
  out.insert(out.end(), learners_.begin(), learners_.end());
  return out;
}

raft::ConfState Membership::conf_state() const {
  raft::ConfState cs;
  for (const auto& m : voters_) cs.voters.push_back(node_id_of(m.id));
  for (const auto& m : learners_) cs.learners.push_back(node_id_of(m.id));
  std::sort(cs.voters.begin(), cs.voters.end());
  std::sort(cs.learners.begin(), cs.learners.end());
  return cs;
}

const MemberAddress* Membership::find(raft::NodeId id) const {
  if (const MemberAddress* m = find_in(voters_, id)) return m;
  return find_in(learners_, id);
}

const MemberAddress* Membership::find_address(const std::string& address) const {
  for (const auto* v : {&voters_, &learners_}) {
    for (const auto& m : *v) {
      if (m.address() == address) return &m;
    }
  }
  return nullptr;
}

std::string Membership::name_of(raft::NodeId id) const {
  const MemberAddress* m = find(id);
  return m == nullptr ? std::string() : m->id;
}

bool Membership::is_voter(raft::NodeId id) const { return find_in(voters_, id) != nullptr; }

bool Membership::is_learner(raft::NodeId id) const { return find_in(learners_, id) != nullptr; }

bool Membership::was_removed(raft::NodeId id) const {
  return std::any_of(removed_.begin(), removed_.end(),
                     [&](const std::string& name) { return node_id_of(name) == id; });
}

void Membership::forget_removed(const std::string& name) {
  std::erase_if(removed_, [&](const std::string& n) { return n == name; });
}

void Membership::add_voter(MemberAddress member) {
  const raft::NodeId id = node_id_of(member.id);
  forget_removed(member.id);
  erase_id(&learners_, id);
  for (auto& v : voters_) {
    if (node_id_of(v.id) == id) {
      v = std::move(member);
      return;
    }
  }
  voters_.push_back(std::move(member));
}

void Membership::add_learner(MemberAddress member) {
  const raft::NodeId id = node_id_of(member.id);
  if (is_voter(id)) return;  // No demotion (raft::Raft::apply_conf_change).
  forget_removed(member.id);
  for (auto& l : learners_) {
    if (node_id_of(l.id) == id) {
      l = std::move(member);
      return;
    }
  }
  learners_.push_back(std::move(member));
}

void Membership::remove(raft::NodeId id) {
  const std::string name = name_of(id);
  const bool erased = erase_id(&voters_, id) | erase_id(&learners_, id);
  if (erased && !name.empty() && !was_removed(id)) removed_.push_back(name);
}

util::Status Membership::apply(const raft::ConfChange& cc) {
  if (cc.type == raft::ConfChangeType::kRemoveNode) {
    remove(cc.node_id);
    return util::Status::ok();
  }
  std::vector<MemberAddress> parsed;
  if (!parse_cluster(cc.context, &parsed, "conf change").is_ok() || parsed.size() != 1 ||
      node_id_of(parsed.front().id) != cc.node_id) {
    return util::invalid_argument("conf change without a member name: '" + cc.context + "'");
  }
  if (cc.type == raft::ConfChangeType::kAddNode) {
    add_voter(std::move(parsed.front()));
  } else {
    add_learner(std::move(parsed.front()));
  }
  return util::Status::ok();
}

void Membership::force_single(const MemberAddress& self) {
  for (const auto& m : all()) {
    if (m.id != self.id) remove(node_id_of(m.id));
  }
  forget_removed(self.id);
  learners_.clear();
  voters_ = {self};
}

}  // namespace dkv::node
