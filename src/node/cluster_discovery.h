// Cluster discovery: what a node learns by asking the other members rather
// than through the raft log. A joining node (DKV_CLUSTER_STATE=existing)
// asks them for the cluster id and membership; so does a node starting with
// a new data directory, to tell a first start from a wiped member (whose
// cluster has committed entries and lists it: it rejoins); a node that has had no leader
// for a while asks whether they removed it (one removed while down never
// receives its removal: the others drop its messages).
//
// The question itself is the transport's (transport::fetch_join_info); it is
// injected as a MemberQuery so that node/ stays free of gRPC.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "node/membership.h"
#include "node/node.h"
#include "util/status.h"

namespace dkv::node {

// Asks the member at `address` for the cluster id and its encoded membership
// (`asker` names the node asking, or is empty). UNAVAILABLE if unreachable.
using MemberQuery = std::function<util::Status(const std::string& address, const std::string& asker,
                                               std::chrono::milliseconds timeout,
                                               std::uint64_t* cluster_id, std::string* membership)>;

// Asks the other members of `cluster`, in turn, until one lists `node_id` (a
// follower may not have applied `member add` yet), for up to `give_up_after`.
// FAILED_PRECONDITION: `cluster` names no other member (at once), a member
// answered but none lists this node, or one lists it at another address;
// UNAVAILABLE: none answered. Logs whom it asks, at most once per member
// every few seconds (with the last answer), not once per try.
util::Status discover_join(const std::string& node_id, const std::vector<MemberAddress>& cluster,
                           const MemberQuery& query, std::chrono::milliseconds give_up_after,
                           NodeOptions::Join* join);

// What a member answers (the transport's Join call), with its commit index.
struct MemberAnswer {
  std::uint64_t cluster_id = 0;
  std::string membership;
  std::uint64_t commit_index = 0;  // 0: its cluster has committed nothing.
};
using MemberAnswerQuery =
    std::function<util::Status(const std::string& address, const std::string& asker,
                               std::chrono::milliseconds timeout, MemberAnswer* answer)>;

// A new data directory under DKV_CLUSTER_STATE=new: asks each other member
// of `cluster` once (at most `per_member` each). Returns true, with the
// cluster id and membership in *join, if one answers that its cluster has
// committed entries and lists `node_id`: this node's data was lost (the
// README's wipe-and-restart) and it must rejoin (raft Config::rejoining)
// rather than bootstrap. False if none answers (a first start, members
// starting in any order), or all answering members are fresh, or none
// lists it: bootstrap from DKV_CLUSTER as before.
bool discover_rejoin(const std::string& node_id, const std::vector<MemberAddress>& cluster,
                     const MemberAnswerQuery& query, std::chrono::milliseconds per_member,
                     NodeOptions::Join* join);

// Asks the other members whether they removed `node` once it has been
// without a leader for kAfter; marks it removed if one says so. tick() is
// called periodically from any one thread; the questions run on a thread of
// the probe's own, at most one round at a time.
class RemovalProbe {
 public:
  RemovalProbe(Node* node, MemberQuery query) : node_(node), query_(std::move(query)) {}
  ~RemovalProbe();
  RemovalProbe(const RemovalProbe&) = delete;
  RemovalProbe& operator=(const RemovalProbe&) = delete;

  void tick();

 private:
  static constexpr std::chrono::seconds kAfter{3};
  void ask_members();

  Node* const node_;
  const MemberQuery query_;
  std::chrono::steady_clock::time_point unready_since_ = std::chrono::steady_clock::now();
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace dkv::node
