// Random property test: appends (with overwrites), hard states, syncs,
// snapshot markers (matching, mismatching and past the end), compactions,
// injected I/O errors (fatal: the log refuses further work and the node
// crashes), clean restarts and crashes (all crash modes), against the model
// of testing::ModelState. After a clean restart the log must give back
// exactly what was written; after a crash, a state between the last one
// reported durable and the last one written.
// One seed drives each run; the seed is printed on failure. Replay one with
//   DKV_WAL_SEED=<seed> wal_test --gtest_filter='WalProperty.*'
// and run more with DKV_WAL_SEEDS=<count>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "test_util.h"
#include "wal/log.h"
#include "wal/mem_file_system.h"

namespace dkv::wal {
namespace {

using testing::History;
using testing::make_entries;
using testing::mem_options;
using testing::ModelState;

class ModelRun {
 public:
  explicit ModelRun(std::uint64_t seed) : rng_(seed) {
    const std::uint64_t sizes[] = {1024, 2048, 4096};
    segment_bytes_ = sizes[rng_() % 3];
  }

  void go(int steps) {
    reopen(/*crashed=*/false);
    for (int step = 0; step < steps && !::testing::Test::HasFatalFailure(); ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const int dice = static_cast<int>(rng_() % 100);
      if (dice < 45) {
        append();
      } else if (dice < 70) {
        if (ok(log_->sync())) h_.synced();
      } else if (dice < 78) {
        marker();
      } else if (dice < 86) {
        release();
      } else if (dice < 90) {
        // An I/O error at one of the next few file operations.
        const std::uint64_t at = fs_.op_count() + pick(0, 4);
        fs_.set_fault_hook([at](MemFileSystem::Op, const std::string&, std::uint64_t n) {
          return n == at ? util::internal_error("injected I/O error") : util::Status::ok();
        });
      } else if (dice < 95) {
        fs_.set_fault_hook(nullptr);
        log_.reset();  // Process exit: written data stays in the page cache.
        reopen(false);
      } else {
        crash_and_reopen();
      }
    }
  }

 private:
  std::uint64_t pick(std::uint64_t lo, std::uint64_t hi) { return lo + rng_() % (hi - lo + 1); }

  void crash_and_reopen() {
    fs_.set_fault_hook(nullptr);
    log_.reset();
    const MemFileSystem::CrashMode modes[] = {MemFileSystem::CrashMode::kLoseUnsynced,
                                              MemFileSystem::CrashMode::kKeepRandomPrefix,
                                              MemFileSystem::CrashMode::kKeepRandomSectors};
    const auto mode = modes[rng_() % 3];
    fs_.crash(mode, rng_());
    reopen(true);
  }

  // True if `s` is OK. An error can only be an injected one: then the log
  // must refuse all further work, and the node stops (a crash, here).
  bool ok(const util::Status& s) {
    if (s.is_ok()) return true;
    EXPECT_NE(s.message().find("injected I/O error"), std::string::npos) << s.to_string();
    EXPECT_FALSE(log_->fatal_error().is_ok());
    EXPECT_FALSE(log_->sync().is_ok());
    ++errors_;
    crash_and_reopen();
    return false;
  }

  void reopen(bool crashed) {
    Recovered rec;
    Options o = mem_options(fs_, segment_bytes_);
    o.entries_before_snapshot_max = 8;
    const util::Status s = Log::open(testing::kDb, o, &log_, &rec);
    ASSERT_TRUE(s.is_ok()) << s.to_string() << "\n" << testing::dump_wal(fs_);
    const ModelState got = ModelState::from(rec);
    const ModelState* want = crashed ? h_.find(got) : &h_.current();
    if (crashed) {
      ASSERT_NE(want, nullptr) << "recovered " << got.describe() << h_.describe_allowed() << "\n"
                               << testing::dump_wal(fs_);
    } else {
      ASSERT_EQ(got, *want) << "recovered " << got.describe() << " wrote " << want->describe();
    }
    // Entries before the snapshot: the newest ones the markers covered.
    ASSERT_LE(rec.entries_before_snapshot.size(), 8u);
    ASSERT_TRUE(want->before_allows(rec)) << "entries before the snapshot differ";
    if (!rec.entries_before_snapshot.empty()) {
      ASSERT_EQ(rec.entries_before_snapshot.back().index, got.marker.index);
      ++befores_;
    }
    ASSERT_EQ(log_->last_index(), got.last_index());
    h_ = History{};
    h_.states = {got};  // open() makes what it recovered durable.
    hs_ = got.hard_state;
  }

