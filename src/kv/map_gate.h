// MapGate: keeps LMDB read transactions and a resize of the memory map
// apart. mdb_env_set_mapsize() unmaps and maps the file again, so it needs
// "no active transactions in this process" (lmdb.h): a reader holding
// pointers into the old map would fault. Readers enter() before
// mdb_txn_begin and leave() after the transaction ends; the resizer (the
// store's single writer thread, between its own write transactions) closes
// the gate, resizes, and opens it again.
//
// Readers are short (a point read: microseconds) or long (a read view that
// a snapshot or backup holds for as long as it streams). A resize that can
// wait for short readers but not for long ones uses close_unless_long().
// While the gate is closed or closing, entering readers wait (the resizer
// is not starved by a stream of short reads). A thread must not enter twice
// (hold a read view and begin another read) while a resize may be waiting:
// no caller does.
//
// Threading: enter()/leave() (and the _long forms) from any thread,
// lock-free unless a resize is under way; close_unless_long()/close()/open()
// from the one writer thread. A
// reader may leave() on another thread than the one that entered.
#pragma once

#include <atomic>

namespace dkv::kv {

class MapGate {
 public:
  void enter() {
    for (;;) {
      readers_.fetch_add(1);
      if (!closed_.load()) return;
      leave();
      closed_.wait(true);
    }
  }
  void leave() {
    // seq_cst: a closing resizer either sees this reader gone, or this
    // reader sees it closing and wakes it.
    if (readers_.fetch_sub(1) == 1 && closed_.load()) readers_.notify_all();
  }

  // A long reader: counted as such before it enters, until it has left.
  void enter_long() {
    long_readers_.fetch_add(1);
    enter();
  }
  void leave_long() {
    leave();
    long_readers_.fetch_sub(1);
  }

  // Closes the gate, waiting for short readers, unless a long reader is in
  // or entering: then false, with the gate open.
  bool close_unless_long() {
    closed_.store(true);
    // A long reader counted after this load sees the gate closed and waits.
    if (long_readers_.load() != 0) {
      open();
      return false;
    }
    wait_for_readers();
    return true;
  }
  // Closes the gate, waiting for the readers inside to leave.
  void close() {
    closed_.store(true);
    wait_for_readers();
  }
  // Read views open or opening now (for a log line).
  int long_readers() const { return long_readers_.load(); }

  void open() {
    closed_.store(false);
    closed_.notify_all();
  }

 private:
  void wait_for_readers() {
    for (int n = readers_.load(); n != 0; n = readers_.load()) readers_.wait(n);
  }

  std::atomic<int> readers_{0};       // Inside, short and long.
  std::atomic<int> long_readers_{0};  // Long ones, inside or entering.
  std::atomic<bool> closed_{false};
};

// Holds the gate for one scope (a short read transaction).
class MapGateReader {
 public:
  explicit MapGateReader(MapGate& gate) : gate_(gate) { gate_.enter(); }
  ~MapGateReader() { gate_.leave(); }
  MapGateReader(const MapGateReader&) = delete;
  MapGateReader& operator=(const MapGateReader&) = delete;

 private:
  MapGate& gate_;
};

}  // namespace dkv::kv
