#include "kv/unsynced_marker.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dkv::kv {
namespace {

constexpr char kMarkerName[] = "unsynced-since-boot";

util::Status errno_status(const std::string& what, int err) {
  return util::internal_error(what + ": " + std::strerror(err));
}

util::Status fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno_status("open " + path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return errno_status("fsync " + path, err);
  return util::Status::ok();
}

}  // namespace

std::string current_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

UnsyncedMarker::UnsyncedMarker(std::string dir, std::string boot_id)
    : dir_(std::move(dir)), boot_id_(std::move(boot_id)) {
  std::ifstream in(path());
  if (!in) return;
  std::string id;
  std::getline(in, id);
  set_ = !id.empty() && id == boot_id_;
}

std::string UnsyncedMarker::path() const { return dir_ + "/" + kMarkerName; }

bool UnsyncedMarker::left_by_machine_crash() const {
  return !set_ && ::access(path().c_str(), F_OK) == 0;
}

util::Status UnsyncedMarker::set() {
  if (set_) return util::Status::ok();
  const std::string p = path();
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status("create " + p, errno);
  const std::string line = boot_id_ + "\n";
  const ssize_t n = ::write(fd, line.data(), line.size());
  const int write_err = errno;
  const int rc = n == static_cast<ssize_t>(line.size()) ? ::fsync(fd) : -1;
  const int sync_err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(line.size())) {
    return errno_status("write " + p, n < 0 ? write_err : EIO);
  }
  if (rc != 0) return errno_status("fsync " + p, sync_err);
  if (auto s = fsync_path(dir_, O_RDONLY | O_DIRECTORY); !s.is_ok()) return s;
  set_ = true;
  return util::Status::ok();
}

util::Status UnsyncedMarker::clear() {
  const std::string p = path();
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) return errno_status("remove " + p, errno);
  if (auto s = fsync_path(dir_, O_RDONLY | O_DIRECTORY); !s.is_ok()) return s;
  set_ = false;
  return util::Status::ok();
}

}  // namespace dkv::kv
