// dkvctl's output for the etcd v3 KV commands (put, get, del, txn,
// compaction), as etcdctl 3.4 prints it, so that scripts written for
// etcdctl read dkvctl alike:
//   simple  etcdctl's lines: "OK", key and value lines, the deleted count,
//           "SUCCESS"/"FAILURE" and each response after a blank line,
//           "compacted revision N";
//   json    etcdctl's: Go's encoding/json of etcd's response structs, i.e.
//           proto field names ("create_revision"), zero values left out,
//           64-bit integers as numbers, bytes as base64, a oneof as
//           {"Response":{"ResponsePut":{...}}};
//   table   (dkvctl's own; etcdctl has none for these) a box of the keys
//           and values.
// Pure functions of the responses; every result ends with a newline
// unless it is empty (a get that found nothing prints nothing).
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>

#include "cli.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace dkv::ctl {

// How keys and values print in the simple and table formats.
struct KvStyle {
  bool base64 = false;      // dkvctl's --base64.
  bool value_only = false;  // --print-value-only.
};

// Go's json.Marshal of the Go struct etcd generates for `message`.
std::string go_json(const google::protobuf::Message& message);
// A Go string as encoding/json writes it, quotes included.
std::string go_json_string(const std::string& s);

std::string format_etcd_put(Format format, const etcdserverpb::PutResponse& r, KvStyle style);
std::string format_etcd_get(Format format, const etcdserverpb::RangeResponse& r, KvStyle style);
std::string format_etcd_del(Format format, const etcdserverpb::DeleteRangeResponse& r,
                            KvStyle style);
std::string format_etcd_txn(Format format, const etcdserverpb::TxnResponse& r, KvStyle style);
// etcdctl prints this line whatever -w says.
std::string format_etcd_compaction(std::int64_t revision);

}  // namespace dkv::ctl
