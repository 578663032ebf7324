// FailpointFileSystem and parse_failpoints (see failpoints.h). TEST ONLY.
#include "wal/failpoints.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <utility>
#include <vector>

namespace dkv::wal {
namespace {

util::Status bad(const std::string& what) {
  return util::invalid_argument("DKV_TEST_FAILPOINTS: " + what +
                                " (syntax: name[:after=N],...; names wal-fsync-eio, "
                                "wal-torn-write)");
}

bool parse_count(std::string_view text, std::uint64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

void default_crash(const std::string& line) {
  const std::string l = "dkv: " + line + "\n";
  // One write(2): nothing buffered is lost by _exit.
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, l.data(), l.size());
  ::_exit(kTornWriteExitCode);
}

}  // namespace

util::Status parse_failpoints(const std::string& text, Failpoints* out) {
  Failpoints f = *out;
  f.fsync_eio_after.reset();
  f.torn_write_after.reset();
  std::size_t start = 0;
  if (text.empty()) return bad("empty");
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    start = end + 1;
    const std::size_t colon = item.find(':');
    const std::string name = item.substr(0, colon);
    std::uint64_t after = 0;
    if (colon != std::string::npos) {
      const std::string arg = item.substr(colon + 1);
      if (arg.rfind("after=", 0) != 0 || !parse_count(std::string_view(arg).substr(6), &after)) {
        return bad("'" + item + "': expected " + name + ":after=N with N a whole number");
      }
    }
    std::optional<std::uint64_t>* slot = nullptr;
    if (name == "wal-fsync-eio") slot = &f.fsync_eio_after;
    if (name == "wal-torn-write") slot = &f.torn_write_after;
    if (slot == nullptr) return bad("unknown failpoint '" + name + "'");
    if (slot->has_value()) return bad("'" + name + "' given twice");
    *slot = after;
  }
  *out = f;
  return util::Status::ok();
}

// A File that applies the failpoints to one inner File.
class FailpointFileSystem::FailpointFile final : public File {
 public:
  FailpointFile(FailpointFileSystem& fs, std::unique_ptr<File> inner, std::string path, bool lazy)
      : fs_(fs), inner_(std::move(inner)), path_(std::move(path)), lazy_(lazy) {}
  ~FailpointFile() override {
    if (!lazy_) return;
    fs_.forget(this);
    std::lock_guard lock(mu_);
    (void)flush_and_sync_locked();  // A close writes what was buffered.
  }

  util::Status read_at(std::uint64_t offset, std::string* out) override {
    if (auto s = flush(); !s.is_ok()) return s;
    return inner_->read_at(offset, out);
  }

  util::Status write_at(std::uint64_t offset, std::string_view data) override {
    if (fs_.torn()) {
      return util::internal_error("write " + path_ + ": refused after a torn write (failpoint " +
                                  "wal-torn-write)");
    }
    if (fs_.next_write_tears()) {
      const std::size_t keep = data.size() / 2;
      if (auto s = flush(); !s.is_ok()) return s;
      (void)inner_->write_at(offset, data.substr(0, keep));  // Page cache keeps it.
      fs_.crash("failpoint wal-torn-write: wrote " + std::to_string(keep) + " of " +
                std::to_string(data.size()) + " bytes at offset " + std::to_string(offset) +
                " of " + path_ + ", then crashed");
      return util::internal_error("write " + path_ + ": torn (failpoint wal-torn-write)");
    }
    if (!lazy_) return inner_->write_at(offset, data);
    std::lock_guard lock(mu_);
    pending_.emplace_back(offset, std::string(data));
    return util::Status::ok();
  }

  util::Status sync() override {
    if (fs_.next_sync_fails()) {
      return util::internal_error("fdatasync " + path_ +
                                  ": Input/output error (failpoint wal-fsync-eio)");
    }
    if (!lazy_) return inner_->sync();
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (synced_once_ && now - last_flush_ < fs_.failpoints_.lazy_sync_period) {
      return util::Status::ok();  // The lie: acknowledged, not durable.
    }
    return flush_and_sync_locked();
  }

  util::Status size(std::uint64_t* size_bytes) override {
    if (auto s = flush(); !s.is_ok()) return s;
    return inner_->size(size_bytes);
  }
  util::Status truncate(std::uint64_t size_bytes) override {
    if (auto s = flush(); !s.is_ok()) return s;
    return inner_->truncate(size_bytes);
  }
  util::Status allocate(std::uint64_t size_bytes) override {
    if (auto s = flush(); !s.is_ok()) return s;
    return inner_->allocate(size_bytes);
  }

