// MemFileSystem: an in-memory FileSystem for tests that models what a crash
// keeps. Every file remembers its contents as of its last sync() and the
// writes since; every directory remembers its entries as of its last
// sync_dir() and the creates/renames/removes since. crash() throws away what
// was not made durable (all of it, or a random in-order prefix of it, to
// model torn writes), invalidates every open File and releases every lock,
// as if the process and the machine had died. A fault hook sees every
// mutating operation (with a running number) and can fail it, which is how
// tests crash at every durability point or inject an fsync error.
// Paths are absolute ("/db/wal/x"); "/" always exists.
// Threading: every method takes one internal mutex; safe from any thread.
// The fault hook runs under that mutex and must not call back into this object.
// Lifetime: Files and FileLocks must not outlive the MemFileSystem.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "wal/file.h"

namespace dkv::wal {

class MemFileSystem final : public FileSystem {
 public:
  // The operations a fault hook sees: the ones that change state.
  enum class Op {
    kCreate,  // open() in a create mode.
    kWrite,
    kSync,
    kTruncate,
    kAllocate,
    kCreateDir,
    kRename,
    kRemove,
    kSyncDir,
  };
  // Returns OK to let the operation happen, or the error it fails with (the
  // operation then changes nothing). op_number counts from 0 over the life
  // of this object, across crashes.
  using FaultHook =
      std::function<util::Status(Op op, const std::string& path, std::uint64_t op_number)>;

  enum class CrashMode {
    kLoseUnsynced,      // Everything not synced is gone.
    kKeepRandomPrefix,  // Per file and per directory, a random prefix (in
                        // order) of the unsynced changes survives; the first
                        // write not kept fully may survive in part (a prefix).
    kKeepRandomSectors  // As kKeepRandomPrefix, but of the first write not
                        // kept fully, a random subset of its 512-byte sectors
                        // survives, in any order (a disk reordering sectors).
  };

  MemFileSystem();
  ~MemFileSystem() override;
  MemFileSystem(const MemFileSystem&) = delete;
  MemFileSystem& operator=(const MemFileSystem&) = delete;

  util::Status open(const std::string& path, OpenMode mode, std::unique_ptr<File>* file) override;
  util::Status create_dir(const std::string& path) override;
  util::Status list_dir(const std::string& dir, std::vector<std::string>* names) override;
  util::Status rename(const std::string& from, const std::string& to) override;
  util::Status remove(const std::string& path) override;
  util::Status sync_dir(const std::string& dir) override;
  util::Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) override;
  bool exists(const std::string& path) override;

  void set_fault_hook(FaultHook hook);
  // Number of mutating operations attempted so far (failed ones included).
  std::uint64_t op_count() const;
  void crash(CrashMode mode = CrashMode::kLoseUnsynced, std::uint64_t seed = 0);

  // Test access. The contents reads would see now; false if no such file.
  bool get_contents(const std::string& path, std::string* out) const;
  // Replaces an existing file's contents, durably (to corrupt files).
  void set_contents(const std::string& path, std::string data);
  // A deep copy of the current and durable state (no open files, locks or hook).
  std::unique_ptr<MemFileSystem> clone() const;

  struct Inode;
  struct Dir;
  class MemFile;
  class MemLock;

 private:
  util::Status fault(Op op, const std::string& path);  // Requires mu_.

  mutable std::mutex mu_;
  std::shared_ptr<Inode> root_;   // Guarded by mu_.
  std::uint64_t generation_ = 0;  // Bumped by crash(); guarded by mu_.
  std::uint64_t op_count_ = 0;    // Guarded by mu_.
  std::set<std::string> locked_;  // Guarded by mu_.
  FaultHook hook_;                // Guarded by mu_.
};

}  // namespace dkv::wal
