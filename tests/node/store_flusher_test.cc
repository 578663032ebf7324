// StoreFlusher (node/store_flusher.h) over a real deferred-durability LMDB
// store: with a thread, a due sync waits for a write-back and then goes
// ahead, and the store's sync() then leaves nothing unsynced; without a
// thread (the simulator's nodes), the sync goes ahead at once.
#include "node/store_flusher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace dkv::node {
namespace {

class StoreFlusherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("store_flusher_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    kv::StoreOptions options;
    options.dir = dir_.string();
    options.durability = kv::StoreOptions::Durability::kDeferred;
    ASSERT_TRUE(kv::Store::open(options, &store_).is_ok());
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void put(const std::string& key) {
    std::vector<kv::ApplyResult> results;
    const std::vector<kv::Command> batch{{kv::Op::kPut, key, std::string(1000, 'v')}};
    ASSERT_TRUE(store_->apply(batch, store_->applied_index() + 1, &results).is_ok());
  }

  // Calls ready_to_sync() as the raft thread does, once per turn, until it
  // says go (or 10 s pass); returns how many calls said "not yet".
  static int turns_until_ready(StoreFlusher& flusher) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int waits = 0;
    while (!flusher.ready_to_sync()) {
      ++waits;
      if (std::chrono::steady_clock::now() > give_up) return -1;
      std::this_thread::yield();
    }
    return waits;
  }

  std::filesystem::path dir_;
  std::unique_ptr<kv::Store> store_;
};

TEST_F(StoreFlusherTest, ADueSyncWaitsForAWriteBackThenLeavesNothingUnsynced) {
  StoreFlusher flusher(*store_, /*threaded=*/true);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) put("k" + std::to_string(round) + "-" + std::to_string(i));
    ASSERT_TRUE(store_->has_unsynced_commits());
    // The first call only starts the write-back: never "go" at once.
    const int waits = turns_until_ready(flusher);
    ASSERT_GE(waits, 1) << "round " << round;
    EXPECT_TRUE(flusher.take_error().is_ok());
    ASSERT_TRUE(store_->sync().is_ok());
    EXPECT_FALSE(store_->has_unsynced_commits());
  }
}

TEST_F(StoreFlusherTest, WithoutAThreadTheSyncGoesAheadAtOnce) {
  StoreFlusher flusher(*store_, /*threaded=*/false);
  put("k");
  EXPECT_TRUE(flusher.ready_to_sync());
  EXPECT_TRUE(flusher.ready_to_sync());
  ASSERT_TRUE(store_->sync().is_ok());
  EXPECT_FALSE(store_->has_unsynced_commits());
}

TEST_F(StoreFlusherTest, WriteBackLeavesTheMarkerToTheWriterThread) {
  put("k");
  ASSERT_TRUE(store_->write_back().is_ok());
  // Pages are on disk, but only the writer's sync() may say nothing is
  // unsynced: commits may have run beside the write-back.
  EXPECT_TRUE(store_->has_unsynced_commits());
}

}  // namespace
}  // namespace dkv::node
