// The file layer under the WAL and snapshot files: a small FileSystem / File
// interface with exactly the operations whose durability we reason about, so
// tests can swap in MemFileSystem (mem_file_system.h) to simulate crashes and
// inject errors. posix_file_system() is the real one.
//
// Durability model (what callers may rely on, and what MemFileSystem enforces):
//   * File data and size are durable after File::sync() returns OK.
//   * A directory entry (create, rename, remove) is durable after
//     sync_dir(parent) returns OK; before that a crash may or may not keep it.
// Every error is a Status (INTERNAL with the path and strerror for I/O
// errors); nothing throws.
// Threading: implementations are safe to call from several threads; one File
// object is used by one thread at a time.
// Lifetime: a File must not outlive the FileSystem that opened it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace dkv::wal {

class File {
 public:
  virtual ~File() = default;
  // Reads up to out->size() bytes at `offset`; resizes *out to what was read
  // (shorter only at the end of the file).
  virtual util::Status read_at(std::uint64_t offset, std::string* out) = 0;
  // Writes all of `data` at `offset` (one write call where the OS allows).
  virtual util::Status write_at(std::uint64_t offset, std::string_view data) = 0;
  // fdatasync(): data and size durable.
  virtual util::Status sync() = 0;
  virtual util::Status size(std::uint64_t* size_bytes) = 0;
  // Sets the size; bytes past the old end read as zeros.
  virtual util::Status truncate(std::uint64_t size_bytes) = 0;
  // Makes the file at least `size_bytes` long, the new bytes zeros, with the
  // blocks reserved on disk where the OS can (posix_fallocate).
  virtual util::Status allocate(std::uint64_t size_bytes) = 0;
};

// Held while the lock is; releasing it (destruction) unlocks.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode {
  kRead,            // Existing file, read only.
  kReadWrite,       // Existing file.
  kCreate,          // Create if missing (never truncates).
  kCreateExclusive  // Must not exist yet.
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual util::Status open(const std::string& path, OpenMode mode,
                            std::unique_ptr<File>* file) = 0;
  // Creates a directory; OK if it exists. The parent must exist.
  virtual util::Status create_dir(const std::string& path) = 0;
  // Names (not paths) of the entries in `dir`, without "." and "..".
  virtual util::Status list_dir(const std::string& dir, std::vector<std::string>* names) = 0;
  // Atomically replaces `to`. Both in the same directory.
  virtual util::Status rename(const std::string& from, const std::string& to) = 0;
  virtual util::Status remove(const std::string& path) = 0;
  // fsync() of a directory: its entries durable.
  virtual util::Status sync_dir(const std::string& dir) = 0;
  // An exclusive, non-blocking lock on `path` (created if missing). Held
  // locks conflict even within one process. UNAVAILABLE if held elsewhere.
  virtual util::Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) = 0;
  virtual bool exists(const std::string& path) = 0;
};

// The real file system (POSIX), shared by the whole process.
FileSystem& posix_file_system();

// Helpers over any FileSystem.
std::string join_path(std::string_view dir, std::string_view name);
std::string parent_dir(std::string_view path);
// Reads a whole file into *out.
util::Status read_whole_file(File& file, std::string* out);
// Creates `dir` and missing parents if needed, and syncs the parent of
// each directory it created, and of `dir` itself in any case.
util::Status ensure_dir(FileSystem& fs, const std::string& dir);

// Atomic file creation: a name appears with its whole content, durably, or
// not at all. One way, in two steps:
//   1. the content goes to a temporary name in the same directory and is
//      made durable (File::sync());
//   2. rename_durably() gives it its name: rename, then sync_dir() of the
//      parent, so that the name survives a crash too.
// atomic_write_file() does both for content held in memory. Writers that
// stream their content (snapshot files, received snapshots, backups) or
// check it between the steps do step 1 themselves and call rename_durably().
//
// Renames `from` (complete and durable; a file or a directory) to `to`, in
// the same directory, and syncs that directory.
util::Status rename_durably(FileSystem& fs, const std::string& from, const std::string& to);
// Writes `data` to `path` atomically and durably: `path` + ".tmp" (created
// or truncated), sync, rename_durably(). On failure `path` is untouched and
// the temporary file removed (best effort).
util::Status atomic_write_file(FileSystem& fs, const std::string& path, std::string_view data);

}  // namespace dkv::wal
