#include "node_sim_leases.h"

#include <algorithm>
#include <memory>
#include <set>

#include "kv/feature_level.h"
#include "kv/history.h"
#include "kv/mvcc_request.h"
#include "kv/store.h"
#include "node/node.h"

namespace dkv::node_sim {
namespace {

constexpr LeaseClients::Time kMs = 1'000'000;
constexpr LeaseClients::Time kSecond = 1000 * kMs;

std::chrono::steady_clock::time_point at(LeaseClients::Time t) {
  return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(t));
}

// The lease a key was put with is in its name: "L<id>/<n>".
std::string lease_key(std::int64_t id, int n) {
  return "L" + std::to_string(id) + "/" + std::to_string(n);
}

bool applied_ok(const util::Status& s, const kv::ApplyResult& r) {
  return s.is_ok() && r.etcd != nullptr && r.etcd->status.is_ok();
}

}  // namespace

void LeaseClients::tick(sim::Rng& rng, node::Node* leader, node::Node* any) {
  if (any == nullptr) return;
  if (!level_raised_) {
    // The feature gate's step (node/feature_gate.h), which polls members
    // over gRPC in a real server: leases need their level committed.
    if (any->feature_level() >= kv::FeatureLevel::kLeases) level_raised_ = true;
    if (level_raised_ || level_pending_ || leader == nullptr) return;
    level_pending_ = true;
    leader->write(kv::set_feature_level_command(kv::kFeatureLevelSupported),
                  at(*now_ + 3 * kSecond),
                  [this](util::Status, kv::ApplyResult) { level_pending_ = false; });
    return;
  }
  for (int c = 0; c < clients_; ++c) {
    if (!state_[c].busy && rng.permille(op_permille_)) start_op(c, rng, leader, any);
  }
}

void LeaseClients::start_op(int c, sim::Rng& rng, node::Node* leader, node::Node* any) {
  Client& cl = state_[c];
  if (cl.lease == 0) return grant(c, rng, any);
  if (!cl.granted) {
    cl.lease = 0;  // Its grant failed or is unknown: start another.
    return;
  }
  if (cl.keys_put < cl.keys_wanted) return put(c, any);
  if (*now_ < cl.renew_until) {
    if (*now_ >= cl.next_renew && leader != nullptr) keep_alive(c, leader);
    return;
  }
  // Done with it: a quarter are revoked, the rest left to expire.
  if (rng.percent(25)) return revoke(c, any);
  cl.lease = 0;
}

void LeaseClients::grant(int c, sim::Rng& rng, node::Node* target) {
  Client& cl = state_[c];
  const std::int64_t id = static_cast<std::int64_t>(c + 1) * 1'000'000 + ++cl.next_id;
  const std::int64_t ttl =
      std::max<std::int64_t>(target->lessor().min_ttl_seconds(), 2 + rng.below(3));
  Lease& lease = leases_[id];
  lease.ttl_s = ttl;
  lease.granted_invoke = *now_;
  cl = Client{true, id, false, 0, static_cast<int>(rng.below(3)), 0, 0, cl.next_id};
  // Kept alive for 0-6 s, then revoked or left to lapse.
  cl.renew_until = *now_ + static_cast<Time>(rng.below(6000)) * kMs;
  etcdserverpb::LeaseGrantRequest request;
  request.set_id(id);
  request.set_ttl(ttl);
  target->write(kv::lease_grant_command(request), at(*now_ + 3 * kSecond),
                [this, c, id](util::Status s, kv::ApplyResult r) {
                  if (applied_ok(s, r) && state_[c].lease == id) {
                    state_[c].granted = true;
                    state_[c].next_renew = *now_;
                    ++grants_ok_;
                  }
                  done(c);
                });
}

void LeaseClients::put(int c, node::Node* target) {
  Client& cl = state_[c];
  cl.busy = true;
  etcdserverpb::PutRequest request;
  request.set_key(lease_key(cl.lease, cl.keys_put++));
  request.set_value("v");
  request.set_lease(cl.lease);
  target->write(kv::etcd_command(request), at(*now_ + 3 * kSecond),
                [this, c](util::Status, kv::ApplyResult) { done(c); });
}

