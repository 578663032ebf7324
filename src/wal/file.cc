// Path and directory helpers over any FileSystem (see file.h).
#include "wal/file.h"

namespace dkv::wal {

std::string join_path(std::string_view dir, std::string_view name) {
  std::string p(dir);
  if (!p.empty() && p.back() != '/') p += '/';
  p += name;
  return p;
}

std::string parent_dir(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

util::Status read_whole_file(File& file, std::string* out) {
  std::uint64_t size_bytes = 0;
  if (auto s = file.size(&size_bytes); !s.is_ok()) return s;
  out->resize(size_bytes);
  if (auto s = file.read_at(0, out); !s.is_ok()) return s;
  if (out->size() != size_bytes) return util::internal_error("short read of a whole file");
  return util::Status::ok();
}

util::Status ensure_dir(FileSystem& fs, const std::string& dir) {
  const std::string parent = parent_dir(dir);
  if (!fs.exists(dir)) {
    if (parent != dir) {
      if (auto s = ensure_dir(fs, parent); !s.is_ok()) return s;
    }
    if (auto s = fs.create_dir(dir); !s.is_ok()) return s;
  }
  // Sync the parent even if the directory existed: a process that died
  // between mkdir() and this sync left an entry a crash could still lose.
  if (parent == dir) return util::Status::ok();
  return fs.sync_dir(parent);
}

util::Status rename_durably(FileSystem& fs, const std::string& from, const std::string& to) {
  if (auto s = fs.rename(from, to); !s.is_ok()) return s;
  return fs.sync_dir(parent_dir(to));
}

util::Status atomic_write_file(FileSystem& fs, const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  std::unique_ptr<File> file;
  util::Status s = fs.open(tmp, OpenMode::kCreate, &file);
  if (s.is_ok()) s = file->truncate(0);
  if (s.is_ok()) s = file->write_at(0, data);
  if (s.is_ok()) s = file->sync();
  file.reset();
  if (s.is_ok()) s = rename_durably(fs, tmp, path);
  if (!s.is_ok()) (void)fs.remove(tmp);  // Gone already once renamed.
  return s;
}

}  // namespace dkv::wal
