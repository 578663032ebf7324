// The etcd v3 requests the MVCC engine applies, as etcd's own messages
// (etcdserverpb.PutRequest, DeleteRangeRequest, TxnRequest,
// CompactionRequest), and how a log entry carries them: a kv::Command with
// op Op::kEtcd whose payload is
//   kind (1 byte: EtcdKind) | the request message, protobuf-serialized.
// Parsing happens at apply, on every replica, from the same bytes: an entry
// that does not parse is refused the same way everywhere (nothing written).
// Feature gate (not built yet, see docs/architecture.md "MVCC engine"): a
// node proposes Op::kEtcd entries only once the cluster's committed feature
// level says every member applies them; older nodes refuse unknown ops.
//
// Also: validation before proposing (etcd's limits and its error strings,
// which clients match by text), and EtcdResult, the outcome of one applied
// request that the proposer hands back to its client.
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/command.h"
#include "util/status.h"

namespace dkv::kv {

enum class EtcdKind : std::uint8_t {
  kPut = 1,
  kDeleteRange = 2,
  kTxn = 3,
  kCompaction = 4,
  kAlarm = 5,       // etcdserverpb.AlarmRequest: raise or clear an alarm (kv/alarms.h).
  kLeaseGrant = 6,  // kv/lease.h has the three lease kinds' payloads.
  kLeaseRevoke = 7,
  kLeaseCheckpoint = 8,
};

Command etcd_command(const etcdserverpb::PutRequest& request);
Command etcd_command(const etcdserverpb::DeleteRangeRequest& request);
Command etcd_command(const etcdserverpb::TxnRequest& request);
Command etcd_command(const etcdserverpb::CompactionRequest& request);
Command etcd_command(const etcdserverpb::AlarmRequest& request);

// etcd's limits (etcdserver/api/v3rpc/key.go, embed/config.go).
inline constexpr int kTxnOpsMax = 128;
inline constexpr std::size_t kRequestBytesMax = 1536 * 1024;  // --max-request-bytes.

// etcd's error messages (etcdserver/api/v3rpc/rpctypes/error.go); the gRPC
// code is the util::Code of the Status that carries them.
namespace etcd_error {
inline constexpr char kEmptyKey[] = "etcdserver: key is not provided";
inline constexpr char kKeyNotFound[] = "etcdserver: key not found";
inline constexpr char kValueProvided[] = "etcdserver: value is provided";
inline constexpr char kLeaseProvided[] = "etcdserver: lease is provided";
inline constexpr char kTooManyOps[] = "etcdserver: too many operations in txn request";
inline constexpr char kDuplicateKey[] = "etcdserver: duplicate key given in txn request";
inline constexpr char kCompacted[] = "etcdserver: mvcc: required revision has been compacted";
inline constexpr char kFutureRev[] = "etcdserver: mvcc: required revision is a future revision";
inline constexpr char kLeaseNotFound[] = "etcdserver: requested lease not found";
inline constexpr char kRequestTooLarge[] = "etcdserver: request is too large";
inline constexpr char kNoSpace[] = "etcdserver: mvcc: database space exceeded";
}  // namespace etcd_error

util::Status compacted_error();   // OUT_OF_RANGE, kCompacted.
util::Status future_rev_error();  // OUT_OF_RANGE, kFutureRev.

// Checks a request before it is proposed (or served, for ranges) as etcd's
// v3rpc layer does: empty keys, keys over kKeyBytesMax ("request is too
// large": LMDB's key limit, documented), ignore_value/ignore_lease misuse,
// txn op counts (kTxnOpsMax) and duplicate writes in a branch.
util::Status check_range(const etcdserverpb::RangeRequest& request);
util::Status check_put(const etcdserverpb::PutRequest& request);
util::Status check_delete_range(const etcdserverpb::DeleteRangeRequest& request);
util::Status check_txn(const etcdserverpb::TxnRequest& request);

// True if no branch of the txn (nested ones included) writes: it may be
// served from a read transaction without going through the log.
bool is_read_only(const etcdserverpb::TxnRequest& request);

// The outcome of one applied Op::kEtcd command.
struct EtcdResult {
  // etcd's error (nothing was written), or OK.
  util::Status status;
  // The header revision: the revision the request created if it wrote,
  // else the current one.
  std::int64_t revision = 0;
  // The response matching the request's kind (response_put,
  // response_delete_range or response_txn; none for a compaction).
  etcdserverpb::ResponseOp response;
};

}  // namespace dkv::kv
