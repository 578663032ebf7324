// MemFileSystem (see mem_file_system.h): inodes with durable and pending
// contents, directories with durable and pending entries, crash replay.
#include "wal/mem_file_system.h"

#include <algorithm>
#include <random>
#include <unordered_map>

#include "util/assert.h"

namespace dkv::wal {

// One change to a file since its last sync: a write, or a size change.
struct FilePending {
  bool resize = false;
  std::uint64_t offset_or_size = 0;
  std::string data;  // Written bytes, if !resize.
};

// One change to a directory since its last sync_dir.
struct DirPending {
  enum Kind { kLink, kUnlink, kRename } kind = kLink;
  std::string name;                             // kLink/kUnlink: the name; kRename: `from`.
  std::string to;                               // kRename only.
  std::shared_ptr<MemFileSystem::Inode> inode;  // kLink and kRename.
};

struct MemFileSystem::Dir {
  std::map<std::string, std::shared_ptr<Inode>> entries;  // What lookups see.
  std::map<std::string, std::shared_ptr<Inode>> durable;  // As of the last sync_dir.
  std::vector<DirPending> pending;                        // Since then, in order.
};

struct MemFileSystem::Inode {
  std::unique_ptr<Dir> dir;  // Set for directories only.
  std::string data;          // What reads see.
  std::string durable;       // As of the last sync.
  std::vector<FilePending> pending;
};

namespace {

using Inode = MemFileSystem::Inode;
using Dir = MemFileSystem::Dir;

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty()) parts.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(std::move(cur));
  return parts;
}

void apply_file_change(std::string* data, const FilePending& p, std::size_t keep_bytes) {
  if (p.resize) {
    data->resize(p.offset_or_size, '\0');
    return;
  }
  const std::size_t n = std::min(keep_bytes, p.data.size());
  if (data->size() < p.offset_or_size + n) data->resize(p.offset_or_size + n, '\0');
  std::copy_n(p.data.data(), n, data->data() + p.offset_or_size);
}

void apply_dir_change(std::map<std::string, std::shared_ptr<Inode>>* m, const DirPending& p) {
  switch (p.kind) {
    case DirPending::kLink:
      (*m)[p.name] = p.inode;
      break;
    case DirPending::kUnlink:
      m->erase(p.name);
      break;
    case DirPending::kRename:
      m->erase(p.name);
      (*m)[p.to] = p.inode;
      break;
  }
}

// Applies a random subset of the 512-byte disk sectors a write touched.
void keep_random_sectors(std::string* data, const FilePending& w, std::mt19937_64* rng) {
  constexpr std::uint64_t kSector = 512;
  const std::uint64_t end = w.offset_or_size + w.data.size();
  for (std::uint64_t s = w.offset_or_size / kSector * kSector; s < end; s += kSector) {
    if ((*rng)() % 2 == 0) continue;
    const std::uint64_t from = std::max(s, w.offset_or_size);
    const std::uint64_t to = std::min(s + kSector, end);
    FilePending part{false, from, w.data.substr(from - w.offset_or_size, to - from)};
    apply_file_change(data, part, SIZE_MAX);
  }
}

// What survives a crash of one file: the durable contents plus, in
// kKeepRandomPrefix mode, a random prefix of the pending changes.
void crash_file(Inode* f, MemFileSystem::CrashMode mode, std::mt19937_64* rng) {
  std::string data = f->durable;
  if (mode != MemFileSystem::CrashMode::kLoseUnsynced && !f->pending.empty()) {
    const std::size_t keep = (*rng)() % (f->pending.size() + 1);
    for (std::size_t i = 0; i < keep; ++i) apply_file_change(&data, f->pending[i], SIZE_MAX);
    if (keep < f->pending.size() && !f->pending[keep].resize) {
      const FilePending& torn = f->pending[keep];
      if (mode == MemFileSystem::CrashMode::kKeepRandomPrefix) {
        apply_file_change(&data, torn, (*rng)() % (torn.data.size() + 1));
      } else {
        keep_random_sectors(&data, torn, rng);
      }
    }
  }
  f->data = data;
  f->durable = std::move(data);
  f->pending.clear();
}

