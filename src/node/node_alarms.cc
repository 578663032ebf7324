// The quota as etcd's NOSPACE alarm (node.h admit_space): the alarm is
// replicated state (kv/alarms.h), so once raised every member refuses
// writes that add data until Maintenance.Alarm DEACTIVATE clears it, also
// after restarts and in snapshots. Reads, deletes and compactions go on.
#include <spdlog/spdlog.h>

#include "kv/mvcc_request.h"
#include "node/node.h"

namespace dkv::node {
namespace {

bool txn_puts(const etcdserverpb::TxnRequest& txn) {
  for (const auto* ops : {&txn.success(), &txn.failure()}) {
    for (const auto& op : *ops) {
      if (op.has_request_put()) return true;
      if (op.has_request_txn() && txn_puts(op.request_txn())) return true;
    }
  }
  return false;
}

// Whether `command` may add data (etcd refuses Put and a Txn that puts).
bool adds_data(const kv::Command& command) {
  if (command.op == kv::Op::kPut) return true;
  if (command.op != kv::Op::kEtcd || command.value.empty()) return false;
  const auto kind = static_cast<kv::EtcdKind>(command.value.front());
  if (kind == kv::EtcdKind::kPut) return true;
  if (kind != kv::EtcdKind::kTxn) return false;
  etcdserverpb::TxnRequest txn;
  const std::string_view payload = std::string_view(command.value).substr(1);
  return !txn.ParseFromArray(payload.data(), static_cast<int>(payload.size())) || txn_puts(txn);
}

}  // namespace

util::Status Node::admit_space(const kv::Command& command) {
  const bool nospace = store_->nospace_alarm();
  const bool over_quota =
      (command.op == kv::Op::kPut || command.op == kv::Op::kEtcd) &&
      store_->used_bytes() + kv::Store::put_cost_bytes(command) > store_->quota_bytes();
  if (!nospace && !over_quota) return util::Status::ok();  // The usual case: no parsing.
  if (!adds_data(command)) return util::Status::ok();
  if (over_quota && !nospace) raise_nospace_alarm();
  // /v0 keeps its message; etcd's clients match etcd's.
  return util::resource_exhausted(command.op == kv::Op::kPut ? "database space exceeded"
                                                             : kv::etcd_error::kNoSpace);
}

void Node::raise_nospace_alarm() {
  if (raising_nospace_.exchange(true)) return;  // One proposal at a time.
  spdlog::warn(
      "database space exceeded: {} of {} bytes (DKV_QUOTA_BYTES) in use; raising the "
      "NOSPACE alarm: writes are refused until it is disarmed (etcdctl alarm disarm)",
      store_->used_bytes(), store_->quota_bytes());
  etcdserverpb::AlarmRequest request;
  request.set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  request.set_memberid(raft_id_);
  request.set_alarm(etcdserverpb::NOSPACE);
  constexpr std::chrono::seconds kRaiseTimeout{5};
  write(kv::etcd_command(request), std::chrono::steady_clock::now() + kRaiseTimeout,
        [this](util::Status s, kv::ApplyResult) {
          if (!s.is_ok()) spdlog::warn("raising the NOSPACE alarm failed: {}", s.to_string());
          raising_nospace_ = false;
        });
}

}  // namespace dkv::node
