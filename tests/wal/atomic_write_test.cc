// atomic_write_file and rename_durably (wal/file.h) on MemFileSystem: a
// crash at any point leaves the old content or the new one, whole; once
// the call returned OK, a crash keeps the new one.
#include <gtest/gtest.h>

#include "wal/file.h"
#include "wal/mem_file_system.h"

namespace dkv::wal {
namespace {

using Op = MemFileSystem::Op;

void put_durably(MemFileSystem& fs, const std::string& path, const std::string& data) {
  std::unique_ptr<File> f;
  ASSERT_TRUE(fs.open(path, OpenMode::kCreate, &f).is_ok());
  ASSERT_TRUE(f->write_at(0, data).is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  ASSERT_TRUE(fs.sync_dir(parent_dir(path)).is_ok());
}

TEST(AtomicWriteFile, OkIsDurable) {
  MemFileSystem fs;
  ASSERT_TRUE(ensure_dir(fs, "/d").is_ok());
  ASSERT_TRUE(atomic_write_file(fs, "/d/f", "new").is_ok());
  fs.crash();
  std::string got;
  ASSERT_TRUE(fs.get_contents("/d/f", &got));
  EXPECT_EQ(got, "new");
  EXPECT_FALSE(fs.exists("/d/f.tmp"));
}

// The process dies at each mutating operation in turn (that one and every
// later one fail), then the machine: the file holds the old content or the
// new, never a mix or nothing.
TEST(AtomicWriteFile, EveryCrashPointKeepsOldOrNew) {
  const std::string old_data(1000, 'o');
  const std::string new_data(700, 'n');
  for (std::uint64_t dies_at = 0;; ++dies_at) {
    SCOPED_TRACE("dies at operation " + std::to_string(dies_at));
    MemFileSystem fs;
    ASSERT_TRUE(ensure_dir(fs, "/d").is_ok());
    put_durably(fs, "/d/f", old_data);
    std::uint64_t first = 0;
    bool armed = false;
    fs.set_fault_hook([&](Op, const std::string&, std::uint64_t n) {
      if (!armed) {
        armed = true;
        first = n;
      }
      return n - first >= dies_at ? util::internal_error("died") : util::Status::ok();
    });
    const bool ok = atomic_write_file(fs, "/d/f", new_data).is_ok();
    fs.set_fault_hook(nullptr);
    fs.crash(MemFileSystem::CrashMode::kKeepRandomPrefix, dies_at);
    std::string got;
    ASSERT_TRUE(fs.get_contents("/d/f", &got));
    if (ok) {
      EXPECT_EQ(got, new_data);
      break;  // Got through every operation.
    }
    EXPECT_TRUE(got == old_data || got == new_data) << got.substr(0, 16);
    ASSERT_LT(dies_at, 100u);
  }
}

TEST(RenameDurably, TheNameSurvivesACrash) {
  MemFileSystem fs;
  ASSERT_TRUE(ensure_dir(fs, "/d").is_ok());
  put_durably(fs, "/d/a.tmp", "x");
  ASSERT_TRUE(rename_durably(fs, "/d/a.tmp", "/d/a").is_ok());
  fs.crash();
  EXPECT_TRUE(fs.exists("/d/a"));
  EXPECT_FALSE(fs.exists("/d/a.tmp"));
}

}  // namespace
}  // namespace dkv::wal