void crash_dir(Inode* d, MemFileSystem::CrashMode mode, std::mt19937_64* rng) {
  Dir* dir = d->dir.get();
  auto entries = dir->durable;
  if (mode != MemFileSystem::CrashMode::kLoseUnsynced && !dir->pending.empty()) {
    const std::size_t keep = (*rng)() % (dir->pending.size() + 1);
    for (std::size_t i = 0; i < keep; ++i) apply_dir_change(&entries, dir->pending[i]);
  }
  dir->entries = entries;
  dir->durable = std::move(entries);
  dir->pending.clear();
  for (auto& [name, child] : dir->entries) {
    if (child->dir) {
      crash_dir(child.get(), mode, rng);
    } else {
      crash_file(child.get(), mode, rng);
    }
  }
}

using InodeMap = std::unordered_map<const Inode*, std::shared_ptr<Inode>>;

std::shared_ptr<Inode> copy_inode(const std::shared_ptr<Inode>& src, InodeMap* seen);

std::map<std::string, std::shared_ptr<Inode>> copy_entries(
    const std::map<std::string, std::shared_ptr<Inode>>& m, InodeMap* seen) {
  std::map<std::string, std::shared_ptr<Inode>> out;
  for (const auto& [name, inode] : m) out[name] = copy_inode(inode, seen);
  return out;
}

std::shared_ptr<Inode> copy_inode(const std::shared_ptr<Inode>& src, InodeMap* seen) {
  if (src == nullptr) return nullptr;
  if (auto it = seen->find(src.get()); it != seen->end()) return it->second;
  auto dst = std::make_shared<Inode>();
  (*seen)[src.get()] = dst;
  dst->data = src->data;
  dst->durable = src->durable;
  dst->pending = src->pending;
  if (src->dir) {
    dst->dir = std::make_unique<Dir>();
    dst->dir->entries = copy_entries(src->dir->entries, seen);
    dst->dir->durable = copy_entries(src->dir->durable, seen);
    for (const DirPending& p : src->dir->pending) {
      DirPending q = p;
      q.inode = copy_inode(p.inode, seen);
      dst->dir->pending.push_back(std::move(q));
    }
  }
  return dst;
}

util::Status not_found_status(const std::string& path) {
  return util::internal_error("memfs: " + path + ": No such file or directory");
}

}  // namespace

class MemFileSystem::MemFile final : public File {
 public:
  MemFile(MemFileSystem* fs, std::shared_ptr<Inode> inode, std::string path, bool writable)
      : fs_(fs),
        inode_(std::move(inode)),
        path_(std::move(path)),
        writable_(writable),
        generation_(fs->generation_) {}

  util::Status read_at(std::uint64_t offset, std::string* out) override {
    std::lock_guard lock(fs_->mu_);
    if (auto s = check(false); !s.is_ok()) return s;
    const std::string& d = inode_->data;
    const std::size_t n =
        offset >= d.size() ? 0 : std::min<std::size_t>(out->size(), d.size() - offset);
    if (n > 0) std::copy_n(d.data() + offset, n, out->data());
    out->resize(n);
    return util::Status::ok();
  }

  util::Status write_at(std::uint64_t offset, std::string_view data) override {
    std::lock_guard lock(fs_->mu_);
    if (auto s = check(true); !s.is_ok()) return s;
    if (auto s = fs_->fault(Op::kWrite, path_); !s.is_ok()) return s;
    FilePending p{false, offset, std::string(data)};
    apply_file_change(&inode_->data, p, SIZE_MAX);
    inode_->pending.push_back(std::move(p));
    return util::Status::ok();
  }

  util::Status sync() override {
    std::lock_guard lock(fs_->mu_);
    if (auto s = check(false); !s.is_ok()) return s;
    if (auto s = fs_->fault(Op::kSync, path_); !s.is_ok()) return s;
    inode_->durable = inode_->data;
    inode_->pending.clear();
    return util::Status::ok();
  }

  util::Status size(std::uint64_t* size_bytes) override {
    std::lock_guard lock(fs_->mu_);
    if (auto s = check(false); !s.is_ok()) return s;
    *size_bytes = inode_->data.size();
    return util::Status::ok();
  }

  util::Status truncate(std::uint64_t size_bytes) override {
    std::lock_guard lock(fs_->mu_);
    if (auto s = check(true); !s.is_ok()) return s;
    if (auto s = fs_->fault(Op::kTruncate, path_); !s.is_ok()) return s;
    FilePending p{true, size_bytes, {}};
    apply_file_change(&inode_->data, p, 0);
    inode_->pending.push_back(std::move(p));
    return util::Status::ok();
  }

