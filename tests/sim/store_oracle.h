// StoreOracle: runs dkv's real kv::Store (LMDB, in a temporary directory,
// unsynced) beside the reference EtcdModel (etcd_model.h) over the committed
// log of a simulation and compares them: every command's refusal, header
// revision and response (etcd's kvs with create/mod revision and version,
// counts, succeeded, deleted, prev_kvs); after each batch (the store applies
// kBatchCommands commands per transaction, as a node applies a Ready's
// entries), the store's current revision and every key's state. It also records the
// reference state after each index, so that every simulated node's own
// model can be compared with it when that node applies the index.
// Test code. Threading: one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "etcd_model.h"
#include "kv/store.h"

namespace dkv::sim {

class StoreOracle {
 public:
  // Opens a fresh store under $TMPDIR (or /dev/shm when present).
  explicit StoreOracle(ModelCanary canary);
  ~StoreOracle();
  StoreOracle(const StoreOracle&) = delete;
  StoreOracle& operator=(const StoreOracle&) = delete;

  // Applies the committed entry `index` (the next one): `parsed` is its
  // command, or null for a no-op or a conf change. The model applies it
  // now, the store with its batch. Returns "" if the store and the model
  // agree so far, else what differs.
  std::string apply(std::uint64_t index, const ParsedCommand* parsed);
  // Applies the queued commands to the store and compares. Call at the end.
  std::string flush();
  static constexpr std::size_t kBatchCommands = 16;

  // The reference state's hash after `index` (EtcdModel::hash()).
  std::uint64_t hash_at(std::uint64_t index) const { return hashes_.at(index - 1); }
  std::uint64_t applied() const { return hashes_.size(); }
  const EtcdModel& model() const { return model_; }
  std::uint64_t compared_entries() const { return compared_; }

 private:
  struct Queued {
    std::uint64_t index;
    kv::Command command;
    ModelResult want;
  };
  std::string compare_result(const Queued& q, const kv::ApplyResult& got) const;
  std::string compare_state() const;

  std::string dir_;
  std::unique_ptr<kv::Store> store_;
  EtcdModel model_;
  std::vector<std::uint64_t> hashes_;  // Index i at [i - 1].
  std::vector<Queued> queued_;         // Applied to the model, not yet to the store.
  std::uint64_t compared_ = 0;
};

}  // namespace dkv::sim
