// MemFileSystem's crash model: what is and is not durable, torn prefixes,
// fault injection, invalidated handles and locks. The WAL's crash tests are
// only as good as this model.
#include "wal/mem_file_system.h"

#include <gtest/gtest.h>

namespace dkv::wal {
namespace {

std::string contents(MemFileSystem& fs, const std::string& path) {
  std::string s;
  EXPECT_TRUE(fs.get_contents(path, &s)) << path;
  return s;
}

TEST(MemFileSystem, UnsyncedDataAndNamesAreLostOnCrash) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.create_dir("/d").is_ok());
  ASSERT_TRUE(fs.sync_dir("/").is_ok());
  std::unique_ptr<File> f;
  ASSERT_TRUE(fs.open("/d/a", OpenMode::kCreate, &f).is_ok());
  ASSERT_TRUE(f->write_at(0, "hello").is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  ASSERT_TRUE(f->write_at(5, " world").is_ok());
  fs.crash();
  EXPECT_FALSE(fs.exists("/d/a"));            // The name was never synced.
  EXPECT_FALSE(f->write_at(0, "x").is_ok());  // Handles die with the process.

  ASSERT_TRUE(fs.open("/d/a", OpenMode::kCreate, &f).is_ok());
  ASSERT_TRUE(f->write_at(0, "hello").is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  ASSERT_TRUE(fs.sync_dir("/d").is_ok());
  ASSERT_TRUE(f->write_at(5, " world").is_ok());
  EXPECT_EQ(contents(fs, "/d/a"), "hello world");
  fs.crash();
  EXPECT_EQ(contents(fs, "/d/a"), "hello");
}

TEST(MemFileSystem, RenameAndRemoveNeedADirectorySync) {
  MemFileSystem fs;
  std::unique_ptr<File> f;
  ASSERT_TRUE(fs.open("/a.tmp", OpenMode::kCreate, &f).is_ok());
  ASSERT_TRUE(f->write_at(0, "x").is_ok());
  ASSERT_TRUE(f->sync().is_ok());
  ASSERT_TRUE(fs.sync_dir("/").is_ok());
  ASSERT_TRUE(fs.rename("/a.tmp", "/a").is_ok());
  fs.crash();
  EXPECT_TRUE(fs.exists("/a.tmp"));
  EXPECT_FALSE(fs.exists("/a"));
  ASSERT_TRUE(fs.rename("/a.tmp", "/a").is_ok());
  ASSERT_TRUE(fs.sync_dir("/").is_ok());
  ASSERT_TRUE(fs.remove("/a").is_ok());
  fs.crash();
  EXPECT_EQ(contents(fs, "/a"), "x");
}

TEST(MemFileSystem, RandomPrefixKeepsWritesInOrder) {
  int torn = 0;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    MemFileSystem fs;
    std::unique_ptr<File> f;
    ASSERT_TRUE(fs.open("/f", OpenMode::kCreate, &f).is_ok());
    ASSERT_TRUE(fs.sync_dir("/").is_ok());
    ASSERT_TRUE(f->write_at(0, "aaaa").is_ok());
    ASSERT_TRUE(f->sync().is_ok());
    ASSERT_TRUE(f->write_at(4, "bbbb").is_ok());
    ASSERT_TRUE(f->write_at(8, "cccc").is_ok());
    fs.crash(MemFileSystem::CrashMode::kKeepRandomPrefix, seed);
    const std::string got = contents(fs, "/f");
    const std::string all = "aaaabbbbcccc";
    ASSERT_GE(got.size(), 4u);
    EXPECT_EQ(got, all.substr(0, got.size())) << "seed " << seed;  // A prefix, in order.
    if (got.size() % 4 != 0) ++torn;
  }
  EXPECT_GT(torn, 0);
}

TEST(MemFileSystem, RandomSectorsKeepsSectorsOfTheTornWriteInAnyOrder) {
  int reordered = 0;
  const std::string a(1024, 'a'), b(2048, 'b');
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    MemFileSystem fs;
    std::unique_ptr<File> f;
    ASSERT_TRUE(fs.open("/f", OpenMode::kCreate, &f).is_ok());
    ASSERT_TRUE(fs.sync_dir("/").is_ok());
    ASSERT_TRUE(f->write_at(0, a).is_ok());
    ASSERT_TRUE(f->sync().is_ok());
    ASSERT_TRUE(f->write_at(1024, b).is_ok());
    fs.crash(MemFileSystem::CrashMode::kKeepRandomSectors, seed);
    std::string got = contents(fs, "/f");
    ASSERT_EQ(got.substr(0, 1024), a);  // Synced.
    got.resize(3072, '\0');
    for (std::size_t s = 1024; s < 3072; s += 512) {
      const std::string sector = got.substr(s, 512);
      EXPECT_TRUE(sector == std::string(512, 'b') || sector == std::string(512, '\0')) << s;
    }
    if (got[1024] == '\0' && got[3071] == 'b') ++reordered;  // Later kept, earlier lost.
  }
  EXPECT_GT(reordered, 0);
}

TEST(MemFileSystem, FaultHookFailsChosenOperations) {
  MemFileSystem fs;
  std::unique_ptr<File> f;
  ASSERT_TRUE(fs.open("/f", OpenMode::kCreate, &f).is_ok());
  fs.set_fault_hook([](MemFileSystem::Op op, const std::string& path, std::uint64_t) {
    return op == MemFileSystem::Op::kSync ? util::internal_error("EIO on " + path)
                                          : util::Status::ok();
  });
  EXPECT_TRUE(f->write_at(0, "x").is_ok());
  EXPECT_EQ(f->sync().message(), "EIO on /f");
  EXPECT_EQ(fs.op_count(), 3u);  // create, write, sync.
}

TEST(MemFileSystem, LocksConflictAndDieWithACrash) {
  MemFileSystem fs;
  std::unique_ptr<FileLock> a, b;
  ASSERT_TRUE(fs.lock("/LOCK", &a).is_ok());
  EXPECT_EQ(fs.lock("/LOCK", &b).code(), util::Code::kUnavailable);
  fs.crash();
  EXPECT_TRUE(fs.lock("/LOCK", &b).is_ok());
  a.reset();  // A stale lock from before the crash does not release the new one.
  std::unique_ptr<FileLock> c;
  EXPECT_EQ(fs.lock("/LOCK", &c).code(), util::Code::kUnavailable);
}

TEST(MemFileSystem, CloneIsIndependent) {
  MemFileSystem fs;
  std::unique_ptr<File> f;
  ASSERT_TRUE(fs.open("/f", OpenMode::kCreate, &f).is_ok());
  ASSERT_TRUE(f->write_at(0, "one").is_ok());
  auto copy = fs.clone();
  ASSERT_TRUE(f->write_at(0, "two").is_ok());
  EXPECT_EQ(contents(*copy, "/f"), "one");
  copy->crash();
  EXPECT_FALSE(copy->exists("/f"));
  EXPECT_TRUE(fs.exists("/f"));
}

}  // namespace
}  // namespace dkv::wal
