// TEST ONLY: disk faults for the WAL. FailpointFileSystem wraps the
// FileSystem under a wal::Log and injects the faults the fault suite
// (tests/fault) needs. The library always contains it, so its unit tests run
// in every build, but only a dkv built with the CMake option DKV_TEST_HOOKS=ON
// (the dev/test build in ./build) wires it in; a release build (`make
// install`, DKV_TEST_HOOKS=OFF) warns about the variables below and ignores
// them.
//
// DKV_TEST_FAILPOINTS arms failpoints when a node starts: a comma list of
//   name[:after=N]        N >= 0 (default 0), counted from this start
// with these names:
//   wal-fsync-eio   the first N File::sync() calls succeed; every later one
//                   fails with EIO and writes nothing durable, as a disk that
//                   lost dirty pages does. The Log then refuses every call
//                   and the node stops with one line ("WAL fsync failed: ...
//                   (failpoint wal-fsync-eio); stopping"), never retrying.
//   wal-torn-write  the first N File::write_at() calls are whole; the
//                   (N+1)-th writes only the first half of its bytes (they
//                   reach the page cache) and the process exits at once with
//                   kTornWriteExitCode and one line on stderr naming the
//                   failpoint: a crash in the middle of a write. Recovery must
//                   cut that torn tail and keep everything synced before it.
// e.g. DKV_TEST_FAILPOINTS="wal-fsync-eio:after=20". A name may appear once.
//
// DKV_TEST_ACK_BEFORE_PERSIST=1 (the ack-before-persist canary) turns on
// lazy sync: writes stay in a user-space buffer of the File and sync()
// returns OK at once, so the node votes and acknowledges entries that are not
// on disk. The buffer is written and fdatasync'ed only by the first sync() at
// least lazy_sync_period after the previous flush, by any other call on the
// File (read, size, truncate, allocate), when the File is closed, and before
// a rename or remove (so directory changes never overtake the data before
// them). A File's first sync() is real (a new segment's header is durable).
// kill -9 therefore loses up to lazy_sync_period of acknowledged writes: the
// bug, on purpose.
//
// Threading: as file.h; the wrapper adds one mutex for its counters and the
// open lazy files. Lifetime: `inner` must outlive the FailpointFileSystem.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "util/status.h"
#include "wal/file.h"

namespace dkv::wal {

// The exit code of the process after a torn write (wal-torn-write).
inline constexpr int kTornWriteExitCode = 97;

struct Failpoints {
  // wal-fsync-eio: sync() calls that succeed before the first failure.
  std::optional<std::uint64_t> fsync_eio_after;
  // wal-torn-write: whole write_at() calls before the torn one.
  std::optional<std::uint64_t> torn_write_after;
  // Lazy sync (DKV_TEST_ACK_BEFORE_PERSIST); zero: off.
  std::chrono::milliseconds lazy_sync_period{0};

  bool any() const { return fsync_eio_after || torn_write_after || lazy_sync_period.count() > 0; }
};

// Parses DKV_TEST_FAILPOINTS (syntax above) into *out (lazy_sync_period
// untouched). INVALID_ARGUMENT naming the bad part; *out unchanged then.
util::Status parse_failpoints(const std::string& text, Failpoints* out);

class FailpointFileSystem final : public FileSystem {
 public:
  // What happens after the torn write: the default writes one line to stderr
  // and _exit(kTornWriteExitCode)s. Tests pass their own (which returns);
  // write_at() then fails with INTERNAL and later writes are refused.
  using CrashFn = std::function<void(const std::string& line)>;

  FailpointFileSystem(FileSystem& inner, Failpoints failpoints, CrashFn crash = {});
  ~FailpointFileSystem() override;

  util::Status open(const std::string& path, OpenMode mode, std::unique_ptr<File>* file) override;
  util::Status create_dir(const std::string& path) override { return inner_.create_dir(path); }
  util::Status list_dir(const std::string& dir, std::vector<std::string>* names) override {
    return inner_.list_dir(dir, names);
  }
  util::Status rename(const std::string& from, const std::string& to) override;
  util::Status remove(const std::string& path) override;
  util::Status sync_dir(const std::string& dir) override { return inner_.sync_dir(dir); }
  util::Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    return inner_.lock(path, lock);
  }
  bool exists(const std::string& path) override { return inner_.exists(path); }

  // For tests: sync() and write_at() calls seen so far, and whether a
  // failpoint fired.
  std::uint64_t syncs() const;
  std::uint64_t writes() const;
  bool fsync_failed() const;
  bool torn() const;

  class FailpointFile;

 private:
  friend class FailpointFile;
  // Decides the fate of one sync()/write_at(): counts it and reports whether
  // the failpoint fires for it.
  bool next_sync_fails();
  bool next_write_tears();
  void crash(const std::string& line);
  // Writes and syncs every open lazy file's buffer.
  util::Status flush_lazy_files();
  void forget(FailpointFile* f);

  FileSystem& inner_;
  const Failpoints failpoints_;
  const CrashFn crash_;
  mutable std::mutex mu_;
  std::uint64_t syncs_ = 0;        // Guarded by mu_.
  std::uint64_t writes_ = 0;       // Guarded by mu_.
  bool fsync_failed_ = false;      // Guarded by mu_.
  bool torn_ = false;              // Guarded by mu_.
  std::set<FailpointFile*> lazy_;  // Open lazy files; guarded by mu_.
};

}  // namespace dkv::wal
