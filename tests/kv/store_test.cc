#include "kv/store.h"
#include "image_stream.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

namespace dkv::kv {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> open_store(std::uint64_t quota = 64ull << 20) {
    StoreOptions options;
    options.dir = dir_.string();
    options.quota_bytes = quota;
    std::unique_ptr<Store> store;
    util::Status s = Store::open(options, &store);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return store;
  }

  std::filesystem::path dir_;
};

TEST_F(StoreTest, AppliesPutsAndDeletesAndRecordsTheIndex) {
  auto store = open_store();
  EXPECT_EQ(store->applied_index(), 0u);
  std::vector<ApplyResult> results;
  const std::vector<Command> batch = {
      {Op::kPut, "a", "1"}, {Op::kPut, "b", "2"}, {Op::kDelete, "a", ""}, {Op::kDelete, "zz", ""}};
  ASSERT_TRUE(store->apply(batch, 4, &results).is_ok());
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[2].deleted, 1);
  EXPECT_EQ(results[3].deleted, 0);
  EXPECT_EQ(store->applied_index(), 4u);

  std::string value;
  EXPECT_EQ(store->get("a", &value).code(), util::Code::kNotFound);
  ASSERT_TRUE(store->get("b", &value).is_ok());
  EXPECT_EQ(value, "2");
}

TEST_F(StoreTest, DataAndAppliedIndexSurviveReopen) {
  {
    auto store = open_store();
    std::vector<ApplyResult> results;
    ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "k", "v1"}}, 1, &results).is_ok());
    ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "k", "v2"}}, 7, &results).is_ok());
  }
  auto store = open_store();
  EXPECT_EQ(store->applied_index(), 7u);
  std::string value;
  ASSERT_TRUE(store->get("k", &value).is_ok());
  EXPECT_EQ(value, "v2");
}

// kDeferred: commits are not fsynced; a marker naming the boot says so until
// sync(). A marker from another boot means a machine crash: start empty.
TEST_F(StoreTest, DeferredSyncMarksUnsyncedCommitsUntilSynced) {
  StoreOptions options;
  options.dir = dir_.string();
  options.durability = StoreOptions::Durability::kDeferred;
  options.boot_id = "boot-1";
  const auto marker = dir_ / "unsynced-since-boot";
  std::vector<ApplyResult> results;
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::open(options, &store).is_ok());
    ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "k", "v1"}}, 1, &results).is_ok());
    EXPECT_TRUE(store->has_unsynced_commits());
    EXPECT_TRUE(std::filesystem::exists(marker));
    ASSERT_TRUE(store->sync().is_ok());
    EXPECT_FALSE(store->has_unsynced_commits());
    EXPECT_FALSE(std::filesystem::exists(marker));
    ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "k", "v2"}}, 2, &results).is_ok());
    EXPECT_TRUE(std::filesystem::exists(marker));
  }
  // A clean close syncs and removes the marker.
  EXPECT_FALSE(std::filesystem::exists(marker));

  // Same boot (a process crash): the environment is trusted as it is.
  { std::ofstream(marker) << "boot-1\n"; }
  {
    std::unique_ptr<Store> store;
    ASSERT_TRUE(Store::open(options, &store).is_ok());
    EXPECT_FALSE(store->rebuilt_after_machine_crash());
    EXPECT_EQ(store->applied_index(), 2u);
    EXPECT_TRUE(store->has_unsynced_commits());
  }

  // Another boot: discarded, whatever it holds.
  { std::ofstream(marker) << "boot-1\n"; }
  options.boot_id = "boot-2";
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::open(options, &store).is_ok());
  EXPECT_TRUE(store->rebuilt_after_machine_crash());
  EXPECT_EQ(store->applied_index(), 0u);
  std::string value;
  EXPECT_EQ(store->get("k", &value).code(), util::Code::kNotFound);
  // The fresh environment's first commit is marked with the current boot.
  std::string id;
  std::getline(std::ifstream(marker), id);
  EXPECT_EQ(id, "boot-2");
}