  void append() {
    const ModelState& cur = h_.current();
    const bool with_hs = rng_() % 2 == 0;
    if (rng_() % 8 == 0) {  // A new term, with a vote.
      hs_.term += 1;
      hs_.vote = pick(0, 3);
    } else if (hs_.vote == 0) {
      hs_.vote = pick(0, 3);
    }
    hs_.commit += pick(0, 2);
    raft::Index first = cur.last_index() + 1;
    if (rng_() % 6 == 0 && cur.last_index() > cur.marker.index) {
      first = pick(cur.marker.index + 1, cur.last_index());  // Overwrite a suffix.
      hs_.term += 1;  // Conflicting entries come from a newer leader.
    }
    const raft::Term term = std::max(hs_.term, cur.last_term());
    hs_.term = term;
    const auto es = make_entries(first, pick(0, 5), term, pick(0, 200));
    const raft::HardState hs = hs_;
    if (!ok(log_->save(with_hs ? &hs : nullptr, es))) return;
    h_.saved(with_hs ? &hs : nullptr, es);
    if (!with_hs) hs_ = h_.current().hard_state;  // Unsaved changes never happened.
  }

  void marker() {
    const ModelState& cur = h_.current();
    if (cur.last_index() == cur.marker.index && rng_() % 2 == 0) return;
    SnapshotMarker m;
    if (rng_() % 5 == 0) {
      m.index = cur.last_index() + pick(1, 5);  // An installed snapshot past our log.
      m.term = std::max(cur.last_term(), hs_.term);
    } else if (cur.last_index() > cur.marker.index) {
      m.index = pick(cur.marker.index + 1, cur.last_index());
      m.term = rng_() % 5 == 0 ? std::max(hs_.term, cur.last_term()) : cur.term_at(m.index);
    } else {
      return;
    }
    h_.marking(m);
    if (ok(log_->save_snapshot_marker(m))) h_.synced();
  }

  void release() {
    const raft::Index upto = pick(0, h_.current().marker.index + 1);
    (void)ok(log_->release_to(upto));
  }

  std::mt19937_64 rng_;
  std::uint64_t segment_bytes_ = 0;
  MemFileSystem fs_;
  std::unique_ptr<Log> log_;
  History h_;
  raft::HardState hs_;  // The next hard state to save.

 public:
  int errors_ = 0;   // Injected errors that hit the log.
  int befores_ = 0;  // Reopens that returned entries before the snapshot.
};

TEST(WalProperty, RandomOperationsMatchTheModel) {
  std::vector<std::uint64_t> seeds;
  if (const char* one = std::getenv("DKV_WAL_SEED")) {
    seeds.push_back(std::strtoull(one, nullptr, 10));
  } else {
    const char* n = std::getenv("DKV_WAL_SEEDS");
    const std::uint64_t count = n != nullptr ? std::strtoull(n, nullptr, 10) : 16;
    for (std::uint64_t i = 0; i < count; ++i) seeds.push_back(1000 + i);
  }
  int injected = 0;
  int befores = 0;
  for (const std::uint64_t seed : seeds) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay: DKV_WAL_SEED=" + std::to_string(seed) +
                 ")");
    ModelRun run(seed);
    run.go(400);
    injected += run.errors_;
    befores += run.befores_;
    if (HasFailure()) {
      std::fprintf(stderr, "WalProperty failed: seed=%llu\n",
                   static_cast<unsigned long long>(seed));
      return;
    }
  }
  if (seeds.size() > 10) {
    EXPECT_GT(injected, 0);
    EXPECT_GT(befores, 0);
  }
}

}  // namespace
}  // namespace dkv::wal
