// posix_file_system(): the FileSystem of file.h over POSIX calls (pread,
// pwrite, fdatasync, posix_fallocate, rename, flock). Every failure becomes
// INTERNAL (UNAVAILABLE for a held lock) naming the call, the path and errno.
// Threading: stateless; File objects are used by one thread at a time.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/assert.h"
#include "wal/file.h"

namespace dkv::wal {
namespace {

util::Status errno_status(std::string_view call, const std::string& path, int err) {
  std::string m(call);
  m += " ";
  m += path;
  m += ": ";
  m += std::strerror(err);
  return util::internal_error(std::move(m));
}

class PosixFile final : public File {
 public:
  PosixFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixFile() override { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  util::Status read_at(std::uint64_t offset, std::string* out) override {
    std::size_t done = 0;
    while (done < out->size()) {
      const ssize_t n =
          ::pread(fd_, out->data() + done, out->size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("pread", path_, errno);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    out->resize(done);
    return util::Status::ok();
  }

  util::Status write_at(std::uint64_t offset, std::string_view data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("pwrite", path_, errno);
      done += static_cast<std::size_t>(n);
    }
    return util::Status::ok();
  }

  util::Status sync() override {
    if (::fdatasync(fd_) != 0) return errno_status("fdatasync", path_, errno);
    return util::Status::ok();
  }

  util::Status size(std::uint64_t* size_bytes) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status("fstat", path_, errno);
    *size_bytes = static_cast<std::uint64_t>(st.st_size);
    return util::Status::ok();
  }

  util::Status truncate(std::uint64_t size_bytes) override {
    if (::ftruncate(fd_, static_cast<off_t>(size_bytes)) != 0) {
      return errno_status("ftruncate", path_, errno);
    }
    return util::Status::ok();
  }

  util::Status allocate(std::uint64_t size_bytes) override {
    const int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(size_bytes));
    if (err != 0) return errno_status("posix_fallocate", path_, err);
    return util::Status::ok();
  }

 private:
  const int fd_;
  const std::string path_;
};

class PosixLock final : public FileLock {
 public:
  explicit PosixLock(int fd) : fd_(fd) {}
  ~PosixLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  PosixLock(const PosixLock&) = delete;
  PosixLock& operator=(const PosixLock&) = delete;

 private:
  const int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  util::Status open(const std::string& path, OpenMode mode, std::unique_ptr<File>* file) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreate:
        flags |= O_RDWR | O_CREAT;
        break;
      case OpenMode::kCreateExclusive:
        flags |= O_RDWR | O_CREAT | O_EXCL;
        break;
    }
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return errno_status("open", path, errno);
    *file = std::make_unique<PosixFile>(fd, path);
    return util::Status::ok();
  }

  util::Status create_dir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
      return errno_status("mkdir", path, errno);
    }
    return util::Status::ok();
  }

  util::Status list_dir(const std::string& dir, std::vector<std::string>* names) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return errno_status("opendir", dir, errno);
    names->clear();
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n != "." && n != "..") names->emplace_back(n);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return errno_status("readdir", dir, err);
    return util::Status::ok();
  }

  util::Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return errno_status("rename", from, errno);
    return util::Status::ok();
  }

  util::Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno_status("unlink", path, errno);
    return util::Status::ok();
  }

  util::Status sync_dir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno_status("open", dir, errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return errno_status("fsync", dir, err);
    return util::Status::ok();
  }

  util::Status lock(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return errno_status("open", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        return util::unavailable(path + " is locked: another process uses this data directory");
      }
      return errno_status("flock", path, err);
    }
    *lock = std::make_unique<PosixLock>(fd);
    return util::Status::ok();
  }

  bool exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
};

}  // namespace

FileSystem& posix_file_system() {
  static PosixFileSystem fs;
  return fs;
}

}  // namespace dkv::wal
