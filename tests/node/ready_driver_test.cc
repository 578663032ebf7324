// ReadyDriver (node/ready_driver.h) over a WAL on the in-memory file system
// and a fake transport: the contract's order (send, fsync, send acks, apply),
// commit-only Readies applied first, a failed fsync that sends no ack, and
// a leader's Readies persisted by the WalWriter.
#include "node/ready_driver.h"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "wal/mem_file_system.h"

namespace dkv::node {
namespace {

class ReadyDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    open_log();
    fs_.set_fault_hook([this](wal::MemFileSystem::Op op, const std::string& path, std::uint64_t) {
      if (op != wal::MemFileSystem::Op::kSync || path.find("/wal/") == std::string::npos) {
        return util::Status::ok();
      }
      record("fsync");  // On the WalWriter's thread, if there is one.
      return fail_fsync_ ? util::Status(util::Code::kInternal, "EIO") : util::Status::ok();
    });
    make_driver(nullptr);
  }
  void TearDown() override { writer_.reset(); }
  void make_driver(WalWriter* writer) {
    driver_ = std::make_unique<ReadyDriver>(
        *log_, storage_, writer,
        ReadyDriver::Hooks{
            .send =
                [this](std::vector<raft::Message> ms) {
                  for (const auto& m : ms) record("send " + std::to_string(m.to));
                },
            .install_snapshot = [this](const raft::Snapshot&) {},
            .apply =
                [this](const std::vector<raft::Entry>& es) {
                  for (const auto& e : es) record("apply " + std::to_string(e.index));
                },
            .report_persisted = [this](raft::Index i,
                                       raft::Term) { record("persisted " + std::to_string(i)); }});
  }
  void use_writer() {
    writer_ = std::make_unique<WalWriter>(
        *log_, [] {},
        [](const std::string& what, const util::Status& s) {
          FAIL() << what << ": " << s.to_string();
        });
    make_driver(writer_.get());
  }
  void record(std::string event) {
    std::lock_guard<std::mutex> lock(events_mu_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> events() {
    std::lock_guard<std::mutex> lock(events_mu_);
    return events_;
  }
  void open_log() {
    wal::Options options;
    options.cluster_id = "1";
    options.node_id = "a";
    options.fs = &fs_;
    wal::Recovered recovered;
    ASSERT_TRUE(wal::Log::open("/db", options, &log_, &recovered).is_ok());
    recovered_ = recovered;
  }
  // A leader's persist_async Ready appending entry 1 (term 1).
  static raft::Ready leader_append() {
    raft::Ready rd;
    rd.persist_async = true;
    rd.hard_state = raft::HardState{1, 1, 0};
    rd.entries = {{1, 1, raft::EntryType::kNormal, "x"}};
    rd.must_sync = true;
    return rd;
  }
  static raft::Message to(raft::NodeId id) {
    raft::Message m;
    m.type = raft::MessageType::kApp;
    m.to = id;
    return m;
  }

  wal::MemFileSystem fs_;
  std::unique_ptr<wal::Log> log_;
  wal::Recovered recovered_;
  raft::MemoryStorage storage_;
  std::unique_ptr<WalWriter> writer_;
  std::unique_ptr<ReadyDriver> driver_;
  std::mutex events_mu_;
  std::vector<std::string> events_;
  bool fail_fsync_ = false;
};

TEST_F(ReadyDriverTest, SendsThenPersistsThenAcksThenApplies) {
  raft::Ready rd;
  rd.hard_state = raft::HardState{1, 1, 1};
  rd.entries = {{1, 1, raft::EntryType::kNormal, "x"}};
  rd.committed_entries = rd.entries;
  rd.messages = {to(2)};
  rd.messages_after_persist = {to(3)};
  rd.must_sync = true;
  const char* failed = "";
  ASSERT_TRUE(driver_->handle(rd, &failed).is_ok());
  EXPECT_EQ(events_, (std::vector<std::string>{"send 2", "fsync", "send 3", "apply 1"}));
  EXPECT_EQ(storage_.last_index(), 1u);
  EXPECT_EQ(storage_.hard_state().commit, 1u);
  // What the ack vouched for survives a crash.
  log_.reset();
  fs_.crash();
  open_log();
  ASSERT_EQ(recovered_.entries.size(), 1u);
  EXPECT_EQ(recovered_.hard_state.term, 1u);
}

TEST_F(ReadyDriverTest, ACommitOnlyReadyIsAppliedBeforeItsMessages) {
  raft::Ready first;
  first.hard_state = raft::HardState{1, 1, 0};
  first.entries = {{1, 1, raft::EntryType::kNormal, "x"}};
  first.must_sync = true;
  const char* failed = "";
  ASSERT_TRUE(driver_->handle(first, &failed).is_ok());
  events_.clear();  // No writer: only this thread records.
  raft::Ready rd;
  rd.hard_state = raft::HardState{1, 1, 1};  // Only the commit index moved.
  rd.committed_entries = first.entries;
  rd.messages = {to(2)};
  ASSERT_TRUE(ReadyDriver::apply_before_persist(rd));
  ASSERT_TRUE(driver_->handle(rd, &failed).is_ok());
  EXPECT_EQ(events_, (std::vector<std::string>{"apply 1", "send 2"}));  // No fsync either.
  EXPECT_EQ(storage_.hard_state().commit, 1u);
}

TEST_F(ReadyDriverTest, NewEntriesWithoutAnFsyncAreABug) {
  raft::Ready rd;
  rd.entries = {{1, 1, raft::EntryType::kNormal, "x"}};
  rd.messages_after_persist = {to(2)};  // Would acknowledge an unsynced entry.
  const char* failed = "";
  EXPECT_DEATH((void)driver_->handle(rd, &failed), "rd.must_sync");
}

TEST_F(ReadyDriverTest, AConfChangeKeepsTheUsualOrder) {
  raft::Ready rd;
  rd.committed_entries = {{1, 1, raft::EntryType::kConfChange, "cc"}};
  rd.messages = {to(2)};
  EXPECT_FALSE(ReadyDriver::apply_before_persist(rd));
  const char* failed = "";
  ASSERT_TRUE(driver_->handle(rd, &failed).is_ok());
  EXPECT_EQ(events_, (std::vector<std::string>{"send 2", "apply 1"}));
}

TEST_F(ReadyDriverTest, AFailedFsyncSendsNoAckAndAppliesNothing) {
  fail_fsync_ = true;
  raft::Ready rd;
  rd.hard_state = raft::HardState{2, 2, 0};  // A vote: must be durable first.
  rd.entries = {{2, 1, raft::EntryType::kNormal, "x"}};
  rd.messages_after_persist = {to(2)};
  rd.committed_entries = rd.entries;
  rd.must_sync = true;
  const char* failed = "";
  EXPECT_FALSE(driver_->handle(rd, &failed).is_ok());
  EXPECT_STREQ(failed, "WAL fsync failed");
  EXPECT_EQ(events_, (std::vector<std::string>{"fsync"}));
  EXPECT_EQ(storage_.last_index(), 0u);  // Not mirrored either.
}

// A persist_async Ready: sent and applied at once, its entries reach the
// raft storage and the core only once the writer made them durable.
TEST_F(ReadyDriverTest, AnAsyncReadyLandsOnceTheWriterSyncedIt) {
  use_writer();
  raft::Ready rd;
  rd.persist_async = true;
  rd.hard_state = raft::HardState{1, 1, 0};
  rd.entries = {{1, 1, raft::EntryType::kNormal, "x"}, {1, 2, raft::EntryType::kNormal, "y"}};
  rd.messages = {to(2)};
  rd.must_sync = true;
  const char* failed = "";
  ASSERT_TRUE(driver_->handle(rd, &failed).is_ok());
  ASSERT_TRUE(driver_->drain(&failed).is_ok());
  EXPECT_EQ(events(), (std::vector<std::string>{"send 2", "fsync", "persisted 2"}));
  EXPECT_EQ(storage_.last_index(), 2u);
  writer_.reset();
  log_.reset();
  fs_.crash();
  open_log();
  EXPECT_EQ(recovered_.entries.size(), 2u);
}

// A leader's commit-only Ready wakes no writer: its hard state rides with
// the next batch, or is written by drain().
TEST_F(ReadyDriverTest, AnAsyncCommitOnlyHardStateWaitsForTheNextWrite) {
  use_writer();
  raft::Ready first = leader_append();
  const char* failed = "";
  ASSERT_TRUE(driver_->handle(first, &failed).is_ok());
  ASSERT_TRUE(driver_->drain(&failed).is_ok());
  raft::Ready commit;
  commit.persist_async = true;
  commit.hard_state = raft::HardState{1, 1, 1};
  commit.committed_entries = {{1, 1, raft::EntryType::kNormal, "x"}};  // first's moved out.
  ASSERT_TRUE(driver_->handle(commit, &failed).is_ok());
  EXPECT_EQ(log_->hard_state().commit, 0u);  // Nothing queued: the writer sleeps.
  ASSERT_TRUE(driver_->drain(&failed).is_ok());
  EXPECT_EQ(log_->hard_state().commit, 1u);
  EXPECT_EQ(events(), (std::vector<std::string>{"fsync", "persisted 1", "apply 1"}));
}

// A Ready that is not persist_async waits for the writer: the WAL and the
// raft storage see every write in Ready order.
TEST_F(ReadyDriverTest, ASyncReadyWaitsForTheWritersBatches) {
  use_writer();
  raft::Ready first = leader_append();
  const char* failed = "";
  ASSERT_TRUE(driver_->handle(first, &failed).is_ok());
  raft::Ready rd;
  rd.hard_state = raft::HardState{2, 2, 0};  // A new term, a vote.
  rd.entries = {{2, 2, raft::EntryType::kNormal, "y"}};
  rd.messages_after_persist = {to(2)};
  rd.must_sync = true;
  ASSERT_TRUE(driver_->handle(rd, &failed).is_ok());
  EXPECT_EQ(events(), (std::vector<std::string>{"fsync", "persisted 1", "fsync", "send 2"}));
  EXPECT_EQ(storage_.last_index(), 2u);
  EXPECT_EQ(log_->last_index(), 2u);
}

}  // namespace
}  // namespace dkv::node
