#include "node/node.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

#include "util/assert.h"

namespace dkv::node {

util::Status Node::open(NodeOptions options, std::unique_ptr<Node>* out) {
  kv::StoreOptions store_options;
  store_options.dir = options.db_path + "/kv";
  store_options.quota_bytes = options.quota_bytes;
  store_options.sync_commits = true;  // No WAL yet: LMDB's commit is the durable record.
  std::unique_ptr<kv::Store> store;
  if (auto s = kv::Store::open(store_options, &store); !s.is_ok()) return s;
  spdlog::info("opened store in {} at applied index {}", store_options.dir, store->applied_index());
  out->reset(new Node(std::move(options), std::move(store)));
  return util::Status::ok();
}

Node::Node(NodeOptions options, std::unique_ptr<kv::Store> store)
    : options_(std::move(options)), store_(std::move(store)) {
  writer_ = std::thread([this] { run(); });
}

Node::~Node() { stop(); }

void Node::write(kv::Command command, Deadline deadline, WriteDone done) {
  util::Status refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = util::unavailable("node is shutting down");
    } else if (queue_.size() >= options_.pending_writes_max) {
      refused = util::resource_exhausted("too many writes in flight");
    } else {
      queue_.push_back(Proposal{std::move(command), deadline, std::move(done)});
    }
  }
  if (!refused.is_ok()) {
    done(std::move(refused), {});
    return;
  }
  cv_.notify_one();
}

void Node::read(std::string key, bool serializable, Deadline deadline, ReadDone done) {
  // One node: every acknowledged write is committed in LMDB before its reply,
  // so reading the latest committed transaction is linearizable.
  std::string value;
  util::Status s = store_->get(key, &value);
  done(std::move(s), std::move(value));
}

NodeStatus Node::status() const {
  NodeStatus st;
  st.node_id = options_.node_id;
  st.leader_id = options_.node_id;
  st.term = 1;
  st.role = "leader";
  st.commit_index = store_->applied_index();
  st.applied_index = st.commit_index;
  st.members = options_.members;
  return st;
}

bool Node::ready() const { return running_.load(); }

void Node::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  running_ = false;
  cv_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void Node::run() {
  std::vector<Proposal> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      const std::size_t n = std::min(queue_.size(), options_.batch_commands_max);
      batch.clear();
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    apply_batch(&batch);
  }
  // Stopping: what is still queued was never written; say so.
  std::deque<Proposal> rest;
  {
    std::lock_guard lock(mu_);
    rest.swap(queue_);
  }
  for (auto& p : rest) p.done(util::unavailable("node is shutting down"), {});
}

void Node::apply_batch(std::vector<Proposal>* batch) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<kv::Command> commands;
  std::vector<Proposal*> admitted;
  commands.reserve(batch->size());
  admitted.reserve(batch->size());
  // Quota admission happens here, before anything is written, so apply()
  // never refuses a command (it must be deterministic once replicated).
  std::uint64_t projected_bytes = store_->used_bytes();
  for (auto& p : *batch) {
    if (now > p.deadline) {
      p.done(util::Status(util::Code::kDeadlineExceeded, "deadline passed before the write"), {});
      continue;
    }
    if (p.command.op == kv::Op::kPut) {
      const std::uint64_t cost = kv::Store::put_cost_bytes(p.command);
      if (projected_bytes + cost > store_->quota_bytes()) {
        p.done(util::resource_exhausted("database space exceeded"), {});
        continue;
      }
      projected_bytes += cost;
    }
    commands.push_back(std::move(p.command));
    admitted.push_back(&p);
  }
  if (commands.empty()) return;

  std::vector<kv::ApplyResult> results;
  const std::uint64_t index = store_->applied_index() + commands.size();
  util::Status s = store_->apply(commands, index, &results);
  if (s.code() == util::Code::kResourceExhausted) {
    // The map filled despite admission: nothing was written; refuse the batch.
    spdlog::warn("store full while applying {} writes: {}", commands.size(), s.message());
    for (Proposal* p : admitted) p->done(util::resource_exhausted("database space exceeded"), {});
    return;
  }
  if (!s.is_ok()) {
    // A failed commit (e.g. fsync EIO) may have left the disk in an unknown
    // state: never retry and continue (fsyncgate). Stop the process.
    spdlog::critical("store write failed, stopping: {}", s.to_string());
    spdlog::shutdown();
    std::_Exit(1);
  }
  DKV_ASSERT(results.size() == admitted.size());
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    admitted[i]->done(util::Status::ok(), results[i]);
  }
}

}  // namespace dkv::node
