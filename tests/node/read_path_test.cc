// ReadPath (node/read_path.h) with a fake state machine: a batch is served
// only once the applied index reaches its read index, every read completes
// exactly once, and unanswered rounds are asked again.
#include "node/read_path.h"
#include "node/read_server.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace dkv::node {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kElectionTicks = 3;

class FakeState final : public StateReader {
 public:
  raft::Index applied_index() const override { return applied; }
  util::Status get(std::string_view key, std::string* value) const override {
    ++gets;
    // The invariant, from the outside: never read below a read index.
    EXPECT_GE(applied, min_applied_for_get);
    auto it = data.find(std::string(key));
    if (it == data.end()) return util::not_found("no key");
    *value = it->second;
    return util::Status::ok();
  }
  raft::Index applied = 0;
  raft::Index min_applied_for_get = 0;
  std::map<std::string, std::string> data;
  mutable int gets = 0;
};

class ReadPathTest : public ::testing::Test {
 protected:
  void TearDown() override { path_.fail_all(util::unavailable("test over")); }
  PendingRead read(const std::string& key, Clock::time_point deadline, bool barrier = false) {
    PendingRead r;
    r.key = key;
    r.deadline = deadline;
    r.barrier_only = barrier;
    r.done = [this, key](util::Status s, std::string value) {
      Outcome& o = outcomes_[key];
      ++o.calls;
      o.status = s;
      o.value = value;
    };
    return r;
  }
  ReadPath::ReadIndexFn asker() {
    return [this](std::string context) { asked_.push_back(std::move(context)); };
  }
  void start(std::vector<PendingRead> reads) { path_.start(std::move(reads), asker()); }

  struct Outcome {
    int calls = 0;
    util::Status status;
    std::string value;
  };
  ReadPath path_{kElectionTicks};
  FakeState state_;
  std::vector<std::string> asked_;
  std::map<std::string, Outcome> outcomes_;
  const Clock::time_point far_ = Clock::now() + std::chrono::hours(1);
};

TEST_F(ReadPathTest, ServesABatchOnlyOnceItsReadIndexIsApplied) {
  std::vector<PendingRead> reads;
  reads.push_back(read("k", far_));
  reads.push_back(read("missing", far_));
  start(std::move(reads));
  ASSERT_EQ(asked_.size(), 1u);  // One round for the batch.
  state_.data["k"] = "v";
  state_.applied = 10;
  path_.serve(state_);
  EXPECT_TRUE(outcomes_.empty());  // No read index yet.
  ASSERT_TRUE(path_.on_read_state({12, asked_[0]}));
  path_.serve(state_);
  EXPECT_TRUE(outcomes_.empty());  // Applied 10 < read index 12.
  state_.applied = 12;
  state_.min_applied_for_get = 12;
  path_.serve(state_);
  EXPECT_EQ(outcomes_["k"].calls, 1);
  EXPECT_EQ(outcomes_["k"].value, "v");
  EXPECT_EQ(outcomes_["missing"].status.code(), util::Code::kNotFound);
  EXPECT_EQ(path_.batch_count(), 0u);
  path_.serve(state_);  // Nothing is served twice.
  EXPECT_EQ(outcomes_["k"].calls, 1);
}

TEST_F(ReadPathTest, ABarrierReadsNothing) {
  std::vector<PendingRead> reads;
  reads.push_back(read("members", far_, /*barrier=*/true));
  start(std::move(reads));
  ASSERT_TRUE(path_.on_read_state({1, asked_[0]}));
  state_.applied = 1;
  path_.serve(state_);
  EXPECT_TRUE(outcomes_["members"].status.is_ok());
  EXPECT_EQ(state_.gets, 0);
}

