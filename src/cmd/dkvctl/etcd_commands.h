// dkvctl's key-value commands over etcd's KV API (etcdserverpb.KV): put,
// get, del, txn and compaction, with etcdctl 3.4's flags and output
// (etcd_output.h) and its error lines ("Error: etcdserver: mvcc: required
// revision has been compacted").
// A node that does not serve that API (dkv before it, answering
// UNIMPLEMENTED) still gets put/get/del of one key over dkv.v0 through
// `v0_fallback`, with dkv.v0's output; anything that needs the etcd API
// (ranges, revisions, txn, compaction, --prev-kv, --lease) fails there
// with a line that says so.
// Threading: one thread.
#pragma once

#include <functional>
#include <iosfwd>

#include "cli.h"
#include "client.h"

namespace dkv::ctl {

// Runs inv.command (kPut, kGet, kDel, kTxn or kCompaction); txn reads its
// sections from `in`. Returns the exit code (cli.h).
int run_etcd_kv(const Invocation& inv, Client& client, std::istream& in, std::ostream& out,
                std::ostream& err, const std::function<int()>& v0_fallback);

}  // namespace dkv::ctl
