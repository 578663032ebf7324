// Membership: the named members of the cluster (ids as in DKV_CLUSTER, with
// their RPC addresses) and their mapping to raft NodeIds. A raft NodeId is a
// stable 64-bit hash of the member's name, so every node derives the same id
// for "a" without coordination, and a name never changes meaning.
// The encoded form is DKV_CLUSTER's syntax ("a@host:port,b@host:port"), so a
// persisted membership reads like the configuration that created it.
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

class Membership {
 public:
  Membership() = default;
  explicit Membership(std::vector<MemberAddress> voters);

  static util::Status decode(const std::string& encoded, Membership* out);
  std::string encode() const;

  const std::vector<MemberAddress>& voters() const { return voters_; }
  raft::ConfState conf_state() const;
  // nullptr if no member has this raft id.
  const MemberAddress* find(raft::NodeId id) const;
  // The member's name, or "" if unknown.
  std::string name_of(raft::NodeId id) const;

  void add(MemberAddress member);
  void remove(raft::NodeId id);

  bool operator==(const Membership&) const = default;

 private:
  std::vector<MemberAddress> voters_;
};

}  // namespace dkv::node
