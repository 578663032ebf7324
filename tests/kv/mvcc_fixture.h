// A Store in a temp directory and short ways to apply etcd requests to it,
// for the MVCC engine's tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kv/mvcc_request.h"
#include "kv/store.h"

namespace dkv::kv {

class MvccFixture : public ::testing::Test {
 protected:
  // etcd's "\0": as a range end, every key from the start key on.
  static inline const std::string kNul = std::string(1, '\0');

  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("mvcc_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void reopen() {
    store_.reset();
    StoreOptions options;
    options.dir = dir_.string();
    options.quota_bytes = 256ull << 20;
    util::Status s = Store::open(options, &store_);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
  }

  // Applies `commands` as one batch (one log entry each, one transaction).
  std::vector<ApplyResult> apply_batch(const std::vector<Command>& commands) {
    std::vector<ApplyResult> results;
    util::Status s = store_->apply(commands, store_->applied_index() + commands.size(), &results);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return results;
  }
  EtcdResult apply(const Command& command) {
    auto results = apply_batch({command});
    return *results.at(0).etcd;
  }

  EtcdResult put(const std::string& key, const std::string& value, bool prev_kv = false) {
    etcdserverpb::PutRequest r;
    r.set_key(key);
    r.set_value(value);
    r.set_prev_kv(prev_kv);
    return apply(etcd_command(r));
  }
  EtcdResult del(const std::string& key, const std::string& end = "", bool prev_kv = false) {
    etcdserverpb::DeleteRangeRequest r;
    r.set_key(key);
    r.set_range_end(end);
    r.set_prev_kv(prev_kv);
    return apply(etcd_command(r));
  }
  EtcdResult compact(std::int64_t revision) {
    etcdserverpb::CompactionRequest r;
    r.set_revision(revision);
    return apply(etcd_command(r));
  }

  static etcdserverpb::RangeRequest req(const std::string& key, const std::string& end = "",
                                        std::int64_t revision = 0) {
    etcdserverpb::RangeRequest r;
    r.set_key(key);
    r.set_range_end(end);
    r.set_revision(revision);
    return r;
  }
  etcdserverpb::RangeResponse range(const etcdserverpb::RangeRequest& r) {
    etcdserverpb::RangeResponse resp;
    util::Status s = store_->range(r, &resp);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return resp;
  }
  util::Status range_status(const etcdserverpb::RangeRequest& r) {
    etcdserverpb::RangeResponse resp;
    return store_->range(r, &resp);
  }
  static std::string keys(const etcdserverpb::RangeResponse& resp) {
    std::string out;
    for (const auto& kv : resp.kvs()) out += (out.empty() ? "" : ",") + kv.key();
    return out;
  }
  static std::string values(const etcdserverpb::RangeResponse& resp) {
    std::string out;
    for (const auto& kv : resp.kvs()) out += (out.empty() ? "" : ",") + kv.value();
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

// The records in `store`'s hist table, checking that each is on its key's
// chain of previous-revision links (none orphaned).
inline std::uint64_t hist_records(const Store& store) {
  std::uint64_t hist = 0;
  std::uint64_t chained = 0;
  EXPECT_TRUE(store.history_size(&hist, &chained).is_ok());
  EXPECT_EQ(hist, chained);
  return hist;
}

}  // namespace dkv::kv
