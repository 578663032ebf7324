// dkvctl's output in its three formats (-w simple|table|json), as strings:
// pure functions of the responses (protobuf messages, no gRPC), unit-tested.
//   simple  etcdctl-like lines ("OK", "key\nvalue", "a, 127.0.0.1:7070, false");
//   table   the same fields under headers, in a box;
//   json    the gRPC response in protobuf's JSON mapping, as the REST API
//           writes it (lowerCamelCase, bytes as base64, 64-bit integers as
//           strings, members as {"id": "a", ...}); per-endpoint commands
//           print an array of {"endpoint": ..., ...}.
// Every result ends with a newline.
#pragma once

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cli.h"
#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "util/status.h"

namespace dkv::ctl {

// One line for stderr: "Error: NOT_FOUND: key not found".
std::string error_line(const util::Status& status);

// protobuf's JSON of `message`, every field printed (defaults included).
std::string to_json(const google::protobuf::Message& message);
// A JSON string literal.
std::string json_string(const std::string& s);
// A box of rows under headers (etcdctl's -w table).
std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows);
// 1536 -> "1.5 kB" (SI units, as etcdctl prints the DB size).
std::string human_bytes(std::uint64_t bytes);

std::string format_put(Format format, const v0::PutResponse& response);
std::string format_get(Format format, const v0::GetResponse& response, bool base64,
                       bool value_only);
std::string format_delete(Format format, const v0::DeleteResponse& response);

std::string format_member_list(Format format, const v0::MemberListResponse& response);
// `env_lines`: the variables the new member starts with (simple format).
std::string format_member_add(Format format, const v0::MemberAddResponse& response,
                              const std::string& node_id);
std::string format_member_promote(Format format, const v0::MemberPromoteResponse& response,
                                  const std::string& node_id);
std::string format_member_remove(Format format, const v0::MemberRemoveResponse& response,
                                 const std::string& node_id);
std::string format_move_leader(Format format, const v0::MoveLeaderResponse& response);

// An endpoint's status, or why it has none: an endpoint that did not
// answer keeps its row (as etcdctl's), marked unreachable with the error.
struct EndpointStatus {
  std::string endpoint;
  v0::StatusResponse status;
  std::string error;    // Empty when it answered.
  std::string node_id;  // Unreachable with --cluster: the member's id.
};
std::string format_endpoint_status(Format format, const std::vector<EndpointStatus>& statuses);

struct EndpointHealth {
  std::string endpoint;
  bool healthy = false;
  double took_ms = 0;
  std::string error;  // Empty when healthy.
};
std::string format_endpoint_health(Format format, const std::vector<EndpointHealth>& healths);

struct SnapshotSaved {
  std::string file;
  std::string endpoint;
  std::uint64_t applied_index = 0;
  std::uint64_t size_bytes = 0;  // Of the file: the image plus its 4-byte CRC.
  std::uint32_t crc32c = 0;      // Of the image.
};
std::string format_snapshot_saved(Format format, const SnapshotSaved& saved);

struct SnapshotFileStatus {
  std::uint32_t crc32c = 0;
  std::uint64_t applied_index = 0;
  std::uint64_t size_bytes = 0;
  std::string membership;  // Of the backed-up cluster, DKV_CLUSTER syntax.
};
std::string format_snapshot_status(Format format, const SnapshotFileStatus& status);

struct SnapshotRestored {
  std::string data_dir;
  std::string name;
  std::string initial_cluster;
  std::uint64_t index = 0;
  std::string cluster_id;
};
std::string format_snapshot_restored(Format format, const SnapshotRestored& restored);

std::string format_version(Format format);

}  // namespace dkv::ctl
