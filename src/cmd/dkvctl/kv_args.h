// The arguments and flags of dkvctl's key-value commands (put, get, del),
// as etcdctl 3.4 defines them, and the etcd v3 requests they make. Both the
// command line (cli.cc) and the request lines of `txn` (txn_input.h) parse
// with these, as etcdctl's txn reuses its put/get/del commands. The rules
// (prefix ends, the empty key, the sort defaults) are etcdctl's and
// clientv3's, read from their source.
// Pure functions, no I/O. Threading: none shared.
#pragma once

#include <cstdint>
#include <string>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "util/status.h"

namespace CLI {
class App;
}

namespace dkv::ctl {

struct KvArgs {
  std::string key;
  std::string value;       // put
  bool has_value = false;  // put: VALUE was given (it may be empty).
  std::string range_end;   // get/del: the optional second argument.
  // get
  bool prefix = false;    // get/del: keys starting with KEY.
  bool from_key = false;  // get/del: keys >= KEY.
  std::int64_t limit = 0;
  std::int64_t rev = 0;  // 0: the current revision.
  bool keys_only = false;
  bool print_value_only = false;
  bool serializable = false;      // dkvctl's spelling of --consistency=s.
  std::string consistency = "l";  // etcdctl's: l(inearizable) or s(erializable).
  std::string order;              // ASCEND, DESCEND or "" (either case).
  std::string sort_by;            // CREATE, KEY, MODIFY, VALUE, VERSION or "".
  // put
  std::string lease = "0";  // Hexadecimal, as etcdctl prints lease ids.
  bool ignore_value = false;
  bool ignore_lease = false;
  // put/del
  bool prev_kv = false;
  // dkvctl's: KEY, RANGE_END and VALUE are base64; get prints base64.
  bool base64 = false;
};

// Adds the command's arguments and flags to `cmd`, stored into *args.
void add_put_args(CLI::App* cmd, KvArgs* args);
void add_get_args(CLI::App* cmd, KvArgs* args);
void add_del_args(CLI::App* cmd, KvArgs* args);

// Decodes KEY, RANGE_END and VALUE when args->base64; a message if one is
// not base64 ("" when fine).
std::string decode_base64_args(KvArgs* args);

// The requests, or InvalidArgument with etcdctl's message for a bad
// combination ("`--prefix` and `--from-key` cannot be set at the same
// time, choose one", "bad sort order ...", "bad lease ID ...").
util::Status make_put(const KvArgs& args, etcdserverpb::PutRequest* out);
util::Status make_range(const KvArgs& args, etcdserverpb::RangeRequest* out);
util::Status make_delete(const KvArgs& args, etcdserverpb::DeleteRangeRequest* out);

// The end of the range of keys starting with `prefix`: the prefix with its
// last byte below 0xff incremented and the rest dropped, or "\0" (to the
// end of the key space) when every byte is 0xff (clientv3's GetPrefixRangeEnd).
std::string prefix_range_end(const std::string& prefix);

}  // namespace dkv::ctl
