// Alarms (etcd's Maintenance.Alarm): the cluster's raised alarms, a list of
// (member id, alarm type), kept in meta under "alarms" as a serialized
// etcdserverpb::AlarmResponse holding only `alarms`, sorted by (member,
// type), without duplicates. An alarm is raised or cleared by an Op::kEtcd
// AlarmRequest entry (mvcc_request.h, EtcdKind::kAlarm), so every replica
// holds the same list, and store images carry it (kv/store.cc).
// Internal to kv/. Threading: the caller's transaction's thread.
#pragma once

#include <lmdb.h>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/mvcc_format.h"
#include "util/status.h"

namespace dkv::kv::mvcc {

inline constexpr char kAlarmsKey[] = "alarms";

// The alarms `txn` sees (none if the key is absent).
util::Status read_alarms(MDB_txn* txn, const Tables& t, etcdserverpb::AlarmResponse* out);
// ACTIVATE adds (member, alarm), DEACTIVATE removes it; GET and alarm NONE
// change nothing. *after: the list once applied.
util::Status apply_alarm(MDB_txn* txn, const Tables& t, const etcdserverpb::AlarmRequest& request,
                         etcdserverpb::AlarmResponse* after);
bool has_nospace(const etcdserverpb::AlarmResponse& alarms);

}  // namespace dkv::kv::mvcc