TEST_F(StoreTest, BinaryKeysAndEmptyValues) {
  auto store = open_store();
  const std::string key("\0\xff\x01", 3);
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, key, ""}}, 1, &results).is_ok());
  std::string value = "x";
  ASSERT_TRUE(store->get(key, &value).is_ok());
  EXPECT_EQ(value, "");
}

TEST_F(StoreTest, PutCostCountsKeyAndValue) {
  const Command small{Op::kPut, "k", "v"};
  const Command big{Op::kPut, "k", std::string(100000, 'v')};
  EXPECT_GE(Store::put_cost_bytes(big), Store::put_cost_bytes(small) + 99999);
}

// The sum of the apparent sizes (st_size) of the files under `dir`.
std::uint64_t apparent_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Issue 14: with the map sized to the quota, data.mdb's apparent size was
// 2.4 GB for a few keys (ls, du --apparent-size and copies all saw it).
TEST_F(StoreTest, AFewKeysKeepTheFileSmallWhateverTheQuota) {
  auto store = open_store(/*quota=*/2ull << 30);
  std::vector<ApplyResult> results;
  const std::vector<Command> batch = {{Op::kPut, "a", "1"}, {Op::kPut, "b", "2"}};
  ASSERT_TRUE(store->apply(batch, 1, &results).is_ok());
  EXPECT_LT(apparent_bytes(dir_), 256ull << 20);
  store.reset();
  store = open_store(2ull << 30);
  EXPECT_LT(apparent_bytes(dir_), 256ull << 20);
  std::string value;
  ASSERT_TRUE(store->get("b", &value).is_ok());
  EXPECT_EQ(value, "2");
}

// A file left as large as the old map (the quota) shrinks to the new one.
TEST_F(StoreTest, ReopeningShrinksAFileSizedToTheQuota) {
  auto store = open_store(/*quota=*/1ull << 30);
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "k", "v"}}, 1, &results).is_ok());
  store.reset();
  std::filesystem::resize_file(dir_ / "data.mdb", 1ull << 30);
  store = open_store(1ull << 30);
  EXPECT_LT(std::filesystem::file_size(dir_ / "data.mdb"), 256ull << 20);
  std::string value;
  ASSERT_TRUE(store->get("k", &value).is_ok());
  EXPECT_EQ(value, "v");
}

// The pages LMDB writes in the map are backed by blocks reserved ahead of
// them (a full disk then fails a reservation, not a page write): the file
// is sparse up to the map, but its allocated blocks cover the pages in use
// plus room, and follow the data as it grows.
TEST_F(StoreTest, DiskBlocksAreReservedAheadOfThePagesInUse) {
  auto store = open_store(/*quota=*/256ull << 20);
  auto allocated = [&] {
    struct stat st {};
    EXPECT_EQ(::stat((dir_ / "data.mdb").c_str(), &st), 0);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
  };
  EXPECT_GE(allocated(), store->used_bytes() + (4ull << 20));
  EXPECT_LT(allocated(), std::filesystem::file_size(dir_ / "data.mdb"));
  std::vector<Command> batch;
  for (int i = 0; i < 2000; ++i) {
    batch.push_back({Op::kPut, "key-" + std::to_string(i), std::string(8000, 'v')});
  }
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(batch, 1, &results).is_ok());
  EXPECT_GT(store->used_bytes(), 30ull << 20);
  EXPECT_GE(allocated(), store->used_bytes());
}

// The growth test's keys and values.
std::string growth_key(int i) { return "key-" + std::to_string(i); }
std::string growth_value(int i) {
  return std::string(4000 + i % 97, static_cast<char>('a' + i % 26));
}