  util::Status allocate(std::uint64_t size_bytes) override {
    std::lock_guard lock(fs_->mu_);
    if (auto s = check(true); !s.is_ok()) return s;
    if (auto s = fs_->fault(Op::kAllocate, path_); !s.is_ok()) return s;
    if (inode_->data.size() >= size_bytes) return util::Status::ok();
    FilePending p{true, size_bytes, {}};
    apply_file_change(&inode_->data, p, 0);
    inode_->pending.push_back(std::move(p));
    return util::Status::ok();
  }

 private:
  // Requires fs_->mu_.
  util::Status check(bool write) const {
    if (generation_ != fs_->generation_) {
      return util::internal_error("memfs: " + path_ + ": file opened before a crash");
    }
    if (write && !writable_) return util::internal_error("memfs: " + path_ + ": opened read-only");
    return util::Status::ok();
  }

  MemFileSystem* const fs_;
  const std::shared_ptr<Inode> inode_;
  const std::string path_;
  const bool writable_;
  const std::uint64_t generation_;
};

class MemFileSystem::MemLock final : public FileLock {
 public:
  MemLock(MemFileSystem* fs, std::string path)
      : fs_(fs), path_(std::move(path)), generation_(fs->generation_) {}
  ~MemLock() override {
    std::lock_guard lock(fs_->mu_);
    if (generation_ == fs_->generation_) fs_->locked_.erase(path_);
  }
  MemLock(const MemLock&) = delete;
  MemLock& operator=(const MemLock&) = delete;

 private:
  MemFileSystem* const fs_;
  const std::string path_;
  const std::uint64_t generation_;
};

namespace {

// Finds the directory inode for `parts` (all components), or nullptr.
Inode* find_dir(Inode* root, const std::vector<std::string>& parts, std::size_t count) {
  Inode* cur = root;
  for (std::size_t i = 0; i < count; ++i) {
    auto it = cur->dir->entries.find(parts[i]);
    if (it == cur->dir->entries.end() || !it->second->dir) return nullptr;
    cur = it->second.get();
  }
  return cur;
}

struct Resolved {
  Inode* parent = nullptr;       // Directory holding the last component.
  std::string name;              // Last component ("" for "/").
  std::shared_ptr<Inode> inode;  // nullptr if missing.
};

Resolved resolve(const std::shared_ptr<Inode>& root, const std::string& path) {
  Resolved r;
  const auto parts = split(path);
  if (parts.empty()) {
    r.inode = root;
    return r;
  }
  r.parent = find_dir(root.get(), parts, parts.size() - 1);
  r.name = parts.back();
  if (r.parent != nullptr) {
    auto it = r.parent->dir->entries.find(r.name);
    if (it != r.parent->dir->entries.end()) r.inode = it->second;
  }
  return r;
}

}  // namespace

MemFileSystem::MemFileSystem() : root_(std::make_shared<Inode>()) {
  root_->dir = std::make_unique<Dir>();
}

MemFileSystem::~MemFileSystem() = default;

util::Status MemFileSystem::fault(Op op, const std::string& path) {
  const std::uint64_t n = op_count_++;
  if (!hook_) return util::Status::ok();
  return hook_(op, path, n);
}

util::Status MemFileSystem::open(const std::string& path, OpenMode mode,
                                 std::unique_ptr<File>* file) {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, path);
  if (r.parent == nullptr) return not_found_status(path);
  const bool create = mode == OpenMode::kCreate || mode == OpenMode::kCreateExclusive;
  if (r.inode != nullptr && r.inode->dir) {
    return util::internal_error("memfs: " + path + ": Is a directory");
  }
  if (r.inode != nullptr && mode == OpenMode::kCreateExclusive) {
    return util::internal_error("memfs: " + path + ": File exists");
  }
  if (r.inode == nullptr && !create) return not_found_status(path);
  if (create) {
    if (auto s = fault(Op::kCreate, path); !s.is_ok()) return s;
  }
  if (r.inode == nullptr) {
    r.inode = std::make_shared<Inode>();
    r.parent->dir->entries[r.name] = r.inode;
    r.parent->dir->pending.push_back({DirPending::kLink, r.name, {}, r.inode});
  }
  *file = std::make_unique<MemFile>(this, r.inode, path, mode != OpenMode::kRead);
  return util::Status::ok();
}

