#include "kv/alarms.h"

#include <algorithm>
#include <tuple>

namespace dkv::kv::mvcc {

util::Status read_alarms(MDB_txn* txn, const Tables& t, etcdserverpb::AlarmResponse* out) {
  out->Clear();
  MDB_val key = as_val(kAlarmsKey);
  MDB_val val;
  const int rc = mdb_get(txn, t.meta, &key, &val);
  if (rc == MDB_NOTFOUND) return util::Status::ok();
  if (rc != 0) return {util::Code::kInternal, std::string("read alarms: ") + mdb_strerror(rc)};
  if (!out->ParseFromArray(val.mv_data, static_cast<int>(val.mv_size))) {
    return {util::Code::kDataLoss, "corrupt alarms in the store"};
  }
  return util::Status::ok();
}

util::Status apply_alarm(MDB_txn* txn, const Tables& t, const etcdserverpb::AlarmRequest& r,
                         etcdserverpb::AlarmResponse* after) {
  if (auto s = read_alarms(txn, t, after); !s.is_ok()) return s;
  if (r.alarm() == etcdserverpb::NONE || r.action() == etcdserverpb::AlarmRequest::GET) {
    return util::Status::ok();
  }
  auto* alarms = after->mutable_alarms();
  const auto same = [&](const etcdserverpb::AlarmMember& a) {
    return a.memberid() == r.memberid() && a.alarm() == r.alarm();
  };
  const bool present = std::any_of(alarms->begin(), alarms->end(), same);
  if (r.action() == etcdserverpb::AlarmRequest::ACTIVATE) {
    if (present) return util::Status::ok();
    auto* a = alarms->Add();
    a->set_memberid(r.memberid());
    a->set_alarm(r.alarm());
    std::sort(alarms->begin(), alarms->end(), [](const auto& x, const auto& y) {
      return std::tuple(x.memberid(), static_cast<int>(x.alarm())) <
             std::tuple(y.memberid(), static_cast<int>(y.alarm()));
    });
  } else {
    if (!present) return util::Status::ok();
    alarms->erase(std::remove_if(alarms->begin(), alarms->end(), same), alarms->end());
  }
  const std::string bytes = after->SerializeAsString();
  MDB_val key = as_val(kAlarmsKey);
  MDB_val val = as_val(bytes);
  const int rc =
      alarms->empty() ? mdb_del(txn, t.meta, &key, nullptr) : mdb_put(txn, t.meta, &key, &val, 0);
  if (rc != 0) return {util::Code::kInternal, std::string("write alarms: ") + mdb_strerror(rc)};
  return util::Status::ok();
}

bool has_nospace(const etcdserverpb::AlarmResponse& alarms) {
  return std::any_of(alarms.alarms().begin(), alarms.alarms().end(),
                     [](const auto& a) { return a.alarm() == etcdserverpb::NOSPACE; });
}

}  // namespace dkv::kv::mvcc
