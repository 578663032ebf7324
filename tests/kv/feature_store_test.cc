// The committed feature level in the store (kv/feature_meta.h): applied
// from Op::kSetFeatureLevel entries (only ever up), persisted, refused at
// open above what the binary applies (a downgrade), carried in images as a
// tagged section (whole and streamed); an image without it (from before
// the gate, or of a store at level 0) restores level 0.
#include <gtest/gtest.h>

#include <filesystem>

#include "image_stream.h"
#include "kv/feature_level.h"
#include "kv/store.h"

namespace dkv::kv {
namespace {

class FeatureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = std::filesystem::path(::testing::TempDir()) /
            ("feature_store_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(base_);
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  util::Status open(const std::string& name, std::unique_ptr<Store>* store,
                    FeatureLevel supported = kFeatureLevelSupported) {
    StoreOptions options;
    options.dir = (base_ / name).string();
    options.quota_bytes = 64ull << 20;
    options.feature_level_supported = supported;
    return Store::open(options, store);
  }

  std::unique_ptr<Store> open_store(const std::string& name) {
    std::unique_ptr<Store> store;
    EXPECT_TRUE(open(name, &store).is_ok());
    return store;
  }

  static void apply(Store* store, std::vector<Command> commands) {
    std::vector<ApplyResult> results;
    ASSERT_TRUE(store->apply(commands, store->applied_index() + 1, &results).is_ok());
  }

  static std::string image_of(const Store& store) {
    std::string image;
    std::uint64_t index = 0;
    std::string membership;
    EXPECT_TRUE(store.dump(&image, &index, &membership).is_ok());
    return image;
  }

  std::filesystem::path base_;
};

TEST_F(FeatureStoreTest, SetFeatureLevelRaisesTheLevelOnlyUpAndPersists) {
  auto store = open_store("s");
  EXPECT_EQ(store->feature_level(), FeatureLevel::kNone);  // A new store, outside bootstrap.
  const std::int64_t rev = store->current_revision();
  apply(store.get(), {set_feature_level_command(FeatureLevel::kMvccRequests)});
  EXPECT_EQ(store->feature_level(), FeatureLevel::kMvccRequests);
  EXPECT_EQ(store->current_revision(), rev);  // Not a key: no revision.
  // In a batch with other writes, and never down.
  apply(store.get(), {Command{Op::kPut, "k", "v"}, set_feature_level_command(FeatureLevel::kLeases),
                      set_feature_level_command(FeatureLevel::kNone)});
  EXPECT_EQ(store->feature_level(), FeatureLevel::kLeases);
  std::string value;
  EXPECT_TRUE(store->get("k", &value).is_ok());
  store.reset();
  store = open_store("s");
  EXPECT_EQ(store->feature_level(), FeatureLevel::kLeases);
  // Bootstrap's set_feature_level() never lowers it either.
  ASSERT_TRUE(store->set_feature_level(FeatureLevel::kMvccRequests).is_ok());
  EXPECT_EQ(store->feature_level(), FeatureLevel::kLeases);
}

TEST_F(FeatureStoreTest, BootstrapSetsTheLevelOutsideTheLog) {
  auto store = open_store("s");
  ASSERT_TRUE(store->set_feature_level(kFeatureLevelSupported).is_ok());
  EXPECT_EQ(store->feature_level(), kFeatureLevelSupported);
  EXPECT_EQ(store->applied_index(), 0u);
  store.reset();
  EXPECT_EQ(open_store("s")->feature_level(), kFeatureLevelSupported);
}

// A binary that applies less than the committed level must not open the
// data: the one check that protects a downgrade.
TEST_F(FeatureStoreTest, OpenRefusesDataAboveTheSupportedLevel) {
  auto store = open_store("s");
  apply(store.get(), {set_feature_level_command(FeatureLevel::kLeases)});
  store.reset();
  std::unique_ptr<Store> older;
  const util::Status s = open("s", &older, FeatureLevel::kMvccRequests);
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("feature level 2 (leases)"), std::string::npos) << s.to_string();
  EXPECT_NE(s.message().find("downgrade"), std::string::npos) << s.to_string();
  EXPECT_EQ(older, nullptr);
  // The same binary level opens it.
  EXPECT_TRUE(open("s", &older, FeatureLevel::kLeases).is_ok());
}

TEST_F(FeatureStoreTest, ImagesCarryTheLevelAndImagesWithoutItRestoreLevelZero) {
  auto source = open_store("source");
  apply(source.get(), {Command{Op::kPut, "k", "v"}});
  const std::string before = image_of(*source);  // Level 0: no section.

  apply(source.get(), {set_feature_level_command(FeatureLevel::kLeases)});
  const std::string image = image_of(*source);
  EXPECT_GT(image.size(), before.size());
  EXPECT_NE(image.find("FLEVEL"), std::string::npos);
  EXPECT_EQ(before.find("FLEVEL"), std::string::npos);
  expect_streams_as(*source, image, {1, 5, std::size_t{1} << 20});

  auto copy = open_store("copy");
  ASSERT_TRUE(copy->restore(image).is_ok());
  EXPECT_EQ(copy->feature_level(), FeatureLevel::kLeases);
  std::string value;
  ASSERT_TRUE(copy->get("k", &value).is_ok());
  copy.reset();
  copy = open_store("copy");
  EXPECT_EQ(copy->feature_level(), FeatureLevel::kLeases);

  // An image without the section (an older dkv's) restores level 0.
  ASSERT_TRUE(copy->restore(before).is_ok());
  EXPECT_EQ(copy->feature_level(), FeatureLevel::kNone);
  copy.reset();
  EXPECT_EQ(open_store("copy")->feature_level(), FeatureLevel::kNone);

  // Garbage after the section is refused.
  std::unique_ptr<Store> bad_copy = open_store("bad");
  EXPECT_EQ(bad_copy->restore(image + "x").code(), util::Code::kDataLoss);
}

}  // namespace
}  // namespace dkv::kv
