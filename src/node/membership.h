// Membership: the named members of the cluster (ids as in DKV_CLUSTER, with
// their RPC addresses), voters and learners, and their mapping to raft
// NodeIds. A raft NodeId is a stable 64-bit hash of the member's name, so
// every node derives the same id for "a" without coordination, and a name
// never changes meaning. It also remembers the names of removed members
// (tombstones): their messages are ignored, so a removed node that never
// learned of its removal cannot disrupt the cluster (etcd does the same).
//
// The encoded form starts with DKV_CLUSTER's syntax, so a persisted
// membership reads like the configuration that created it:
//   "a@h:1,b@h:2"                 voters only (a bootstrap membership);
//   "a@h:1,b@h:2;d@h:4"           voters, then learners after ';';
//   "a@h:1,b@h:2;d@h:4;c,x"       then the removed names after a second ';'.
// The operations mirror raft's apply_conf_change (raft/raft.cc) exactly, so
// the names and the core's ConfState never disagree.
// Threading: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "node/config.h"
#include "raft/types.h"
#include "util/status.h"

namespace dkv::node {

// FNV-1a 64 of the name; never kNoNode.
raft::NodeId node_id_of(const std::string& name);

// The cluster id of a cluster bootstrapped from `members` (hash of its
// encoded membership), in hex: written into the WAL's metadata.
std::string cluster_id_of(const std::vector<MemberAddress>& members);
// The hex form of a cluster id (16 digits), as cluster_id_of() writes it.
std::string cluster_id_hex(std::uint64_t id);

class Membership {
 public:
  Membership() = default;
  explicit Membership(std::vector<MemberAddress> voters);

  // INVALID_ARGUMENT naming the encoded text (e.g. an address that appears
  // twice), so that the caller can say where it came from.
  static util::Status decode(const std::string& encoded, Membership* out);
  std::string encode() const;

  const std::vector<MemberAddress>& voters() const { return voters_; }
  const std::vector<MemberAddress>& learners() const { return learners_; }
  const std::vector<std::string>& removed() const { return removed_; }
  // Voters, then learners.
  std::vector<MemberAddress> all() const;
  raft::ConfState conf_state() const;
  // nullptr if no member (voter or learner) has this raft id.
  const MemberAddress* find(raft::NodeId id) const;
  // The member with this address, or nullptr.
  const MemberAddress* find_address(const std::string& address) const;
  // The member's name, or "" if unknown.
  std::string name_of(raft::NodeId id) const;
  bool is_voter(raft::NodeId id) const;
  bool is_learner(raft::NodeId id) const;
  // True if a member of this id was removed (and not added back since).
  bool was_removed(raft::NodeId id) const;

  // Adds a voter, or promotes a learner (its address updated).
  void add_voter(MemberAddress member);
  // Adds a learner; a no-op for a voter (no demotion, as in the core).
  void add_learner(MemberAddress member);
  // Removes a voter or learner and remembers its name.
  void remove(raft::NodeId id);
  // Applies a committed raft conf change to the names, as
  // raft::Raft::apply_conf_change does to the ids. An addition's context is
  // "name@host:port" (Node::start_change writes it); INVALID_ARGUMENT, and
  // nothing changed, if it is not, or names another id.
  util::Status apply(const raft::ConfChange& cc);
  // Rewrites the membership to `self` alone (disaster recovery), keeping
  // every other known member as removed.
  void force_single(const MemberAddress& self);

  bool operator==(const Membership&) const = default;

 private:
  void forget_removed(const std::string& name);

  std::vector<MemberAddress> voters_;
  std::vector<MemberAddress> learners_;
  std::vector<std::string> removed_;
};

}  // namespace dkv::node
