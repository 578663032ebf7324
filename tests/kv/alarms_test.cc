// Alarms in the store (kv/alarms.h): raised and cleared by AlarmRequest
// entries, persisted across reopening, carried in images (whole and
// streamed) and restored from them; an image without alarms is unchanged.
#include <gtest/gtest.h>

#include <filesystem>

#include "image_stream.h"
#include "kv/mvcc_request.h"
#include "kv/store.h"

namespace dkv::kv {
namespace {

namespace pb = etcdserverpb;

class AlarmsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::filesystem::path(::testing::TempDir()) /
            ("alarms_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  std::unique_ptr<Store> open_store(const std::string& name) {
    StoreOptions options;
    options.dir = (base_ / name).string();
    options.quota_bytes = 64ull << 20;
    std::unique_ptr<Store> store;
    EXPECT_TRUE(Store::open(options, &store).is_ok());
    return store;
  }

  void alarm(Store* store, pb::AlarmRequest::AlarmAction action, std::uint64_t member,
             pb::AlarmType type) {
    pb::AlarmRequest r;
    r.set_action(action);
    r.set_memberid(member);
    r.set_alarm(type);
    std::vector<ApplyResult> results;
    const std::int64_t rev = store->current_revision();
    ASSERT_TRUE(
        store->apply(std::vector<Command>{etcd_command(r)}, store->applied_index() + 1, &results)
            .is_ok());
    ASSERT_TRUE(results[0].etcd->status.is_ok());
    EXPECT_EQ(store->current_revision(), rev);  // Alarms are not keys.
  }

  std::string listed(const Store& store) {
    pb::AlarmResponse r;
    EXPECT_TRUE(store.alarms(&r).is_ok());
    std::string out;
    for (const auto& a : r.alarms()) {
      out += std::to_string(a.memberid()) + ":" + pb::AlarmType_Name(a.alarm()) + " ";
    }
    return out;
  }

  std::filesystem::path base_;
};

TEST_F(AlarmsTest, RaisesClearsAndKeepsAlarmsAcrossReopening) {
  auto store = open_store("s");
  EXPECT_FALSE(store->nospace_alarm());
  EXPECT_EQ(listed(*store), "");
  alarm(store.get(), pb::AlarmRequest::ACTIVATE, 7, pb::NOSPACE);
  alarm(store.get(), pb::AlarmRequest::ACTIVATE, 3, pb::NOSPACE);
  alarm(store.get(), pb::AlarmRequest::ACTIVATE, 7, pb::NOSPACE);  // Twice: once.
  EXPECT_TRUE(store->nospace_alarm());
  EXPECT_EQ(listed(*store), "3:NOSPACE 7:NOSPACE ");
  store.reset();
  store = open_store("s");
  EXPECT_TRUE(store->nospace_alarm());
  EXPECT_EQ(listed(*store), "3:NOSPACE 7:NOSPACE ");

  alarm(store.get(), pb::AlarmRequest::DEACTIVATE, 7, pb::NOSPACE);
  EXPECT_TRUE(store->nospace_alarm());
  alarm(store.get(), pb::AlarmRequest::DEACTIVATE, 3, pb::NOSPACE);
  alarm(store.get(), pb::AlarmRequest::DEACTIVATE, 3, pb::NOSPACE);  // Gone already.
  EXPECT_FALSE(store->nospace_alarm());
  EXPECT_EQ(listed(*store), "");
}

TEST_F(AlarmsTest, ImagesCarryAlarmsAndImagesWithoutThemAreUnchanged) {
  auto source = open_store("source");
  std::vector<ApplyResult> results;
  ASSERT_TRUE(source->apply(std::vector<Command>{{Op::kPut, "k", "v"}}, 1, &results).is_ok());
  std::string before;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(source->dump(&before, &index, &membership).is_ok());

  alarm(source.get(), pb::AlarmRequest::ACTIVATE, 9, pb::NOSPACE);
  std::string image;
  ASSERT_TRUE(source->dump(&image, &index, &membership).is_ok());
  EXPECT_GT(image.size(), before.size());
  expect_streams_as(*source, image, {1, 7, std::size_t{1} << 20});

  auto copy = open_store("copy");
  ASSERT_TRUE(copy->restore(image).is_ok());
  EXPECT_TRUE(copy->nospace_alarm());
  EXPECT_EQ(listed(*copy), "9:NOSPACE ");
  std::string value;
  ASSERT_TRUE(copy->get("k", &value).is_ok());

  // Restoring an image without alarms clears them.
  ASSERT_TRUE(copy->restore(before).is_ok());
  EXPECT_FALSE(copy->nospace_alarm());
  EXPECT_EQ(listed(*copy), "");

  alarm(source.get(), pb::AlarmRequest::DEACTIVATE, 9, pb::NOSPACE);
  std::string after;
  ASSERT_TRUE(source->dump(&after, &index, &membership).is_ok());
  EXPECT_EQ(after.size(), before.size());

  std::string bad = image + "x";
  EXPECT_EQ(copy->restore(bad).code(), util::Code::kDataLoss);
}

}  // namespace
}  // namespace dkv::kv
