// UnsyncedMarker: how the store knows whether LMDB can be trusted after a
// restart when commits are not fsynced (StoreOptions::Durability::kDeferred).
//
// LMDB opened with MDB_NOSYNC keeps atomicity and consistency as long as the
// kernel eventually writes what it was given: a crash of the PROCESS
// loses nothing (the page cache belongs to the kernel), but a crash of the
// MACHINE may leave a torn, even corrupt, environment (LMDB's docs say so).
// So before the first unsynced commit the store writes a marker file holding
// the kernel's boot id (fsynced, with its directory), and after an fsync of
// the environment it removes it. At open, a marker from another boot means
// the machine went down with unsynced commits: the environment is discarded
// and rebuilt from the last snapshot plus the WAL (the node's recovery does
// that for any store that is behind the snapshot).
//
// Not thread-safe: the store's single writer thread calls it.
#pragma once

#include <string>

#include "util/status.h"

namespace dkv::kv {

// The kernel's id of the current boot (/proc/sys/kernel/random/boot_id), or
// empty if it cannot be read.
std::string current_boot_id();

class UnsyncedMarker {
 public:
  // `dir` is the LMDB directory; `boot_id` the current boot's id.
  UnsyncedMarker(std::string dir, std::string boot_id);

  // True if a marker from a different boot (or an unreadable one) is there:
  // the environment may have lost or torn unsynced pages.
  bool left_by_machine_crash() const;
  // True while a marker of this boot is on disk.
  bool is_set() const { return set_; }

  // Writes and fsyncs the marker (and its directory) unless already set.
  util::Status set();
  // Removes the marker (fsyncing the directory); call only after the
  // environment has been fsynced.
  util::Status clear();

 private:
  std::string path() const;

  const std::string dir_;
  const std::string boot_id_;
  bool set_ = false;
};

}  // namespace dkv::kv
