#include "watch_lease_commands.h"

#include <ostream>

#include "output.h"
#include "watch_lease_output.h"

namespace dkv::ctl {
namespace {

using Clock = std::chrono::system_clock;

Clock::time_point stop_at(std::chrono::milliseconds after) {
  return after.count() > 0 ? Clock::now() + after : Clock::time_point::max();
}

// etcd's errors as etcdctl prints them; UNIMPLEMENTED says what is missing.
std::string why(const util::Status& s, const char* service) {
  if (s.code() == util::Code::kUnimplemented) {
    return "the node does not serve etcd's " + std::string(service) + " API (" + s.message() + ")";
  }
  return s.message();
}

int fail(std::ostream& err, int code, const std::string& message) {
  err << "Error: " << message << "\n";
  return code;
}

int lease_keepalive(const Invocation& inv, Client& client, std::int64_t id, std::ostream& out,
                    std::ostream& err) {
  const Format f = inv.global.format;
  bool gone = false;
  bool answered = false;
  const util::Status s = client.etcd_keepalive(
      id, inv.lease.once,
      [&](const etcdserverpb::LeaseKeepAliveResponse& r) {
        answered = true;
        if (r.ttl() <= 0) {
          gone = true;
          return false;
        }
        out << format_lease_keepalive(f, r) << std::flush;
        return true;
      },
      stop_at(inv.lease.stop_after));
  if (!s.is_ok()) return fail(err, kExitLeaseCall, why(s, "Lease"));
  if (inv.lease.once && gone)
    return fail(err, kExitLeaseCall, "etcdserver: requested lease not found");
  if (inv.lease.once && !answered) return fail(err, kExitLeaseCall, "no answer to the keep-alive");
  if (gone) out << format_lease_keepalive_ended(f, id);
  return kExitOk;
}

}  // namespace

int run_watch(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err) {
  if (inv.global.format == Format::kTable) {
    return fail(err, kExitUsage, "table not supported as output format");
  }
  etcdserverpb::WatchCreateRequest create;
  if (auto s = make_watch(inv.watch, &create); !s.is_ok())
    return fail(err, kExitUsage, s.message());
  std::int64_t events = 0;
  bool canceled = false;
  const util::Status s = client.etcd_watch(
      create,
      [&](const etcdserverpb::WatchResponse& r) {
        if (r.canceled()) {  // etcdctl: the reason on stderr, then the response as any other.
          err << watch_canceled_line(r) << std::flush;
          out << format_watch_response(inv.global.format, r) << std::flush;
          canceled = true;
          return false;
        }
        if (r.created()) return true;  // clientv3 keeps these to itself.
        out << format_watch_response(inv.global.format, r) << std::flush;
        events += r.events_size();
        return inv.watch.max_events == 0 || events < inv.watch.max_events;
      },
      stop_at(inv.watch.stop_after));
  if (s.code() == util::Code::kUnimplemented) return fail(err, kExitError, why(s, "Watch"));
  if (!s.is_ok()) {
    err << "watch was canceled (" << s.message() << ")\n";
    canceled = true;
  }
  if (canceled) return fail(err, kExitWatchCanceled, "watch is canceled by the server");
  return kExitOk;
}

int run_lease(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err) {
  const Format f = inv.global.format;
  if (f == Format::kTable) return fail(err, kExitUsage, "table not supported as output format");
  std::int64_t id = 0;
  if (inv.command != Command::kLeaseGrant && inv.command != Command::kLeaseList) {
    if (auto s = parse_lease_id(inv.lease.id, &id); !s.is_ok()) {
      return fail(err, kExitUsage, s.message());
    }
  }
  switch (inv.command) {
    case Command::kLeaseGrant: {
      etcdserverpb::LeaseGrantRequest req;
      std::int64_t ttl = 0;
      if (auto s = parse_lease_ttl(inv.lease.ttl, &ttl); !s.is_ok()) {
        return fail(err, kExitUsage, s.message());
      }
      req.set_ttl(ttl);
      etcdserverpb::LeaseGrantResponse resp;
      if (auto s = client.etcd_lease_grant(req, &resp); !s.is_ok()) {
        return fail(err, kExitError, "failed to grant lease (" + why(s, "Lease") + ")");
      }
      out << format_lease_grant(f, resp);
      return kExitOk;
    }
    case Command::kLeaseRevoke: {
      etcdserverpb::LeaseRevokeRequest req;
      req.set_id(id);
      etcdserverpb::LeaseRevokeResponse resp;
      if (auto s = client.etcd_lease_revoke(req, &resp); !s.is_ok()) {
        return fail(err, kExitError, "failed to revoke lease (" + why(s, "Lease") + ")");
      }
      out << format_lease_revoke(f, id, resp);
      return kExitOk;
    }
    case Command::kLeaseTimeToLive: {
      etcdserverpb::LeaseTimeToLiveRequest req;
      req.set_id(id);
      req.set_keys(inv.lease.keys);
      etcdserverpb::LeaseTimeToLiveResponse resp;
      if (auto s = client.etcd_lease_timetolive(req, &resp); !s.is_ok()) {
        return fail(err, kExitLeaseCall, why(s, "Lease"));
      }
      out << format_lease_timetolive(f, resp, inv.lease.keys);
      return kExitOk;
    }
    case Command::kLeaseList: {
      etcdserverpb::LeaseLeasesResponse resp;
      if (auto s = client.etcd_lease_leases(&resp); !s.is_ok()) {
        return fail(err, kExitLeaseCall, why(s, "Lease"));
      }
      out << format_lease_list(f, resp);
      return kExitOk;
    }
    default:
      return lease_keepalive(inv, client, id, out, err);
  }
}

}  // namespace dkv::ctl
