// `dkvctl txn` input, in etcdctl 3.4's syntax: three sections, each ended
// by a blank line:
//   compares           one a line: TARGET("key") OP "value", TARGET one of
//                      ver|version, c|create, m|mod, val|value, lease;
//                      OP one of =, !=, <, >; numbers quoted too:
//                      mod("k") > "0". lease("k") = "694d7a1c2e3f" takes
//                      the lease id in hex (etcdctl 3.4 crashes on it).
//   success requests   one a line: put/get/del as on the command line,
//                      with their flags (`get k --prefix`, `put k "a b"`);
//   failure requests   the same.
// Arguments split at spaces; "double quoted" (Go escapes) and 'single
// quoted' strings hold spaces. Where etcdctl fails on end of input before a
// section's blank line, dkvctl takes end of input at the start of a section
// as that section and the rest being empty (`printf 'c\n\nput k v\n'`
// works); end of input inside a section is still an error, so that a cut
// input never commits part of a branch.
// Pure parsing, no I/O beyond the given streams. Threading: none shared.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "util/status.h"

namespace dkv::ctl {

// Reads the three sections from `in` into *out. With `prompts` (txn -i),
// writes etcdctl's prompt before each section ("compares:", "success
// requests (get, put, del):", "failure requests (get, put, del):").
// InvalidArgument with etcdctl's message on malformed input.
util::Status read_txn(std::istream& in, std::ostream* prompts, etcdserverpb::TxnRequest* out);

util::Status parse_compare(const std::string& line, etcdserverpb::Compare* out);
util::Status parse_request_op(const std::string& line, etcdserverpb::RequestOp* out);

// Splits a request line into arguments (etcdctl's argify); false on a
// malformed quoted string.
bool split_args(const std::string& line, std::vector<std::string>* out);

// Reads a Go quoted string ("..." with Go's escapes, or `raw`) starting at
// text[*pos]; on success *pos is just past its closing quote.
bool read_go_quoted(const std::string& text, std::size_t* pos, std::string* out);

}  // namespace dkv::ctl