util::Status MemFileSystem::create_dir(const std::string& path) {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, path);
  if (r.inode != nullptr && r.inode->dir) return util::Status::ok();
  if (r.inode != nullptr) return util::internal_error("memfs: " + path + ": File exists");
  if (r.parent == nullptr) return not_found_status(path);
  if (auto s = fault(Op::kCreateDir, path); !s.is_ok()) return s;
  auto d = std::make_shared<Inode>();
  d->dir = std::make_unique<Dir>();
  r.parent->dir->entries[r.name] = d;
  r.parent->dir->pending.push_back({DirPending::kLink, r.name, {}, d});
  return util::Status::ok();
}

util::Status MemFileSystem::list_dir(const std::string& dir, std::vector<std::string>* names) {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, dir);
  if (r.inode == nullptr || !r.inode->dir) return not_found_status(dir);
  names->clear();
  for (const auto& [name, inode] : r.inode->dir->entries) names->push_back(name);
  return util::Status::ok();
}

util::Status MemFileSystem::rename(const std::string& from, const std::string& to) {
  std::lock_guard lock(mu_);
  Resolved a = resolve(root_, from);
  Resolved b = resolve(root_, to);
  if (a.inode == nullptr) return not_found_status(from);
  DKV_ASSERT(a.parent == b.parent);  // Same directory only (all we need).
  if (auto s = fault(Op::kRename, from); !s.is_ok()) return s;
  Dir* d = a.parent->dir.get();
  d->entries.erase(a.name);
  d->entries[b.name] = a.inode;
  d->pending.push_back({DirPending::kRename, a.name, b.name, a.inode});
  return util::Status::ok();
}

util::Status MemFileSystem::remove(const std::string& path) {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, path);
  if (r.inode == nullptr) return not_found_status(path);
  if (r.inode->dir && !r.inode->dir->entries.empty()) {
    return util::internal_error("memfs: " + path + ": Directory not empty");
  }
  if (auto s = fault(Op::kRemove, path); !s.is_ok()) return s;
  r.parent->dir->entries.erase(r.name);
  r.parent->dir->pending.push_back({DirPending::kUnlink, r.name, {}, nullptr});
  return util::Status::ok();
}

util::Status MemFileSystem::sync_dir(const std::string& dir) {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, dir);
  if (r.inode == nullptr || !r.inode->dir) return not_found_status(dir);
  if (auto s = fault(Op::kSyncDir, dir); !s.is_ok()) return s;
  Dir* d = r.inode->dir.get();
  d->durable = d->entries;
  d->pending.clear();
  return util::Status::ok();
}

util::Status MemFileSystem::lock(const std::string& path, std::unique_ptr<FileLock>* lock) {
  {
    std::lock_guard guard(mu_);
    Resolved r = resolve(root_, path);
    if (r.parent == nullptr) return not_found_status(path);
    if (locked_.count(path) != 0) {
      return util::unavailable(path + " is locked: another process uses this data directory");
    }
    if (r.inode == nullptr) {
      r.inode = std::make_shared<Inode>();
      r.parent->dir->entries[r.name] = r.inode;
      r.parent->dir->pending.push_back({DirPending::kLink, r.name, {}, r.inode});
    }
    locked_.insert(path);
  }
  *lock = std::make_unique<MemLock>(this, path);
  return util::Status::ok();
}

bool MemFileSystem::exists(const std::string& path) {
  std::lock_guard lock(mu_);
  return resolve(root_, path).inode != nullptr;
}

void MemFileSystem::set_fault_hook(FaultHook hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

std::uint64_t MemFileSystem::op_count() const {
  std::lock_guard lock(mu_);
  return op_count_;
}

void MemFileSystem::crash(CrashMode mode, std::uint64_t seed) {
  std::lock_guard lock(mu_);
  std::mt19937_64 rng(seed);
  crash_dir(root_.get(), mode, &rng);
  ++generation_;
  locked_.clear();
}

bool MemFileSystem::get_contents(const std::string& path, std::string* out) const {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, path);
  if (r.inode == nullptr || r.inode->dir) return false;
  *out = r.inode->data;
  return true;
}

void MemFileSystem::set_contents(const std::string& path, std::string data) {
  std::lock_guard lock(mu_);
  Resolved r = resolve(root_, path);
  DKV_ASSERT(r.inode != nullptr);
  DKV_ASSERT(!r.inode->dir);
  r.inode->data = data;
  r.inode->durable = std::move(data);
  r.inode->pending.clear();
}

std::unique_ptr<MemFileSystem> MemFileSystem::clone() const {
  std::lock_guard lock(mu_);
  auto out = std::make_unique<MemFileSystem>();
  InodeMap seen;
  out->root_ = copy_inode(root_, &seen);
  return out;
}

}  // namespace dkv::wal
