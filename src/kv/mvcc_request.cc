#include "kv/mvcc_request.h"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "kv/limits.h"

namespace dkv::kv {
namespace {

Command make_command(EtcdKind kind, const google::protobuf::MessageLite& message) {
  Command c;
  c.op = Op::kEtcd;
  c.value.push_back(static_cast<char>(kind));
  message.AppendToString(&c.value);
  return c;
}

util::Status check_key(const std::string& key) {
  if (key.empty()) return util::invalid_argument(etcd_error::kEmptyKey);
  if (key.size() > kKeyBytesMax) return util::invalid_argument(etcd_error::kRequestTooLarge);
  return util::Status::ok();
}

// The writes of one branch: put keys and delete intervals [begin, end),
// end empty meaning "to the end of the keyspace".
struct BranchWrites {
  std::set<std::string> puts;
  std::vector<std::pair<std::string, std::string>> dels;

  bool deleted(const std::string& key) const {
    for (const auto& [begin, end] : dels) {
      if (key >= begin && (end.empty() || key < end)) return true;
    }
    return false;
  }
};

std::pair<std::string, std::string> delete_interval(const etcdserverpb::DeleteRangeRequest& d) {
  if (d.range_end().empty()) return {d.key(), d.key() + '\0'};  // One key.
  if (d.range_end() == std::string(1, '\0')) return {d.key(), ""};
  return {d.key(), d.range_end()};
}

// etcd's checkIntervals (etcdserver/api/v3rpc/key.go): no key written twice
// in one branch, counting nested txns' writes; a nested txn's success and
// failure branches may write the same key (only one of them runs).
util::Status check_intervals(const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops,
                             BranchWrites* out) {
  for (const auto& op : ops) {
    if (op.has_request_delete_range())
      out->dels.push_back(delete_interval(op.request_delete_range()));
  }
  const util::Status dup = util::invalid_argument(etcd_error::kDuplicateKey);
  for (const auto& op : ops) {
    if (!op.has_request_txn()) continue;
    BranchWrites then_writes;
    BranchWrites else_writes;
    if (auto s = check_intervals(op.request_txn().success(), &then_writes); !s.is_ok()) return s;
    if (auto s = check_intervals(op.request_txn().failure(), &else_writes); !s.is_ok()) return s;
    for (const std::string& k : then_writes.puts) {
      if (out->puts.count(k) != 0 || out->deleted(k)) return dup;
    }
    for (const std::string& k : else_writes.puts) {
      if (out->puts.count(k) != 0 && then_writes.puts.count(k) == 0) return dup;
      if (out->deleted(k)) return dup;
    }
    out->puts.insert(then_writes.puts.begin(), then_writes.puts.end());
    out->puts.insert(else_writes.puts.begin(), else_writes.puts.end());
    out->dels.insert(out->dels.end(), then_writes.dels.begin(), then_writes.dels.end());
    out->dels.insert(out->dels.end(), else_writes.dels.begin(), else_writes.dels.end());
  }
  for (const auto& op : ops) {
    if (!op.has_request_put()) continue;
    const std::string& k = op.request_put().key();
    if (out->puts.count(k) != 0 || out->deleted(k)) return dup;
    out->puts.insert(k);
  }
  return util::Status::ok();
}

util::Status check_op(const etcdserverpb::RequestOp& op) {
  if (op.has_request_range()) return check_range(op.request_range());
  if (op.has_request_put()) return check_put(op.request_put());
  if (op.has_request_delete_range()) return check_delete_range(op.request_delete_range());
  if (op.has_request_txn()) return check_txn(op.request_txn());
  return util::Status::ok();  // An empty op: etcd skips it too.
}

bool branch_read_only(const google::protobuf::RepeatedPtrField<etcdserverpb::RequestOp>& ops) {
  for (const auto& op : ops) {
    if (op.has_request_put() || op.has_request_delete_range()) return false;
    if (op.has_request_txn() && !is_read_only(op.request_txn())) return false;
  }
  return true;
}

}  // namespace

Command etcd_command(const etcdserverpb::PutRequest& r) { return make_command(EtcdKind::kPut, r); }
Command etcd_command(const etcdserverpb::DeleteRangeRequest& r) {
  return make_command(EtcdKind::kDeleteRange, r);
}
Command etcd_command(const etcdserverpb::TxnRequest& r) { return make_command(EtcdKind::kTxn, r); }
Command etcd_command(const etcdserverpb::CompactionRequest& r) {
  return make_command(EtcdKind::kCompaction, r);
}

util::Status compacted_error() { return {util::Code::kOutOfRange, etcd_error::kCompacted}; }
util::Status future_rev_error() { return {util::Code::kOutOfRange, etcd_error::kFutureRev}; }

util::Status check_range(const etcdserverpb::RangeRequest& r) { return check_key(r.key()); }

util::Status check_put(const etcdserverpb::PutRequest& r) {
  if (auto s = check_key(r.key()); !s.is_ok()) return s;
  // etcd bounds only the whole request (--max-request-bytes), so a value
  // may be larger than /v0's kValueBytesMax; the API checks the request.
  if (r.value().size() > kRequestBytesMax)
    return util::invalid_argument(etcd_error::kRequestTooLarge);
  if (r.ignore_value() && !r.value().empty())
    return util::invalid_argument(etcd_error::kValueProvided);
  if (r.ignore_lease() && r.lease() != 0) return util::invalid_argument(etcd_error::kLeaseProvided);
  return util::Status::ok();
}

util::Status check_delete_range(const etcdserverpb::DeleteRangeRequest& r) {
  return check_key(r.key());
}

// etcd's checkTxnRequest: the largest of the compare and branch counts is
// the txn's op count; nested txns are checked on their own.
util::Status check_txn(const etcdserverpb::TxnRequest& r) {
  const int ops = std::max({r.compare_size(), r.success_size(), r.failure_size()});
  if (ops > kTxnOpsMax) return util::invalid_argument(etcd_error::kTooManyOps);
  for (const auto& c : r.compare()) {
    if (auto s = check_key(c.key()); !s.is_ok()) return s;
  }
  for (const auto* branch : {&r.success(), &r.failure()}) {
    for (const auto& op : *branch) {
      if (auto s = check_op(op); !s.is_ok()) return s;
    }
    BranchWrites writes;
    if (auto s = check_intervals(*branch, &writes); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

bool is_read_only(const etcdserverpb::TxnRequest& r) {
  return branch_read_only(r.success()) && branch_read_only(r.failure());
}

}  // namespace dkv::kv