  // Writes and syncs the buffer (lazy files only).
  util::Status flush_and_sync() {
    std::lock_guard lock(mu_);
    return flush_and_sync_locked();
  }

 private:
  util::Status flush() {
    if (!lazy_) return util::Status::ok();
    std::lock_guard lock(mu_);
    return write_pending_locked();
  }
  util::Status write_pending_locked() {
    for (const auto& [offset, data] : pending_) {
      if (auto s = inner_->write_at(offset, data); !s.is_ok()) return s;
    }
    pending_.clear();
    return util::Status::ok();
  }
  util::Status flush_and_sync_locked() {
    if (auto s = write_pending_locked(); !s.is_ok()) return s;
    if (auto s = inner_->sync(); !s.is_ok()) return s;
    synced_once_ = true;
    last_flush_ = std::chrono::steady_clock::now();
    return util::Status::ok();
  }

  FailpointFileSystem& fs_;
  const std::unique_ptr<File> inner_;
  const std::string path_;
  const bool lazy_;
  std::mutex mu_;
  std::vector<std::pair<std::uint64_t, std::string>> pending_;  // Guarded by mu_.
  bool synced_once_ = false;                                    // Guarded by mu_.
  std::chrono::steady_clock::time_point last_flush_;            // Guarded by mu_.
};

FailpointFileSystem::FailpointFileSystem(FileSystem& inner, Failpoints failpoints, CrashFn crash)
    : inner_(inner), failpoints_(failpoints), crash_(crash ? std::move(crash) : default_crash) {}

FailpointFileSystem::~FailpointFileSystem() = default;

util::Status FailpointFileSystem::open(const std::string& path, OpenMode mode,
                                       std::unique_ptr<File>* file) {
  std::unique_ptr<File> f;
  if (auto s = inner_.open(path, mode, &f); !s.is_ok()) return s;
  const bool lazy = failpoints_.lazy_sync_period.count() > 0;
  auto wrapped = std::make_unique<FailpointFile>(*this, std::move(f), path, lazy);
  if (lazy) {
    std::lock_guard lock(mu_);
    lazy_.insert(wrapped.get());
  }
  *file = std::move(wrapped);
  return util::Status::ok();
}

util::Status FailpointFileSystem::rename(const std::string& from, const std::string& to) {
  if (auto s = flush_lazy_files(); !s.is_ok()) return s;
  return inner_.rename(from, to);
}

util::Status FailpointFileSystem::remove(const std::string& path) {
  if (auto s = flush_lazy_files(); !s.is_ok()) return s;
  return inner_.remove(path);
}

util::Status FailpointFileSystem::flush_lazy_files() {
  std::lock_guard lock(mu_);
  for (FailpointFile* f : lazy_) {
    if (auto s = f->flush_and_sync(); !s.is_ok()) return s;
  }
  return util::Status::ok();
}

void FailpointFileSystem::forget(FailpointFile* f) {
  std::lock_guard lock(mu_);
  lazy_.erase(f);
}

bool FailpointFileSystem::next_sync_fails() {
  std::lock_guard lock(mu_);
  const std::uint64_t n = syncs_++;
  if (!failpoints_.fsync_eio_after || n < *failpoints_.fsync_eio_after) return false;
  if (!fsync_failed_) {
    std::fprintf(stderr, "dkv: failpoint wal-fsync-eio: fdatasync fails with EIO from now on\n");
  }
  fsync_failed_ = true;
  return true;
}

bool FailpointFileSystem::next_write_tears() {
  std::lock_guard lock(mu_);
  const std::uint64_t n = writes_++;
  if (!failpoints_.torn_write_after || n != *failpoints_.torn_write_after) return false;
  torn_ = true;
  return true;
}

void FailpointFileSystem::crash(const std::string& line) { crash_(line); }

std::uint64_t FailpointFileSystem::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}
std::uint64_t FailpointFileSystem::writes() const {
  std::lock_guard lock(mu_);
  return writes_;
}
bool FailpointFileSystem::fsync_failed() const {
  std::lock_guard lock(mu_);
  return fsync_failed_;
}
bool FailpointFileSystem::torn() const {
  std::lock_guard lock(mu_);
  return torn_;
}

}  // namespace dkv::wal
