// WatchHub and catch_up_once over a real kv::Store, without threads: the
// store's history listener publishes to the hub, and the tests run the
// catch-up passes themselves.
#include "node/watch_hub.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/mvcc_request.h"
#include "kv/store.h"
#include "node/watch_catchup.h"

namespace dkv::node {
namespace {

// Records what each watcher was offered; refuses beyond `capacity` queued
// events (the stream's memory budget) until drain().
class RecordingSink : public WatchSink {
 public:
  explicit RecordingSink(std::size_t capacity = 1u << 30) : capacity_(capacity) {}
  bool offer(std::int64_t id, std::vector<WatchEvent>&& events, std::int64_t as_of) override {
    if (queued_ + events.size() > capacity_ && queued_ > 0) return false;
    queued_ += events.size();
    last_as_of[id] = as_of;
    offers[id].push_back(std::move(events));
    return true;
  }
  std::map<std::int64_t, std::int64_t> last_as_of;  // The latest offer's as_of, per watcher.
  void compacted(std::int64_t id, std::int64_t compact_revision) override {
    compacted_at[id] = compact_revision;
  }
  void drain() { queued_ = 0; }

  // Every event offered to `id`, as "rev:key" / "rev:-key" for deletes.
  std::vector<std::string> seen(std::int64_t id) const {
    std::vector<std::string> out;
    auto it = offers.find(id);
    if (it == offers.end()) return out;
    for (const auto& offer : it->second) {
      for (const auto& e : offer) {
        out.push_back(std::to_string(e->kv().mod_revision()) + ":" +
                      (e->type() == mvccpb::Event::DELETE ? "-" : "") + e->kv().key());
      }
    }
    return out;
  }

  std::map<std::int64_t, std::vector<std::vector<WatchEvent>>> offers;
  std::map<std::int64_t, std::int64_t> compacted_at;

