// etcd's gRPC errors (etcdserver/api/v3rpc/rpctypes/error.go) for the etcd
// v3 services: clients match them by code and exact text, so every error
// the etcd API returns goes through etcd_error_of(). The kv/ layer's own
// etcd errors (kv/mvcc_request.h etcd_error) pass unchanged; the node's
// errors become etcd's equivalents.
// Threading: pure functions.
#pragma once

#include "util/status.h"

namespace dkv::api {

namespace etcd_error {
inline constexpr char kNoLeader[] = "etcdserver: no leader";
inline constexpr char kStopped[] = "etcdserver: server stopped";
inline constexpr char kTimeout[] = "etcdserver: request timed out";
inline constexpr char kNoSpace[] = "etcdserver: mvcc: database space exceeded";
inline constexpr char kTooManyRequests[] = "etcdserver: too many requests";
// rpctypes.ErrGPRCNotSupportedForLearner (sic), UNAVAILABLE.
inline constexpr char kNotSupportedForLearner[] = "etcdserver: rpc not supported for learner";
}  // namespace etcd_error

util::Status etcd_no_leader();          // UNAVAILABLE, kNoLeader.
util::Status etcd_request_too_large();  // INVALID_ARGUMENT, "etcdserver: request is too large".
// etcd's unary interceptor on a learner: every request but Status and a
// serializable Range (v3rpc isRPCSupportedForLearner) -> UNAVAILABLE,
// kNotSupportedForLearner. OK if `node_is_learner` is false or the request
// is `allowed_on_learner`.
util::Status etcd_learner_check(bool node_is_learner, bool allowed_on_learner);

// The etcd error for a status of the node or the store:
//   an "etcdserver: ..." message: unchanged;
//   UNAVAILABLE: stopping or removed -> kStopped; else (no leader or no
//     quorum by the deadline) -> kTimeout, as etcd's proposals and
//     ReadIndex rounds that time out;
//   RESOURCE_EXHAUSTED: the quota -> kNoSpace; too many writes in flight ->
//     kTooManyRequests;
//   anything else: its code, the message prefixed with "etcdserver: ".
util::Status etcd_error_of(const util::Status& s);

}  // namespace dkv::api