// Readers beside a writer that grows the map: two threads of point reads
// of keys [0, written) throughout, and one that dumps through read views
// once `written` reaches `views_from` (a view pins the map, so a growth that
// cannot wait for it is put off until one must). Counts what reads wrong.
class ReadersBesideGrowth {
 public:
  ReadersBesideGrowth(Store* store, int views_from) : store_(store), views_from_(views_from) {
    for (unsigned t = 0; t < 2; ++t) threads_.emplace_back([this, t] { point_reads(t); });
    threads_.emplace_back([this] { view_dumps(); });
  }
  void set_written(int n) { written_ = n; }
  // Stops the readers; returns how many reads went wrong.
  int stop() {
    done_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
    return bad_reads_.load();
  }
  ~ReadersBesideGrowth() {
    if (!threads_.empty()) stop();
  }

 private:
  void point_reads(unsigned t) {
    for (unsigned n = 0; !done_.load(); ++n) {
      const int upto = written_.load();
      if (upto == 0) continue;
      const int i = static_cast<int>((n * 7919u + t) % static_cast<unsigned>(upto));
      std::string v;
      const auto s = store_->get(growth_key(i), &v);
      if (!s.is_ok() || v != growth_value(i)) {
        if (bad_reads_++ == 0) ADD_FAILURE() << growth_key(i) << ": " << s.to_string();
      }
    }
  }
  void view_dumps() {
    while (!done_.load()) {
      if (written_.load() < views_from_) continue;
      std::unique_ptr<Store::ReadView> view;
      if (auto s = store_->open_view(&view); !s.is_ok()) {
        if (bad_reads_++ == 0) ADD_FAILURE() << "view: " << s.to_string();
        continue;
      }
      std::string image;
      std::uint64_t index = 0;
      std::string membership;
      if (!store_->dump(*view, &image, &index, &membership).is_ok()) ++bad_reads_;
    }
  }

  Store* store_;
  int views_from_;
  std::atomic<int> written_{0};  // Keys [0, written_) are applied.
  std::atomic<bool> done_{false};
  std::atomic<int> bad_reads_{0};
  std::vector<std::thread> threads_;
};

// Writes through several growth steps of the map while other threads read
// (point reads throughout, read views from the second quarter on, before
// the last growth), then reads everything back, before and after a reopen.
TEST_F(StoreTest, MapGrowsInStepsWhileReadersReadAndKeepsEverything) {
  StoreOptions options;
  options.dir = dir_.string();
  options.quota_bytes = 256ull << 20;
  options.initial_map_bytes = 1ull << 20;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::open(options, &store).is_ok());
  const std::uint64_t first_map = store->map_bytes();
  auto key = growth_key;
  auto value = growth_value;
  constexpr int kBatches = 800;
  constexpr int kPerBatch = 20;  // About 64 MiB in all.
  ReadersBesideGrowth readers(store.get(), kBatches * kPerBatch / 4);
  std::vector<std::uint64_t> maps = {first_map};
  std::vector<ApplyResult> results;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<Command> batch;
    for (int i = b * kPerBatch; i < (b + 1) * kPerBatch; ++i) {
      batch.push_back({Op::kPut, key(i), value(i)});
    }
    const auto s = store->apply(batch, b + 1, &results);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    readers.set_written((b + 1) * kPerBatch);
    if (store->map_bytes() != maps.back()) maps.push_back(store->map_bytes());
  }
  EXPECT_EQ(readers.stop(), 0);
  EXPECT_GE(maps.size(), 3u) << "growth steps";
  EXPECT_TRUE(std::is_sorted(maps.begin(), maps.end()));
  // Grown fourfold once want (the pages in use and a batch's room) passed
  // half of the map: at most eight times it (with 4 MiB of slack and a batch).
  EXPECT_LE(store->map_bytes(), 8 * store->used_bytes() + (40ull << 20));
  auto read_all = [&] {
    for (int i = 0; i < kBatches * kPerBatch; ++i) {
      std::string v;
      ASSERT_TRUE(store->get(key(i), &v).is_ok()) << i;
      ASSERT_EQ(v, value(i)) << i;
    }
  };
  read_all();
  store.reset();
  ASSERT_TRUE(Store::open(options, &store).is_ok());
  EXPECT_EQ(store->applied_index(), static_cast<std::uint64_t>(kBatches));
  read_all();
}

