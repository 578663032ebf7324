// The arguments of dkvctl's watch and lease commands, with etcdctl 3.4's
// syntax and its usage errors ("bad lease ID arg (strconv.ParseInt: parsing
// \"zz\": invalid syntax), expecting ID in Hex"), and the requests they make.
//   watch KEY [RANGE_END] [--prefix] [--rev N] [--prev-kv]
//         [--max-events N] [--stop-after DURATION]   (the last two: dkvctl's,
//         so that scripts and tests can end a watch; etcdctl runs until
//         interrupted)
//   lease grant TTL | revoke ID | keep-alive [--once] ID | timetolive [--keys] ID | list
// Pure functions, no I/O. Threading: none shared.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "util/status.h"

namespace CLI {
class App;
}

namespace dkv::ctl {

struct WatchArgs {
  std::string key;
  std::string range_end;
  bool has_range_end = false;
  bool prefix = false;
  std::int64_t rev = 0;  // 0: from now.
  bool prev_kv = false;
  std::int64_t max_events = 0;              // dkvctl's: stop after this many events (0: never).
  std::chrono::milliseconds stop_after{0};  // dkvctl's: stop after this long (0: never).
  std::string stop_after_text;              // As given, checked by finish().
};

struct LeaseArgs {
  std::string ttl;  // grant, as given (parsed by make_lease_grant).
  std::string id;   // revoke, keep-alive, timetolive: hexadecimal, as given.
  bool once = false;
  bool keys = false;
  std::chrono::milliseconds stop_after{0};  // keep-alive: dkvctl's, as for watch.
  std::string stop_after_text;
};

void add_watch_args(CLI::App* cmd, WatchArgs* args);
void add_lease_id_arg(CLI::App* cmd, LeaseArgs* args);

// The watch's create request (key and range as clientv3 forms them), or
// InvalidArgument with etcdctl's message.
util::Status make_watch(const WatchArgs& args, etcdserverpb::WatchCreateRequest* out);
// strconv.ParseInt(text, 16, 64) for a lease ID, with etcdctl's message.
util::Status parse_lease_id(const std::string& text, std::int64_t* out);
util::Status parse_lease_ttl(const std::string& text, std::int64_t* out);
// "5s", "500ms" for --stop-after (empty: 0, never); false if malformed.
bool parse_stop_after(const std::string& text, std::chrono::milliseconds* out);

}  // namespace dkv::ctl
