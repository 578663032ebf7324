#include "watch_lease_output.h"

#include <cstdio>

#include "etcd_output.h"

namespace dkv::ctl {
namespace {

// The fields of Go's json.Marshal of a struct that embeds *ResponseHeader
// (promoted to the top level), then `rest`: "{...header fields...,rest}".
std::string with_inline_header(const etcdserverpb::ResponseHeader* header,
                               const std::string& rest) {
  std::string fields;
  if (header != nullptr) {
    const std::string h = go_json(*header);
    fields = h.substr(1, h.size() - 2);
  }
  if (!fields.empty() && !rest.empty()) fields += ",";
  return "{" + fields + rest + "}\n";
}

const etcdserverpb::ResponseHeader* header_of(bool has, const etcdserverpb::ResponseHeader& h) {
  return has ? &h : nullptr;
}

std::string kv_lines(const mvccpb::KeyValue& kv) { return kv.key() + "\n" + kv.value() + "\n"; }

std::string watch_json(const etcdserverpb::WatchResponse& r) {
  std::string events;
  for (const auto& e : r.events()) events += (events.empty() ? "" : ",") + go_json(e);
  return "{\"Header\":" + go_json(r.header()) + ",\"Events\":[" + events +
         "],\"CompactRevision\":" + std::to_string(r.compact_revision()) +
         ",\"Canceled\":" + (r.canceled() ? "true" : "false") +
         ",\"Created\":" + (r.created() ? "true" : "false") + "}\n";
}

bool is_progress_notify(const etcdserverpb::WatchResponse& r) {
  return r.events().empty() && !r.canceled() && !r.created() && r.compact_revision() == 0 &&
         r.header().revision() != 0;
}

}  // namespace

std::string lease_hex(std::int64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::string format_watch_response(Format format, const etcdserverpb::WatchResponse& r) {
  std::string out;
  if (is_progress_notify(r))
    out += "progress notify: " + std::to_string(r.header().revision()) + "\n";
  if (format == Format::kJson) return out + watch_json(r);
  for (const auto& e : r.events()) {
    out += e.type() == mvccpb::Event::DELETE ? "DELETE\n" : "PUT\n";
    if (e.has_prev_kv()) out += kv_lines(e.prev_kv());
    out += kv_lines(e.kv());
  }
  return out;
}

std::string watch_canceled_line(const etcdserverpb::WatchResponse& r) {
  std::string why;
  if (r.compact_revision() != 0) {
    why = "etcdserver: mvcc: required revision has been compacted";
  } else if (r.cancel_reason().empty()) {
    why = "etcdserver: mvcc: required revision is a future revision";
  } else if (r.cancel_reason().rfind("etcdserver: ", 0) == 0) {
    why = r.cancel_reason();
  } else {
    why = "rpc error: code = FailedPrecondition desc = " + r.cancel_reason();
  }
  return "watch was canceled (" + why + ")\n";
}

std::string format_lease_grant(Format format, const etcdserverpb::LeaseGrantResponse& r) {
  if (format == Format::kJson) {
    return with_inline_header(header_of(r.has_header(), r.header()),
                              "\"ID\":" + std::to_string(r.id()) +
                                  ",\"TTL\":" + std::to_string(r.ttl()) +
                                  ",\"Error\":" + go_json_string(r.error()));
  }
  return "lease " + lease_hex(r.id()) + " granted with TTL(" + std::to_string(r.ttl()) + "s)\n";
}

std::string format_lease_revoke(Format format, std::int64_t id,
                                const etcdserverpb::LeaseRevokeResponse& r) {
  if (format == Format::kJson) return go_json(r) + "\n";
  return "lease " + lease_hex(id) + " revoked\n";
}

std::string format_lease_keepalive(Format format, const etcdserverpb::LeaseKeepAliveResponse& r) {
  if (format == Format::kJson) {
    return with_inline_header(
        header_of(r.has_header(), r.header()),
        "\"ID\":" + std::to_string(r.id()) + ",\"TTL\":" + std::to_string(r.ttl()));
  }
  return "lease " + lease_hex(r.id()) + " keepalived with TTL(" + std::to_string(r.ttl()) + ")\n";
}

std::string format_lease_keepalive_ended(Format format, std::int64_t id) {
  if (format == Format::kJson) return "";
  return "lease " + lease_hex(id) + " expired or revoked.\n";
}

std::string format_lease_timetolive(Format format, const etcdserverpb::LeaseTimeToLiveResponse& r,
                                    bool keys) {
  if (format == Format::kJson) {
    std::string key_list = "null";  // clientv3 passes the (nil when empty) proto field on.
    if (!r.keys().empty()) {
      key_list.clear();
      for (const auto& k : r.keys()) {
        key_list += (key_list.empty() ? "[" : ",") + ("\"" + encode_base64(k) + "\"");
      }
      key_list += "]";
    }
    return with_inline_header(
        header_of(r.has_header(), r.header()),
        "\"id\":" + std::to_string(r.id()) + ",\"ttl\":" + std::to_string(r.ttl()) +
            ",\"granted-ttl\":" + std::to_string(r.grantedttl()) + ",\"keys\":" + key_list);
  }
  if (r.grantedttl() == 0 && r.ttl() == -1) {
    return "lease " + lease_hex(r.id()) + " already expired\n";
  }
  std::string out = "lease " + lease_hex(r.id()) + " granted with TTL(" +
                    std::to_string(r.grantedttl()) + "s), remaining(" + std::to_string(r.ttl()) +
                    "s)";
  if (keys) {
    std::string joined;  // Go's %v of a []string: [a b c].
    for (const auto& k : r.keys()) joined += (joined.empty() ? "" : " ") + k;
    out += ", attached keys([" + joined + "])";
  }
  return out + "\n";
}

std::string format_lease_list(Format format, const etcdserverpb::LeaseLeasesResponse& r) {
  if (format == Format::kJson) {
    std::string leases;
    for (const auto& l : r.leases()) {
      leases += (leases.empty() ? "" : ",") + ("{\"id\":" + std::to_string(l.id()) + "}");
    }
    return with_inline_header(header_of(r.has_header(), r.header()), "\"leases\":[" + leases + "]");
  }
  std::string out = "found " + std::to_string(r.leases_size()) + " leases\n";
  for (const auto& l : r.leases()) out += lease_hex(l.id()) + "\n";
  return out;
}

}  // namespace dkv::ctl
