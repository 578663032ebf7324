// dkvctl's watch and lease commands over etcd's Watch and Lease services,
// with etcdctl 3.4's output (watch_lease_output.h), error lines and exit
// codes where scripts look at them: a watch the server cancels prints
// "watch was canceled (...)" and "Error: watch is canceled by the server"
// and exits 5; keep-alive --once, timetolive and list exit 2 on an error
// (etcdctl's ExitBadConnection); grant and revoke exit 1 with "Error: failed
// to grant lease (...)". -w table is refused as etcdctl refuses it.
// Threading: one thread.
#pragma once

#include <iosfwd>

#include "cli.h"
#include "client.h"

namespace dkv::ctl {

// etcdctl's exit codes that differ from dkvctl's 0/1/2.
inline constexpr int kExitWatchCanceled = 5;  // ExitInterrupted.
inline constexpr int kExitLeaseCall = 2;      // ExitBadConnection.

int run_watch(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err);
int run_lease(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err);

}  // namespace dkv::ctl