// The map stops at the quota plus headroom: past it a batch is refused
// RESOURCE_EXHAUSTED (what the node's admission against the quota keeps
// from happening), as with a map sized to the quota from the start.
TEST_F(StoreTest, MapStopsGrowingAtTheQuotaPlusHeadroom) {
  StoreOptions options;
  options.dir = dir_.string();
  options.quota_bytes = 1ull << 20;  // Headroom: 64 MiB.
  options.initial_map_bytes = 1ull << 20;
  std::unique_ptr<Store> store;
  ASSERT_TRUE(Store::open(options, &store).is_ok());
  std::vector<ApplyResult> results;
  util::Status s;
  std::uint64_t index = 0;
  while (s.is_ok() && index < 1000) {
    ++index;
    s = store->apply(
        std::vector<Command>{{Op::kPut, "k" + std::to_string(index), std::string(1 << 20, 'x')}},
        index, &results);
  }
  EXPECT_EQ(s.code(), util::Code::kResourceExhausted) << s.to_string();
  EXPECT_EQ(store->map_bytes(), (1ull << 20) + (64ull << 20));
  EXPECT_GT(store->used_bytes(), 48ull << 20);
  std::string v;
  EXPECT_TRUE(store->get("k1", &v).is_ok());
}

TEST_F(StoreTest, UsedBytesGrowsWithData) {
  auto store = open_store();
  const std::uint64_t before = store->used_bytes();
  std::vector<ApplyResult> results;
  ASSERT_TRUE(
      store->apply(std::vector<Command>{{Op::kPut, "big", std::string(1 << 20, 'x')}}, 1, &results)
          .is_ok());
  EXPECT_GE(store->used_bytes(), before + (1 << 20));
}

}  // namespace
}  // namespace dkv::kv

namespace dkv::kv {
namespace {

TEST_F(StoreTest, DumpAndRestoreRoundTrip) {
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  {
    auto store = open_store();
    std::vector<ApplyResult> results;
    ASSERT_TRUE(store->set_membership("a@127.0.0.1:1", 0).is_ok());
    ASSERT_TRUE(store
                    ->apply(std::vector<Command>{{Op::kPut, "k1", "v1"},
                                                 {Op::kPut, std::string("\0k", 2), ""},
                                                 {Op::kPut, "k2", std::string(70000, 'x')}},
                            9, &results)
                    .is_ok());
    ASSERT_TRUE(store->dump(&image, &index, &membership).is_ok());
  }
  EXPECT_EQ(index, 9u);
  EXPECT_EQ(membership, "a@127.0.0.1:1");
  std::uint64_t peeked = 0;
  std::string peeked_membership;
  ASSERT_TRUE(Store::peek_image(image, &peeked, &peeked_membership).is_ok());
  EXPECT_EQ(peeked, 9u);
  EXPECT_EQ(peeked_membership, "a@127.0.0.1:1");

  std::filesystem::remove_all(dir_);
  auto store = open_store();
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "stale", "s"}}, 3, &results).is_ok());
  ASSERT_TRUE(store->restore(image).is_ok());
  EXPECT_EQ(store->applied_index(), 9u);
  std::string value;
  EXPECT_EQ(store->get("stale", &value).code(), util::Code::kNotFound);  // Replaced, not merged.
  ASSERT_TRUE(store->get("k2", &value).is_ok());
  EXPECT_EQ(value.size(), 70000u);
  ASSERT_TRUE(store->get(std::string("\0k", 2), &value).is_ok());
  EXPECT_EQ(value, "");
  ASSERT_TRUE(store->membership(&value).is_ok());
  EXPECT_EQ(value, "a@127.0.0.1:1");
}

