// The node simulator's leases (issue 18): lease clients that grant, attach
// keys, keep alive (as the API does: a ReadIndex round on the leader, then
// its Lessor renews on the simulated clock), revoke or let their leases
// lapse, and the checker of what the nodes did with them. Expiry is the
// real Lessor's, driven by the simulated leader's clock (Node::step(now)).
//
// Rules checked:
//   - never early: a lease's first revoke applied anywhere, unless a client
//     asked for it, comes at least TTL after the invoke of its last
//     acknowledged keepalive (or of its grant). An old leader's revoke
//     committed in a later term, if applied, breaks this (the canary
//     old-leader-revoke);
//   - one revision: on every node, the keys attached to a revoked lease are
//     all deleted in one revision, and none is left (the store's history,
//     read at the end).
// Threading: the simulator's one thread. Test code: no wall clock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kv/lease.h"
#include "rng.h"

namespace dkv::kv {
class Store;
}
namespace dkv::node {
class Node;
}

namespace dkv::node_sim {

class LeaseClients {
 public:
  using Time = std::int64_t;  // Simulated nanoseconds.
  // `now`: the world's clock, read at each event.
  LeaseClients(int clients, int op_permille, const Time* now)
      : clients_(clients), op_permille_(op_permille), now_(now), state_(clients) {}

  // One ms of every lease client: maybe start its next operation. `leader`:
  // the node that leads now (null if none); `any`: an up node.
  void tick(sim::Rng& rng, node::Node* leader, node::Node* any);
  // The Lessor observer of one node (Lessor::set_applied_observer).
  void on_applied(const std::vector<kv::LeaseChange>& changes);
  // "" or the first broken rule. After the run: every answer is in.
  std::string check_expiries() const;
  // "" or what `store` (one node's, named `node`) breaks.
  std::string check_store(const std::string& node, const kv::Store& store) const;

  std::uint64_t grants_ok() const { return grants_ok_; }
  std::uint64_t keepalives_ok() const { return keepalives_ok_; }
  std::uint64_t expired() const;

 private:
  struct Lease {
    std::int64_t ttl_s = 0;
    Time granted_invoke = 0;
    std::vector<Time> acked_keepalive_invokes;
    Time client_revoke_invoke = -1;  // -1: none asked.
    Time first_revoke_applied = -1;  // -1: never seen.
  };
  struct Client {
    bool busy = false;
    std::int64_t lease = 0;  // 0: none yet.
    bool granted = false;
    int keys_put = 0;
    int keys_wanted = 0;
    Time renew_until = 0;
    Time next_renew = 0;
    int next_id = 0;
  };
  void start_op(int c, sim::Rng& rng, node::Node* leader, node::Node* any);
  void grant(int c, sim::Rng& rng, node::Node* target);
  void put(int c, node::Node* target);
  void keep_alive(int c, node::Node* leader);
  void revoke(int c, node::Node* target);
  void done(int c) { state_[c].busy = false; }

  const int clients_;
  const int op_permille_;
  const Time* now_;
  std::vector<Client> state_;
  std::map<std::int64_t, Lease> leases_;
  bool level_raised_ = false;
  bool level_pending_ = false;
  std::uint64_t grants_ok_ = 0;
  std::uint64_t keepalives_ok_ = 0;
};

}  // namespace dkv::node_sim