// A read with a callback (etcd's Range, read-only Txn: Node::read_store)
// runs it only once its read index is applied, instead of a get, and hands
// its status to done.
TEST_F(ReadPathTest, ACallbackReadRunsOnlyOnceItsReadIndexIsApplied) {
  int runs = 0;
  raft::Index applied_when_run = 0;
  PendingRead r = read("range", far_);
  r.read = [&] {
    ++runs;
    applied_when_run = state_.applied;
    return util::Status(util::Code::kOutOfRange, "compacted");
  };
  std::vector<PendingRead> reads;
  reads.push_back(std::move(r));
  start(std::move(reads));
  ASSERT_TRUE(path_.on_read_state({7, asked_[0]}));
  state_.applied = 6;
  path_.serve(state_);
  EXPECT_EQ(runs, 0);
  state_.applied = 7;
  path_.serve(state_);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(applied_when_run, 7u);
  EXPECT_EQ(outcomes_["range"].calls, 1);
  EXPECT_EQ(outcomes_["range"].status.code(), util::Code::kOutOfRange);
  EXPECT_EQ(state_.gets, 0);  // Served by the callback, not by a get.
}

TEST_F(ReadPathTest, ACallbackReadPastItsDeadlineNeverRuns) {
  const auto now = Clock::now();
  bool ran = false;
  PendingRead r = read("range", now);
  r.read = [&] {
    ran = true;
    return util::Status::ok();
  };
  std::vector<PendingRead> reads;
  reads.push_back(std::move(r));
  start(std::move(reads));
  path_.on_tick(now + std::chrono::seconds(1), asker());
  EXPECT_EQ(outcomes_["range"].status.code(), util::Code::kUnavailable);
  ASSERT_FALSE(path_.on_read_state({1, asked_[0]}));  // The batch is gone.
  state_.applied = 1;
  path_.serve(state_);
  EXPECT_FALSE(ran);
  EXPECT_EQ(outcomes_["range"].calls, 1);
}

TEST_F(ReadPathTest, AsksAgainAfterAnElectionTimeoutAndIgnoresTheOldAnswer) {
  std::vector<PendingRead> reads;
  reads.push_back(read("k", far_));
  start(std::move(reads));
  for (int i = 0; i < kElectionTicks; ++i) path_.on_tick(Clock::now(), asker());
  ASSERT_EQ(asked_.size(), 2u);
  EXPECT_NE(asked_[0], asked_[1]);
  EXPECT_FALSE(path_.on_read_state({5, asked_[0]}));  // The old round's answer.
  EXPECT_FALSE(path_.on_read_state({5, "ready:1"}));  // Not a read round.
  ASSERT_TRUE(path_.on_read_state({5, asked_[1]}));
  state_.applied = 5;
  path_.serve(state_);
  EXPECT_EQ(outcomes_["k"].calls, 1);
}

TEST_F(ReadPathTest, ALeaderChangeAsksAgainAtTheNextTick) {
  std::vector<PendingRead> reads;
  reads.push_back(read("k", far_));
  start(std::move(reads));
  path_.on_leader_change();
  path_.on_tick(Clock::now(), asker());
  EXPECT_EQ(asked_.size(), 2u);
}

TEST_F(ReadPathTest, ExpiresReadsPastTheirDeadlineOnce) {
  const auto now = Clock::now();
  std::vector<PendingRead> reads;
  reads.push_back(read("late", now));
  reads.push_back(read("k", far_));
  start(std::move(reads));
  path_.on_tick(now + std::chrono::seconds(1), asker());
  EXPECT_EQ(outcomes_["late"].status.code(), util::Code::kUnavailable);
  EXPECT_EQ(outcomes_.count("k"), 0u);
  ASSERT_TRUE(path_.on_read_state({1, asked_[0]}));
  state_.applied = 1;
  path_.serve(state_);
  EXPECT_EQ(outcomes_["late"].calls, 1);
  EXPECT_EQ(outcomes_["k"].calls, 1);
}

TEST_F(ReadPathTest, FailAllAnswersEveryRead) {
  std::vector<PendingRead> reads;
  reads.push_back(read("a", far_));
  start(std::move(reads));
  reads.clear();
  reads.push_back(read("b", far_));
  start(std::move(reads));
  path_.fail_all(util::unavailable("stopping"));
  EXPECT_EQ(outcomes_["a"].status.code(), util::Code::kUnavailable);
  EXPECT_EQ(outcomes_["b"].calls, 1);
  EXPECT_EQ(path_.batch_count(), 0u);
}

}  // namespace
}  // namespace dkv::node