TEST_F(StoreTest, MalformedImagesChangeNothing) {
  auto store = open_store();
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "k", "v"}}, 2, &results).is_ok());
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(store->dump(&image, &index, &membership).is_ok());
  for (std::size_t cut = 0; cut < image.size(); ++cut) {
    EXPECT_EQ(store->restore(std::string_view(image).substr(0, cut)).code(), util::Code::kDataLoss)
        << cut;
  }
  EXPECT_EQ(store->restore(image + "x").code(), util::Code::kDataLoss);
  std::string value;
  ASSERT_TRUE(store->get("k", &value).is_ok());
  EXPECT_EQ(store->applied_index(), 2u);
}

// Streams `image` in pieces of `piece_bytes`.
Store::ImageIn pieces_of(const std::string& image, std::size_t piece_bytes) {
  auto offset = std::make_shared<std::size_t>(0);
  return [&image, piece_bytes, offset](std::string* piece, bool* done) {
    *done = *offset >= image.size();
    piece->assign(image, std::min(*offset, image.size()), piece_bytes);
    *offset += piece->size();
    return util::Status::ok();
  };
}

TEST_F(StoreTest, StreamedDumpAndRestoreMatchTheWholeImage) {
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  std::size_t pieces = 0;
  std::size_t largest_piece = 0;
  std::string streamed;
  {
    auto store = open_store();
    std::vector<ApplyResult> results;
    std::vector<Command> batch;
    for (int i = 0; i < 300; ++i) {
      batch.push_back(
          {Op::kPut, "key" + std::to_string(1000 + i), std::string(3000, 'a' + i % 26)});
    }
    ASSERT_TRUE(store->apply(batch, 5, &results).is_ok());
    ASSERT_TRUE(store->dump(&image, &index, &membership).is_ok());
    std::unique_ptr<Store::ReadView> view;
    ASSERT_TRUE(store->open_view(&view).is_ok());
    ASSERT_TRUE(store
                    ->dump(*view,
                           [&](std::string_view piece) {
                             ++pieces;
                             largest_piece = std::max(largest_piece, piece.size());
                             streamed.append(piece);
                             return util::Status::ok();
                           })
                    .is_ok());
  }
  EXPECT_EQ(streamed, image);
  EXPECT_GT(pieces, 2u);  // ~900 KiB in pieces of ~256 KiB.
  EXPECT_LE(largest_piece, Store::kImagePieceBytes + 4000);
  // Restored from pieces of every awkward size, including one byte at a time.
  for (std::size_t piece_bytes : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
    std::filesystem::remove_all(dir_);
    auto store = open_store();
    ASSERT_TRUE(store->restore(pieces_of(image, piece_bytes)).is_ok()) << piece_bytes;
    EXPECT_EQ(store->applied_index(), 5u);
    std::string value;
    ASSERT_TRUE(store->get("key1299", &value).is_ok());
    EXPECT_EQ(value, std::string(3000, 'a' + 299 % 26));
    std::string again;
    ASSERT_TRUE(store->dump(&again, &index, &membership).is_ok());
    EXPECT_EQ(again, image);
  }
}