// As api/etcd_lease_service.cc's renew_here: a ReadIndex round confirms
// the leadership, the Lessor renews, a stored checkpoint is cleared before
// the answer.
void LeaseClients::keep_alive(int c, node::Node* leader) {
  Client& cl = state_[c];
  cl.busy = true;
  const std::int64_t id = cl.lease;
  const Time invoke = *now_;
  cl.next_renew = invoke + leases_[id].ttl_s * kSecond / 3;
  auto renewal = std::make_shared<node::Lessor::Renewal>();
  const node::Deadline deadline = at(invoke + 3 * kSecond);
  auto acked = [this, c, id, invoke] {
    leases_[id].acked_keepalive_invokes.push_back(invoke);
    ++keepalives_ok_;
    done(c);
  };
  leader->read_store(
      [this, leader, id, renewal](const kv::Store&) {
        *renewal = leader->lessor().renew(id, at(*now_));
        return util::Status::ok();
      },
      false, deadline,
      [this, c, id, leader, renewal, deadline, acked](util::Status s) {
        if (!s.is_ok() || !renewal->status.is_ok()) return done(c);
        if (!renewal->clear_checkpoint) return acked();
        leader->write(kv::lease_checkpoint_command({{id, 0}}), deadline,
                      [this, c, acked](util::Status ws, kv::ApplyResult r) {
                        if (applied_ok(ws, r)) return acked();
                        done(c);
                      });
      });
}

void LeaseClients::revoke(int c, node::Node* target) {
  Client& cl = state_[c];
  const std::int64_t id = cl.lease;
  Lease& lease = leases_[id];
  if (lease.client_revoke_invoke < 0) lease.client_revoke_invoke = *now_;
  cl.busy = true;
  cl.lease = 0;
  target->write(kv::lease_revoke_command(id, 0), at(*now_ + 3 * kSecond),
                [this, c](util::Status, kv::ApplyResult) { done(c); });
}

void LeaseClients::on_applied(const std::vector<kv::LeaseChange>& changes) {
  for (const kv::LeaseChange& change : changes) {
    if (change.kind != kv::LeaseChange::Kind::kRevoked) continue;
    auto it = leases_.find(change.lease.id);
    if (it != leases_.end() && it->second.first_revoke_applied < 0) {
      it->second.first_revoke_applied = *now_;
    }
  }
}

std::uint64_t LeaseClients::expired() const {
  std::uint64_t n = 0;
  for (const auto& [id, l] : leases_) {
    if (l.first_revoke_applied >= 0 && l.client_revoke_invoke < 0) ++n;
  }
  return n;
}

std::string LeaseClients::check_expiries() const {
  for (const auto& [id, l] : leases_) {
    const Time revoked = l.first_revoke_applied;
    if (revoked < 0) continue;
    if (l.client_revoke_invoke >= 0 && l.client_revoke_invoke <= revoked) continue;
    Time last = l.granted_invoke;
    for (Time k : l.acked_keepalive_invokes) {
      if (k <= revoked) last = std::max(last, k);
    }
    if (revoked < last + l.ttl_s * kSecond) {
      return "lease " + std::to_string(id) + " (TTL " + std::to_string(l.ttl_s) +
             " s) revoked at " + std::to_string(revoked / kMs) + " ms, " +
             std::to_string((last + l.ttl_s * kSecond - revoked) / kMs) +
             " ms before TTL after its last acknowledged keepalive (invoked at " +
             std::to_string(last / kMs) + " ms)";
    }
  }
  return "";
}

// Replays the store's history: per lease, the revisions that deleted keys
// put with it, and the keys still attached at the end.
std::string LeaseClients::check_store(const std::string& node, const kv::Store& store) const {
  if (store.compact_revision() > 0) return "";  // History gone: nothing to replay.
  std::vector<kv::HistoryEvent> events;
  std::int64_t from = 1;
  const std::int64_t current = store.current_revision();
  while (from <= current) {
    std::vector<kv::HistoryEvent> batch;
    std::int64_t through = 0;
    if (!store.read_history(from, current, 1 << 20, &batch, &through).is_ok()) return "";
    events.insert(events.end(), batch.begin(), batch.end());
    if (through < from) break;
    from = through + 1;
  }
  std::map<std::string, std::int64_t> attached;  // Key -> lease of its last put.
  std::map<std::int64_t, std::set<std::int64_t>> deleted_in;
  for (const kv::HistoryEvent& e : events) {
    if (!e.is_delete) {
      attached[e.key] = e.lease;
      continue;
    }
    auto it = attached.find(e.key);
    if (it != attached.end() && it->second != 0) deleted_in[it->second].insert(e.main);
    attached.erase(e.key);
  }
  for (const auto& [lease, revisions] : deleted_in) {
    if (revisions.size() > 1) {
      return node + ": the keys of lease " + std::to_string(lease) + " were deleted in " +
             std::to_string(revisions.size()) + " revisions (first " +
             std::to_string(*revisions.begin()) + ")";
    }
  }
  for (const auto& [key, lease] : attached) {
    kv::LeaseInfo info;
    std::vector<std::string> keys;
    if (lease != 0 && store.lease(lease, &info, &keys).code() == util::Code::kNotFound) {
      return node + ": " + key + " outlived its revoked lease " + std::to_string(lease);
    }
  }
  return "";
}

}  // namespace dkv::node_sim