 private:
  const std::size_t capacity_;
  std::size_t queued_ = 0;
};

class WatchHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("watch_hub_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    store_ = open_store(dir_ / "a");
    hub_ = std::make_unique<WatchHub>(store_->current_revision(), store_->compact_revision());
    store_->set_history_listener([this](kv::CommittedHistory&& h) { hub_->publish(std::move(h)); });
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static std::unique_ptr<kv::Store> open_store(const std::filesystem::path& dir) {
    kv::StoreOptions options;
    options.dir = dir.string();
    options.quota_bytes = 64ull << 20;
    std::unique_ptr<kv::Store> store;
    EXPECT_TRUE(kv::Store::open(options, &store).is_ok());
    return store;
  }

  void apply(kv::Store& store, std::vector<kv::Command> batch) {
    std::vector<kv::ApplyResult> results;
    ASSERT_TRUE(store.apply(batch, store.applied_index() + 1, &results).is_ok());
  }
  void put(const std::string& key, const std::string& value = "v") {
    apply(*store_, {{kv::Op::kPut, key, value}});
  }
  // One etcd txn putting both keys: one revision, two events.
  void put_two(const std::string& a, const std::string& b) {
    etcdserverpb::TxnRequest txn;
    for (const auto& k : {a, b}) {
      auto* p = txn.add_success()->mutable_request_put();
      p->set_key(k);
      p->set_value("t");
    }
    apply(*store_, {kv::etcd_command(txn)});
  }
  void compact(std::int64_t revision) {
    etcdserverpb::CompactionRequest c;
    c.set_revision(revision);
    apply(*store_, {kv::etcd_command(c)});
  }
  HistoryReadFn reader(kv::Store* store = nullptr) {
    if (store == nullptr) store = store_.get();
    return [store](std::int64_t from, std::int64_t to, std::size_t bytes,
                   std::vector<kv::HistoryEvent>* out, std::int64_t* through) {
      return store->read_history(from, to, bytes, out, through);
    };
  }
  // Runs catch-up passes until none moves (bounded).
  void catch_up(std::size_t batch_bytes = kCatchupBatchBytes) {
    for (int i = 0; i < 1000 && catch_up_once(*hub_, reader(), batch_bytes); ++i) {
    }
  }
  // Registers a watcher; its tag (what the sink sees) is returned.
  std::int64_t add(const WatchSpec& spec, RecordingSink* sink) {
    const std::int64_t tag = next_tag_++;
    const WatchHub::Added added = hub_->add(spec, sink, tag);
    EXPECT_EQ(added.compact_revision, 0);
    ids_[tag] = added.id;
    return tag;
  }
  static WatchSpec prefix(const std::string& p, std::int64_t start = 0) {
    WatchSpec spec;
    spec.key = p;
    spec.range_end = p;
    spec.range_end.back() = static_cast<char>(spec.range_end.back() + 1);
    spec.start_revision = start;
    return spec;
  }

  std::filesystem::path dir_;
  std::unique_ptr<kv::Store> store_;
  std::unique_ptr<WatchHub> hub_;
  std::int64_t next_tag_ = 1;
  std::map<std::int64_t, WatcherId> ids_;  // Tag -> hub id.
};

TEST_F(WatchHubTest, SyncedWatcherGetsItsRangeInOrderOneRevisionPerOffer) {
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/"), &sink);
  put("p/a");                                      // rev 2
  put("q/x");                                      // rev 3: not its range
  put_two("p/b", "p/c");                           // rev 4: both in one offer
  apply(*store_, {{kv::Op::kDelete, "p/a", ""}});  // rev 5
  EXPECT_EQ(sink.seen(w), (std::vector<std::string>{"2:p/a", "4:p/b", "4:p/c", "5:-p/a"}));
  ASSERT_EQ(sink.offers[w].size(), 3u);
  EXPECT_EQ(sink.offers[w][1].size(), 2u);  // Atomic: revision 4 in one offer.
  EXPECT_EQ(sink.last_as_of[w], 5);         // A live offer is as of its own revision.
  EXPECT_EQ(hub_->unsynced_count(), 0u);
}

TEST_F(WatchHubTest, FiltersAndSingleKey) {
  RecordingSink sink;
  WatchSpec nodelete = prefix("p/");
  nodelete.no_delete = true;
  WatchSpec single;
  single.key = "p/a";
  const std::int64_t a = add(nodelete, &sink);
  const std::int64_t b = add(single, &sink);
  put("p/a");
  put("p/ab");
  apply(*store_, {{kv::Op::kDelete, "p/a", ""}});
  EXPECT_EQ(sink.seen(a), (std::vector<std::string>{"2:p/a", "3:p/ab"}));
  EXPECT_EQ(sink.seen(b), (std::vector<std::string>{"2:p/a", "4:-p/a"}));
}

TEST_F(WatchHubTest, StartRevisionReplaysHistoryThenJoinsWithoutGapOrRepeat) {
  for (int i = 0; i < 5; ++i) put("p/" + std::to_string(i));  // revs 2..6
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/", 3), &sink);
  EXPECT_EQ(hub_->unsynced_count(), 1u);
  put("p/late");  // rev 7, published while it is unsynced: not offered.
  EXPECT_TRUE(sink.seen(w).empty());
  catch_up();
  EXPECT_EQ(sink.last_as_of[w], 7);  // History read as of the published revision (etcd's header).
  EXPECT_EQ(hub_->unsynced_count(), 0u);
  put("p/after");  // rev 8, published.
  EXPECT_EQ(sink.seen(w), (std::vector<std::string>{"3:p/1", "4:p/2", "5:p/3", "6:p/4", "7:p/late",
                                                    "8:p/after"}));
}

// A publish between the catch-up's read and its hand-in: the watcher must
// not join then (it would miss the new revision), but at the next pass.
TEST_F(WatchHubTest, NoGapWhenAPublishRacesTheCatchUpRead) {
  put("p/0");  // rev 2
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/", 2), &sink);
  bool raced = false;
  HistoryReadFn racing = [&](std::int64_t from, std::int64_t to, std::size_t bytes,
                             std::vector<kv::HistoryEvent>* out, std::int64_t* through) {
    util::Status s = store_->read_history(from, to, bytes, out, through);
    if (!raced) {
      raced = true;
      put("p/raced");  // rev 3: committed and published after the read.
    }
    return s;
  };
  EXPECT_TRUE(catch_up_once(*hub_, racing));
  EXPECT_EQ(hub_->unsynced_count(), 1u);  // Not joined: rev 3 is not its.
  catch_up();
  EXPECT_EQ(hub_->unsynced_count(), 0u);
  put("p/next");
  EXPECT_EQ(sink.seen(w), (std::vector<std::string>{"2:p/0", "3:p/raced", "4:p/next"}));
}

TEST_F(WatchHubTest, SlowWatcherIsUnbufferedAndCatchesUpWhileOthersGoOn) {
  RecordingSink slow(/*capacity=*/3);
  RecordingSink fast;
  const std::int64_t s = add(prefix("p/"), &slow);
  const std::int64_t f = add(prefix("p/"), &fast);
  for (int i = 0; i < 20; ++i) put("p/" + std::to_string(i));  // revs 2..21
  EXPECT_EQ(fast.seen(f).size(), 20u);
  EXPECT_EQ(slow.seen(s).size(), 3u);  // Its budget, then nothing buffered.
  EXPECT_EQ(hub_->unsynced_count(), 1u);
  // The consumer drains a little at a time; small batches of hist.
  for (int i = 0; i < 100 && hub_->unsynced_count() > 0; ++i) {
    slow.drain();
    catch_up_once(*hub_, reader(), /*batch_bytes=*/8);
  }
  EXPECT_EQ(hub_->unsynced_count(), 0u);
  slow.drain();
  put("p/last");
  std::vector<std::string> want;
  for (int i = 0; i < 20; ++i) want.push_back(std::to_string(i + 2) + ":p/" + std::to_string(i));
  want.push_back("22:p/last");
  EXPECT_EQ(slow.seen(s), want);
}

TEST_F(WatchHubTest, CompactionCancelsUnsyncedWatchersAtOrBelowIt) {
  for (int i = 0; i < 5; ++i) put("p/" + std::to_string(i));  // revs 2..6
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/", 3), &sink);  // Unsynced at 3.
  const std::int64_t live = add(prefix("p/"), &sink);  // Synced at 7.
  compact(5);
  EXPECT_EQ(sink.compacted_at.at(w), 5);
  EXPECT_EQ(sink.compacted_at.count(live), 0u);
  EXPECT_EQ(hub_->watcher_count(), 1u);
  // Physical compaction now cannot take what a watcher needs.
  bool more = true;
  while (more) ASSERT_TRUE(store_->compact_step(&more).is_ok());
  // A start revision at or below the compact revision is refused.
  EXPECT_EQ(hub_->add(prefix("p/", 4), &sink, 99).compact_revision, 5);
  EXPECT_EQ(hub_->add(prefix("p/", 5), &sink, 98).compact_revision, 5);
  EXPECT_EQ(hub_->add(prefix("p/", 6), &sink, 97).compact_revision, 0);
}

TEST_F(WatchHubTest, StartRevisionAheadWaitsUntilTheMemberGetsThere) {
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/", 4), &sink);
  EXPECT_EQ(hub_->unsynced_count(), 0u);
  put("p/a");  // 2
  put("p/b");  // 3
  put("p/c");  // 4
  EXPECT_EQ(sink.seen(w), (std::vector<std::string>{"4:p/c"}));
}

// A follower installs a snapshot that jumps its revision: the watcher reads
// the skipped revisions from the restored hist, none lost or repeated.
TEST_F(WatchHubTest, SnapshotJumpMovesWatchersToCatchUp) {
  auto leader = open_store(dir_ / "leader");
  put("p/0");  // this member: rev 2
  apply(*leader, {{kv::Op::kPut, "p/0", "v"}});
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/"), &sink);  // Synced at 3.
  for (int i = 1; i < 5; ++i) apply(*leader, {{kv::Op::kPut, "p/" + std::to_string(i), "v"}});
  std::string image;
  std::uint64_t index = 0;
  std::string membership;
  ASSERT_TRUE(leader->dump(&image, &index, &membership).is_ok());
  ASSERT_TRUE(store_->restore(image).is_ok());
  EXPECT_EQ(hub_->published_revision(), 6);
  EXPECT_EQ(hub_->unsynced_count(), 1u);
  catch_up();
  put("p/5");
  EXPECT_EQ(sink.seen(w), (std::vector<std::string>{"3:p/1", "4:p/2", "5:p/3", "6:p/4", "7:p/5"}));
}

TEST_F(WatchHubTest, RemovedWatcherGetsNothing) {
  RecordingSink sink;
  const std::int64_t w = add(prefix("p/"), &sink);
  hub_->remove(ids_[w]);
  put("p/a");
  EXPECT_TRUE(sink.seen(w).empty());
  EXPECT_EQ(hub_->watcher_count(), 0u);
}

TEST_F(WatchHubTest, ProgressOnlyWhenEveryWatcherIsSynced) {
  for (int i = 0; i < 3; ++i) put("p/" + std::to_string(i));
  RecordingSink sink;
  const std::int64_t a = add(prefix("p/"), &sink);
  const std::int64_t b = add(prefix("p/", 2), &sink);
  std::int64_t rev = 0;
  EXPECT_FALSE(hub_->all_synced({ids_[a], ids_[b]}, &rev));
  catch_up();
  EXPECT_TRUE(hub_->all_synced({ids_[a], ids_[b]}, &rev));
  EXPECT_EQ(rev, 4);
}

}  // namespace
}  // namespace dkv::node
