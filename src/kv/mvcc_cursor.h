// Cursor: an LMDB cursor opened on a table for one scope and closed at its
// end, before the transaction that holds it ends. Internal to kv/.
// Threading: the thread of its transaction.
#pragma once

#include <lmdb.h>

namespace dkv::kv::mvcc {

class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &cursor_); }
  ~Cursor() {
    if (rc_ == 0) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  // mdb_cursor_open's result: 0, or the error that left get() unusable.
  int open_rc() const { return rc_; }
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
  int rc_ = 0;
};

}  // namespace dkv::kv::mvcc
