#include "kv/mvcc_history.h"

#include <string>

#include "kv/mvcc_cursor.h"

namespace dkv::kv::mvcc {
namespace {

HistoryEvent event_of(Revision rev, const HistRecord& r) {
  return HistoryEvent{rev.main,
                      rev.sub,
                      r.type == EventType::kDelete,
                      std::string(r.key),
                      std::string(r.value),
                      r.header.create_revision,
                      r.header.mod_revision,
                      r.header.version,
                      r.header.lease};
}

}  // namespace

util::Status read_history(MDB_txn* txn, const Tables& t, std::int64_t from_rev, std::int64_t to_rev,
                          std::size_t max_bytes, std::vector<HistoryEvent>* out,
                          std::int64_t* through) {
  *through = to_rev;
  if (from_rev > to_rev) return util::Status::ok();
  Cursor c(txn, t.hist);
  if (c.open_rc() != 0)
    return {util::Code::kInternal, std::string("hist cursor: ") + mdb_strerror(c.open_rc())};
  const std::string start = encode_rev_key({from_rev, 0});
  MDB_val k = as_val(start);
  MDB_val v;
  std::size_t bytes = 0;
  std::int64_t last_main = 0;
  for (int rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc != MDB_NOTFOUND;
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    if (rc != 0) return {util::Code::kInternal, std::string("hist scan: ") + mdb_strerror(rc)};
    Revision rev;
    HistRecord record;
    if (!decode_rev_key(as_view(k), &rev) || !decode_hist_record(as_view(v), &record)) {
      return {util::Code::kDataLoss, "corrupt hist record"};
    }
    if (rev.main > to_rev) break;
    if (rev.main != last_main && last_main != 0 && bytes > max_bytes) {
      *through = last_main;
      return util::Status::ok();
    }
    last_main = rev.main;
    bytes += record.key.size() + record.value.size();
    out->push_back(event_of(rev, record));
  }
  return util::Status::ok();
}

}  // namespace dkv::kv::mvcc
