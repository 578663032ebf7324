// dkvctl's output for watch and the lease commands, as etcdctl 3.4 prints
// it (its simple and json printers, read from its source and checked
// against etcdctl in tests/process/etcd_compat_test.cc):
//   watch      simple: per event its type ("PUT"/"DELETE"), the previous
//              key and value lines when --prev-kv found one, the key and
//              value lines; a progress notification as "progress notify: N"
//              (in either format). json: Go's json.Marshal of clientv3's
//              WatchResponse: {"Header":{...},"Events":[...],
//              "CompactRevision":N,"Canceled":b,"Created":b}.
//   lease      simple: "lease <16 hex digits> granted with TTL(Ns)", "...
//              revoked", "... keepalived with TTL(N)", "... granted with
//              TTL(Ns), remaining(Ns)[, attached keys([a b])]", "... already
//              expired", "found N leases" and one ID a line. json: clientv3's
//              structs, whose embedded header's fields sit at the top level
//              ({"cluster_id":...,"ID":...,"TTL":...,"Error":""}).
// etcdctl has no table form for these: the caller refuses -w table.
// Pure functions of the responses; each result ends with a newline unless
// empty.
#pragma once

#include <cstdint>
#include <string>

#include "cli.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace dkv::ctl {

// The lease ID as etcdctl prints it: %016x.
std::string lease_hex(std::int64_t id);

// One watch response (created responses are not printed: clientv3 does not
// hand them to etcdctl).
std::string format_watch_response(Format format, const etcdserverpb::WatchResponse& r);
// The line etcdctl writes to stderr for a canceled watch: "watch was
// canceled (etcdserver: mvcc: required revision has been compacted)".
std::string watch_canceled_line(const etcdserverpb::WatchResponse& r);

std::string format_lease_grant(Format format, const etcdserverpb::LeaseGrantResponse& r);
std::string format_lease_revoke(Format format, std::int64_t id,
                                const etcdserverpb::LeaseRevokeResponse& r);
std::string format_lease_keepalive(Format format, const etcdserverpb::LeaseKeepAliveResponse& r);
// After a keep-alive stream ends because the lease is gone (simple only).
std::string format_lease_keepalive_ended(Format format, std::int64_t id);
std::string format_lease_timetolive(Format format, const etcdserverpb::LeaseTimeToLiveResponse& r,
                                    bool keys);
std::string format_lease_list(Format format, const etcdserverpb::LeaseLeasesResponse& r);

}  // namespace dkv::ctl
