#include "api/etcd_errors.h"

#include <string_view>

#include "kv/mvcc_request.h"

namespace dkv::api {
namespace {

constexpr std::string_view kPrefix = "etcdserver: ";

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

util::Status etcd_no_leader() { return util::unavailable(etcd_error::kNoLeader); }

util::Status etcd_learner_check(bool node_is_learner, bool allowed_on_learner) {
  if (!node_is_learner || allowed_on_learner) return util::Status::ok();
  return util::unavailable(etcd_error::kNotSupportedForLearner);
}

util::Status etcd_request_too_large() {
  return util::invalid_argument(kv::etcd_error::kRequestTooLarge);
}

util::Status etcd_error_of(const util::Status& s) {
  if (s.is_ok()) return s;
  const std::string_view message = s.message();
  if (message.starts_with(kPrefix)) return s;
  switch (s.code()) {
    case util::Code::kUnavailable:
      if (contains(message, "shutting down") || contains(message, "removed")) {
        return util::unavailable(etcd_error::kStopped);
      }
      return util::unavailable(etcd_error::kTimeout);
    case util::Code::kResourceExhausted:
      if (contains(message, "space")) {
        return util::resource_exhausted(etcd_error::kNoSpace);
      }
      return util::resource_exhausted(etcd_error::kTooManyRequests);
    default:
      return util::Status(s.code(), std::string(kPrefix) + std::string(message));
  }
}

}  // namespace dkv::api