namespace dkv::node {
namespace {

// ReadServer (node/read_server.h): batches are answered on the read
// thread, each read once, and what is queued at stop() is still served.
TEST(ReadServerTest, ServesPostedBatchesOffTheCallersThreadOnce) {
  FakeState state;
  state.applied = 7;
  state.min_applied_for_get = 5;
  state.data["k"] = "v";
  std::mutex mu;
  std::map<std::string, int> calls;
  std::set<std::thread::id> threads;
  auto make = [&](const std::string& key) {
    PendingRead r;
    r.key = key;
    r.done = [&, key](util::Status s, std::string value) {
      std::lock_guard lock(mu);
      ++calls[key];
      threads.insert(std::this_thread::get_id());
      EXPECT_EQ(s.is_ok(), key == "k");
      EXPECT_EQ(value, key == "k" ? "v" : "");
    };
    return r;
  };
  {
    ReadServer server(state);
    for (int i = 0; i < 3; ++i) {
      std::vector<ServableReads> batches(1);
      batches[0].read_index = 5;
      batches[0].reads.push_back(make(i == 0 ? "k" : "missing" + std::to_string(i)));
      server.post(std::move(batches));
    }
    server.stop();
  }
  EXPECT_EQ(calls, (std::map<std::string, int>{{"k", 1}, {"missing1", 1}, {"missing2", 1}}));
  ASSERT_EQ(threads.size(), 1u);
  EXPECT_NE(*threads.begin(), std::this_thread::get_id());
}

// With a Background (node/background.h, the node simulator's seam) there is
// no read thread: each post() becomes one task, and nothing is served until
// the Background's owner runs it, on its own thread.
TEST(ReadServerTest, WithABackgroundServesOnlyWhenItsTaskRuns) {
  struct Collect final : Background {
    void run(Kind kind, std::function<void()> task) override {
      EXPECT_EQ(kind, Kind::kReads);
      tasks.push_back(std::move(task));
    }
    std::vector<std::function<void()>> tasks;
  } background;
  FakeState state;
  state.applied = 3;
  state.data["k"] = "v";
  int calls = 0;
  ReadServer server(state, &background);
  std::vector<ServableReads> batches(1);
  batches[0].read_index = 3;
  PendingRead r;
  r.key = "k";
  r.done = [&](util::Status s, std::string value) {
    ++calls;
    EXPECT_TRUE(s.is_ok());
    EXPECT_EQ(value, "v");
  };
  batches[0].reads.push_back(std::move(r));
  server.post(std::move(batches));
  server.post({});  // Nothing to serve: no task.
  ASSERT_EQ(background.tasks.size(), 1u);
  EXPECT_EQ(calls, 0);
  background.tasks[0]();
  EXPECT_EQ(calls, 1);
  server.stop();
}

// The read-before-applied canary (NodeCanaries): a batch whose read index is
// known but not applied is handed out, claiming the applied index.
TEST(ReadPathCanaryTest, ReadBeforeAppliedServesAboveTheAppliedIndex) {
  ReadPath path(3, /*canary_read_before_applied=*/true);
  std::vector<std::string> asked;
  std::vector<PendingRead> reads(1);
  int calls = 0;
  reads[0].key = "k";
  reads[0].done = [&](util::Status, std::string) { ++calls; };
  path.start(std::move(reads), [&](std::string c) { asked.push_back(std::move(c)); });
  ASSERT_EQ(asked.size(), 1u);
  ASSERT_TRUE(path.on_read_state(raft::ReadState{9, asked[0]}));
  std::vector<ServableReads> out = path.take_servable(4);
  ASSERT_EQ(out.size(), 1u);  // Without the canary: nothing until 9 is applied.
  EXPECT_EQ(out[0].read_index, 4u);
  FakeState state;
  state.applied = 4;
  serve_reads(out[0], state);
  EXPECT_EQ(calls, 1);
}

TEST(ReadServerTest, ABatchAboveTheAppliedIndexIsABug) {
  FakeState state;
  state.applied = 4;
  ServableReads batch;
  batch.read_index = 5;
  EXPECT_DEATH(serve_reads(batch, state), "applied_index\\(\\) >= batch.read_index");
}

}  // namespace
}  // namespace dkv::node
