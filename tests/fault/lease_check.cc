#include "lease_check.h"

#include <algorithm>
#include <cstdio>

namespace dkv::fault {
namespace {

constexpr std::int64_t kNsPerS = 1'000'000'000;

std::string ms(std::int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string hex(std::int64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

// Every call that renewed the lease for sure (answered alive) or may have.
std::vector<const LeaseCall*> renewals(const LeaseRecord& l, bool acknowledged_only) {
  std::vector<const LeaseCall*> out;
  if (l.grant.acknowledged || (!acknowledged_only && l.grant.unknown)) out.push_back(&l.grant);
  for (const auto& k : l.keepalives) {
    if (k.acknowledged || (!acknowledged_only && k.unknown)) out.push_back(&k);
  }
  return out;
}

void check_early(const LeaseRecord& l, LeaseCheckResult& out) {
  for (const auto& o : l.observations) {
    if (o.alive) continue;
    // A revoke sent before it ended explains the expiry.
    if ((l.revoked || l.revoke_sent) && l.revoke.invoke_ns < o.complete_ns) continue;
    for (const LeaseCall* r : renewals(l, true)) {
      const std::int64_t lower = r->invoke_ns + r->ttl_s * kNsPerS;
      if (lower <= o.complete_ns) continue;
      out.violations.push_back({"early", l.id,
                                "lease " + hex(l.id) + " seen expired (" + o.how + ", done at " +
                                    ms(o.complete_ns) + ") before its deadline: renewed (TTL " +
                                    std::to_string(r->ttl_s) + "s) by a call sent at " +
                                    ms(r->invoke_ns) + ", so alive until at least " + ms(lower)});
      break;
    }
  }
}

// The latest a lease renewed by `renewed` may be seen alive: TTL + slack,
// extended by every leader-change window that began before it (chained).
std::int64_t kept_bound(std::int64_t renewed, std::int64_t ttl_ns,
                        const LeaseCheckOptions& options) {
  std::int64_t bound = renewed + ttl_ns + options.kept_slack_ns;
  for (const auto& [start, end] : options.leader_change_windows) {
    if (start > bound) break;
    bound = std::max(bound, end + options.leader_change_ns + ttl_ns + options.kept_slack_ns);
  }
  return bound;
}

void check_kept(const LeaseRecord& l, const LeaseCheckOptions& options, LeaseCheckResult& out) {
  std::int64_t ttl_s = l.grant.ttl_s;
  for (const auto& k : l.keepalives) ttl_s = std::max(ttl_s, k.ttl_s);
  const auto all = renewals(l, false);
  for (const auto& o : l.observations) {
    if (!o.alive) continue;
    if (l.revoked && o.invoke_ns > l.revoke.complete_ns) {
      out.violations.push_back({"kept", l.id,
                                "lease " + hex(l.id) + " seen alive (" + o.how + ", sent at " +
                                    ms(o.invoke_ns) + ") after its revoke was acknowledged at " +
                                    ms(l.revoke.complete_ns)});
      continue;
    }
    std::int64_t latest = -1;  // The latest a renewal before `o` can have happened.
    for (const LeaseCall* r : all) {
      if (r->invoke_ns < o.complete_ns) latest = std::max(latest, r->complete_ns);
    }
    if (latest < 0) continue;  // Alive before any renewal we know of: the grant's answer was lost.
    const std::int64_t bound = kept_bound(latest, ttl_s * kNsPerS, options);
    if (o.invoke_ns <= bound) continue;
    out.violations.push_back(
        {"kept", l.id,
         "lease " + hex(l.id) + " seen alive (" + o.how + ", sent at " + ms(o.invoke_ns) +
             ") past its bound " + ms(bound) + ": last renewal by " + ms(latest) + ", TTL " +
             std::to_string(ttl_s) + "s, slack " + ms(options.kept_slack_ns) +
             (options.leader_change_windows.empty() ? "" : ", leader-change windows chained")});
  }
}

}  // namespace

std::string describe_lease_history(const std::vector<LeaseRecord>& leases) {
  auto call = [](const char* what, const LeaseCall& c) {
    return std::string("  ") + what + " [" + ms(c.invoke_ns) + ", " + ms(c.complete_ns) + "] " +
           (c.acknowledged ? "ttl " + std::to_string(c.ttl_s)
            : c.unknown    ? "unknown"
                           : "no") +
           "\n";
  };
  std::string out;
  for (const auto& l : leases) {
    out += "lease " + hex(l.id) + " client " + std::to_string(l.client) + "\n" +
           call("grant", l.grant);
    for (const auto& k : l.keepalives) out += call("keepalive", k);
    if (l.revoked || l.revoke_sent) out += call("revoke", l.revoke);
    for (const auto& o : l.observations) {
      out += "  seen " + std::string(o.alive ? "alive" : "gone") + " [" + ms(o.invoke_ns) + ", " +
             ms(o.complete_ns) + "] " + o.how + "\n";
    }
  }
  return out;
}

LeaseCheckResult check_leases(const std::vector<LeaseRecord>& leases,
                              const LeaseCheckOptions& options) {
  LeaseCheckResult out;
  for (const auto& l : leases) {
    ++out.leases;
    out.renewals += static_cast<std::int64_t>(renewals(l, true).size());
    out.expired_seen += std::any_of(l.observations.begin(), l.observations.end(),
                                    [](const LeaseObservation& o) { return !o.alive; });
    check_early(l, out);
    check_kept(l, options, out);
  }
  return out;
}

}  // namespace dkv::fault