// An image over kRestoreTxnBytes commits in parts; cut short after the first
// part, the store is visibly not restored (applied index 0, reads refused)
// rather than a silent mix; a full restore then brings it back.
TEST_F(StoreTest, LargeRestoreCommitsInPartsAndACutOneIsVisible) {
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  const std::string value(64 << 10, 'v');
  const int keys = static_cast<int>(Store::kRestoreTxnBytes / value.size()) * 2 + 3;
  {
    auto store = open_store(256ull << 20);
    std::vector<ApplyResult> results;
    std::vector<Command> batch;
    for (int i = 0; i < keys; ++i)
      batch.push_back({Op::kPut, "k" + std::to_string(100000 + i), value});
    ASSERT_TRUE(store->apply(batch, static_cast<std::uint64_t>(keys), &results).is_ok());
    ASSERT_TRUE(store->dump(&image, &index, &membership).is_ok());
  }
  ASSERT_GT(image.size(), 2 * Store::kRestoreTxnBytes);
  std::filesystem::remove_all(dir_);
  auto store = open_store(256ull << 20);
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(std::vector<Command>{{Op::kPut, "old", "o"}}, 7, &results).is_ok());
  const std::string cut = image.substr(0, image.size() - 100);
  EXPECT_EQ(store->restore(pieces_of(cut, 1 << 20)).code(), util::Code::kDataLoss);
  EXPECT_EQ(store->applied_index(), 0u);
  std::string got;
  EXPECT_EQ(store->get("old", &got).code(), util::Code::kUnavailable);
  ASSERT_TRUE(store->restore(pieces_of(image, 1 << 20)).is_ok());
  EXPECT_EQ(store->applied_index(), static_cast<std::uint64_t>(keys));
  ASSERT_TRUE(store->get("k" + std::to_string(100000 + keys - 1), &got).is_ok());
  EXPECT_EQ(got, value);
  EXPECT_EQ(store->get("old", &got).code(), util::Code::kNotFound);
  store.reset();
  store = open_store(256ull << 20);  // And durably so.
  EXPECT_EQ(store->applied_index(), static_cast<std::uint64_t>(keys));
}

// The streamed image is byte for byte dump()'s, at the state the reader was
// opened at, whatever the chunk size; later writes do not show up in it.
TEST_F(StoreTest, ImageReaderStreamsTheDumpAtOneIndex) {
  auto store = open_store();
  ASSERT_TRUE(store->set_membership("a@127.0.0.1:1", 1).is_ok());
  std::vector<Command> batch;
  for (int i = 0; i < 300; ++i) {
    batch.push_back({Op::kPut, "key" + std::to_string(i), std::string(i * 7, 'x')});
  }
  std::vector<ApplyResult> results;
  ASSERT_TRUE(store->apply(batch, 5, &results).is_ok());
  std::string dumped;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(store->dump(&dumped, &index, &membership).is_ok());

  for (std::size_t chunk_bytes :
       {std::size_t{1}, std::size_t{100}, std::size_t{4096}, std::size_t{1} << 20}) {
    std::unique_ptr<Store::ImageReader> reader;
    ASSERT_TRUE(store->open_image_reader(chunk_bytes, &reader).is_ok());
    // A write after the reader opened: not in its image.
    ASSERT_TRUE(store
                    ->apply(std::vector<Command>{{Op::kPut, "late", "v"}},
                            store->applied_index() + 1, &results)
                    .is_ok());
    EXPECT_EQ(reader->applied_index(), 5u);
    EXPECT_EQ(reader->size_bytes(), dumped.size());
    std::string streamed;
    for (bool done = false; !done;) {
      std::string chunk;
      ASSERT_TRUE(reader->next(&chunk, &done).is_ok());
      ASSERT_LE(chunk.size(), chunk_bytes);
      if (!done) {
        ASSERT_EQ(chunk.size(), chunk_bytes);
      }
      streamed += chunk;
    }
    EXPECT_EQ(streamed, dumped) << "chunk_bytes=" << chunk_bytes;
    // Undo "late" so the next round's image is the same.
    ASSERT_TRUE(store
                    ->apply(std::vector<Command>{{Op::kDelete, "late", ""}},
                            store->applied_index() + 1, &results)
                    .is_ok());
    ASSERT_TRUE(store->restore(dumped).is_ok());
  }
}

TEST_F(StoreTest, ImageReaderOfAnEmptyStoreIsAValidImage) {
  auto store = open_store();
  const std::string streamed = streamed_image(*store, 64);
  std::uint64_t index = 1;
  std::string membership = "x";
  ASSERT_TRUE(Store::peek_image(streamed, &index, &membership).is_ok());
  EXPECT_EQ(index, 0u);
  EXPECT_EQ(membership, "");
}

}  // namespace
}  // namespace dkv::kv
