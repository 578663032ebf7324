// util::ReplyBatch: deferred hooks run once, when the outermost batch on
// the deferring thread closes, and never without a batch.
#include "util/reply_batch.h"

#include <gtest/gtest.h>

#include <thread>

namespace dkv::util {
namespace {

int runs = 0;
void count_run() { ++runs; }
int other_runs = 0;
void count_other_run() { ++other_runs; }

TEST(ReplyBatchTest, NothingIsDeferredWithoutABatch) {
  runs = 0;
  EXPECT_FALSE(ReplyBatch::defer_to_end(&count_run));
  EXPECT_EQ(runs, 0);
}

TEST(ReplyBatchTest, HooksRunOnceWhenTheOutermostBatchCloses) {
  runs = 0;
  other_runs = 0;
  {
    ReplyBatch outer;
    EXPECT_TRUE(ReplyBatch::defer_to_end(&count_run));
    {
      ReplyBatch inner;
      EXPECT_TRUE(ReplyBatch::defer_to_end(&count_run));
      EXPECT_TRUE(ReplyBatch::defer_to_end(&count_other_run));
    }
    EXPECT_EQ(runs, 0);  // The inner batch's end is not the loop's end.
    EXPECT_EQ(other_runs, 0);
  }
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(other_runs, 1);
  {
    ReplyBatch next;  // A new batch starts with no hooks.
  }
  EXPECT_EQ(runs, 1);
}

TEST(ReplyBatchTest, ABatchBelongsToItsThread) {
  runs = 0;
  ReplyBatch here;
  bool deferred_elsewhere = true;
  std::thread([&] { deferred_elsewhere = ReplyBatch::defer_to_end(&count_run); }).join();
  EXPECT_FALSE(deferred_elsewhere);
}

}  // namespace
}  // namespace dkv::util
