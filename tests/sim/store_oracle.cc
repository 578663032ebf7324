#include "store_oracle.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "kv/mvcc_request.h"

namespace dkv::sim {
namespace {

// Removes the stores of processes that are gone (a canary's child that
// aborted in the core never ran the destructor).
void remove_orphans(const std::filesystem::path& base) {
  static std::atomic<bool> done{false};
  if (done.exchange(true)) return;
  const std::string prefix = "dkv-sim-store-";
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::atol(name.c_str() + prefix.size());
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::filesystem::remove_all(entry.path(), ec);
    }
  }
}

std::string fresh_dir() {
  static std::atomic<int> counter{0};
  const std::filesystem::path base =
      std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
  remove_orphans(base);
  return (base / ("dkv-sim-store-" + std::to_string(::getpid()) + "-" +
                  std::to_string(counter.fetch_add(1))))
      .string();
}

void fail_hard(const std::string& what) {
  // The oracle's own setup failing is not a finding of the simulation.
  std::fprintf(stderr, "store oracle: %s\n", what.c_str());
  std::abort();
}

}  // namespace

StoreOracle::StoreOracle(ModelCanary canary) : dir_(fresh_dir()), model_(canary) {
  std::filesystem::remove_all(dir_);
  kv::StoreOptions options;
  options.dir = dir_;
  options.durability = kv::StoreOptions::Durability::kDeferred;
  options.boot_id = "sim";  // No fsyncs: the simulation never crashes the oracle.
  const util::Status st = kv::Store::open(options, &store_);
  if (!st.is_ok()) fail_hard("cannot open a store in " + dir_ + ": " + st.to_string());
}

StoreOracle::~StoreOracle() {
  store_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string StoreOracle::apply(std::uint64_t index, const ParsedCommand* parsed) {
  if (index != hashes_.size() + 1) fail_hard("entries out of order");
  if (parsed != nullptr) {
    queued_.push_back({index, parsed->command, model_.apply(*parsed, /*responses=*/true)});
  }
  hashes_.push_back(model_.hash());
  return queued_.size() >= kBatchCommands ? flush() : "";
}

std::string StoreOracle::flush() {
  if (queued_.empty()) return "";
  std::vector<kv::Command> commands;
  for (const Queued& q : queued_) commands.push_back(q.command);
  std::vector<kv::ApplyResult> results;
  const util::Status st = store_->apply(commands, queued_.back().index, &results);
  if (!st.is_ok()) fail_hard("kv::Store::apply: " + st.to_string());
  std::string why;
  for (std::size_t i = 0; i < queued_.size() && why.empty(); ++i) {
    why = compare_result(queued_[i], results.at(i));
  }
  const std::string at =
      "kv::Store vs reference model after index " + std::to_string(queued_.back().index) + ": ";
  if (why.empty() && store_->current_revision() != model_.revision()) {
    why = at + "revision " + std::to_string(store_->current_revision()) + " vs " +
          std::to_string(model_.revision());
  }
  if (why.empty()) {
    const std::string state = compare_state();
    if (!state.empty()) why = at + state;
  }
  compared_ += queued_.size();
  queued_.clear();
  return why;
}

std::string StoreOracle::compare_result(const Queued& q, const kv::ApplyResult& got) const {
  const ModelResult& want = q.want;
  const std::string at = "kv::Store vs reference model at index " + std::to_string(q.index) + ": ";
  if (q.command.op == kv::Op::kDelete && got.deleted != want.deleted) {
    return at + "deleted " + std::to_string(got.deleted) + " vs " + std::to_string(want.deleted);
  }
  if (q.command.op != kv::Op::kEtcd) return "";
  const bool refused = got.etcd == nullptr || !got.etcd->status.is_ok();
  if (refused != want.refused) {
    return at + "refused " + std::to_string(refused) + " vs " + std::to_string(want.refused);
  }
  if (refused) return "";
  if (got.etcd->revision != want.revision) {
    return at + "header revision " + std::to_string(got.etcd->revision) + " vs " +
           std::to_string(want.revision);
  }
  const std::string have = describe_response(got.etcd->response);
  const std::string expected = describe_response(want.etcd);
  if (have != expected) return at + "response " + have + " vs " + expected;
  return "";
}

// Every key of the store (one Range over the whole keyspace) against the model.
std::string StoreOracle::compare_state() const {
  etcdserverpb::RangeRequest all;
  all.set_key(std::string(1, '\0'));
  all.set_range_end(std::string(1, '\0'));
  etcdserverpb::RangeResponse got;
  const util::Status st = store_->range(all, &got);
  if (!st.is_ok()) return "range of everything failed: " + st.to_string();
  std::string have;
  for (const auto& kv : got.kvs()) {
    have += kv.key() + "=" + kv.value() + "|" + std::to_string(kv.create_revision()) + "|" +
            std::to_string(kv.mod_revision()) + "|" + std::to_string(kv.version()) + "|" +
            std::to_string(kv.lease()) + "\n";
  }
  std::vector<kv::LeaseInfo> leases;
  if (const util::Status ls = store_->leases(&leases); !ls.is_ok())
    return "leases: " + ls.to_string();
  for (const auto& l : leases) {
    have += "lease " + std::to_string(l.id) + " ttl " + std::to_string(l.ttl) + " remaining " +
            std::to_string(l.remaining_ttl) + "\n";
  }
  std::string want;
  for (const auto& [key, k] : model_.keys()) want += key + "=" + model_.describe_key(key) + "\n";
  for (const auto& [id, l] : model_.leases()) {
    want += "lease " + std::to_string(id) + " ttl " + std::to_string(l.ttl) + " remaining " +
            std::to_string(l.remaining) + "\n";
  }
  if (have != want) return "keys differ:\nstore:\n" + have + "model:\n" + want;
  return "";
}

}  // namespace dkv::sim
