// dkvctl's command line: `dkvctl [global flags] <command> [args] [flags]`,
// parsed with CLI11 into an Invocation (no I/O, no gRPC: unit-tested).
// Global flags (--endpoints, -w/--write-out, --command-timeout,
// --dial-timeout) are accepted before or after the command; --endpoints
// falls back to DKV_ENDPOINTS, then to 127.0.0.1:7070.
#pragma once

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

#include "kv_args.h"
#include "watch_lease_args.h"

namespace dkv::ctl {

// Exit codes, as etcdctl's: 0 success, 1 an error (from the server, a
// missing key included, or an unreachable cluster), 2 bad usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

enum class Format { kSimple, kTable, kJson };

enum class Command {
  kNone,
  kPut,
  kGet,
  kDel,
  kTxn,
  kCompaction,
  kMemberList,
  kMemberAdd,
  kMemberPromote,
  kMemberRemove,
  kEndpointStatus,
  kEndpointHealth,
  kMoveLeader,
  kSnapshotSave,
  kSnapshotRestore,
  kSnapshotStatus,
  kVersion,
  kWatch,
  kLeaseGrant,
  kLeaseRevoke,
  kLeaseKeepAlive,
  kLeaseTimeToLive,
  kLeaseList,
};

struct GlobalOptions {
  std::vector<std::string> endpoints;  // host:port, tried in this order.
  Format format = Format::kSimple;
  std::chrono::milliseconds command_timeout{5000};  // Per command, across endpoints.
  std::chrono::milliseconds dial_timeout{2000};     // Per endpoint connection attempt.
  // TLS (etcdctl's flags): the server's CA; a client certificate and key.
  std::string cacert, cert, key;
};

struct Invocation {
  GlobalOptions global;
  Command command = Command::kNone;
  // put/get/del: etcdctl's arguments and flags; KEY, RANGE_END and VALUE
  // are raw bytes (already decoded when --base64 was given).
  KvArgs kv;
  bool interactive = false;   // txn -i: prompt for each section.
  std::int64_t revision = 0;  // compaction REVISION.
  bool physical = false;      // compaction --physical.
  // member add/promote/remove, move-leader: the member's DKV_CLUSTER id.
  std::string name;
  std::string address;   // member add: RPC address host:port.
  bool voter = false;    // member add: as a voter at once.
  bool force = false;    // member add/promote/remove: skip the safety checks.
  bool cluster = false;  // endpoint status/health: every member, not --endpoints.
  // snapshot save/restore/status.
  std::string file;
  std::string data_dir;
  std::string node_name;  // restore --name
  std::string initial_cluster;
  // watch and lease (watch_lease_args.h).
  WatchArgs watch;
  LeaseArgs lease;
};

// Parses argv into *out. Returns -1 to go on and run the command, otherwise
// the exit code: kExitOk after printing --help or --version to `out`,
// kExitUsage after printing one "Error: ..." line to `err`.
int parse_args(int argc, const char* const* argv, Invocation* out, std::ostream& out_stream,
               std::ostream& err_stream);

// "5s", "500ms", "2m", or plain seconds ("3"); false if malformed or not > 0.
bool parse_duration(const std::string& text, std::chrono::milliseconds* out);

// Standard or URL-safe base64, padded or not; false on any other character.
bool decode_base64(const std::string& in, std::string* out);
std::string encode_base64(const std::string& in);

}  // namespace dkv::ctl
