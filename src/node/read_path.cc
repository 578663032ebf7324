#include "node/read_path.h"

#include <algorithm>
#include <utility>

#include "util/assert.h"
#include "util/reply_batch.h"

namespace dkv::node {

void ReadPath::ask(Batch batch, const ReadIndexFn& read_index) {
  std::string context = std::to_string(next_context_++);
  const bool inserted = batches_.emplace(context, std::move(batch)).second;
  DKV_ASSERT(inserted);  // Contexts are never reused.
  read_index(std::move(context));
}

void ReadPath::start(std::vector<PendingRead> reads, const ReadIndexFn& read_index) {
  if (reads.empty()) return;
  Batch batch;
  batch.reads = std::move(reads);
  ask(std::move(batch), read_index);
}

bool ReadPath::on_read_state(const raft::ReadState& rs) {
  auto it = batches_.find(rs.context);
  if (it == batches_.end()) return false;
  DKV_ASSERT(rs.index > 0);  // Index 0 means "not answered yet" here.
  it->second.read_index = rs.index;
  return true;
}

void ReadPath::on_leader_change() {
  for (auto& [context, batch] : batches_) {
    if (batch.read_index == 0) batch.ticks_waiting = election_ticks_;
  }
}

void ReadPath::on_tick(Deadline now, const ReadIndexFn& read_index) {
  std::vector<Batch> retries;
  for (auto it = batches_.begin(); it != batches_.end();) {
    Batch& b = it->second;
    std::erase_if(b.reads, [&](PendingRead& r) {
      if (now <= r.deadline) return false;
      r.done(util::unavailable("no leader or no quorum within the request timeout"), {});
      return true;
    });
    if (b.reads.empty()) {
      it = batches_.erase(it);
      continue;
    }
    if (b.read_index == 0 && ++b.ticks_waiting >= election_ticks_) {
      Batch retry = std::move(b);
      retry.ticks_waiting = 0;
      retries.push_back(std::move(retry));
      it = batches_.erase(it);
      continue;
    }
    ++it;
  }
  for (auto& b : retries) ask(std::move(b), read_index);
}

std::vector<ServableReads> ReadPath::take_servable(raft::Index applied) {
  std::vector<ServableReads> out;
  for (auto it = batches_.begin(); it != batches_.end();) {
    Batch& b = it->second;
    if (b.read_index == 0 || (b.read_index > applied && !canary_read_before_applied_)) {
      ++it;
      continue;
    }
    // The canary claims its index is what is applied, past serve_reads' assert.
    const raft::Index index = std::min(b.read_index, applied);
    out.push_back(ServableReads{index, std::move(b.reads)});
    it = batches_.erase(it);
  }
  return out;
}

void ReadPath::serve(const StateReader& state) {
  for (auto& batch : take_servable(state.applied_index())) serve_reads(batch, state);
}

void serve_reads(ServableReads& batch, const StateReader& state) {
  // A read is never served before its read index is applied.
  DKV_ASSERT(state.applied_index() >= batch.read_index);
  util::ReplyBatch replies;  // The front ends send these answers together.
  for (auto& r : batch.reads) {
    if (r.barrier_only) {
      r.done(util::Status::ok(), {});
      continue;
    }
    if (r.read) {
      util::Status s = r.read();
      r.done(std::move(s), {});
      continue;
    }
    std::string value;
    util::Status s = state.get(r.key, &value);
    r.done(std::move(s), std::move(value));
  }
  batch.reads.clear();
}

void ReadPath::fail_all(const util::Status& s) {
  for (auto& [context, b] : batches_) {
    for (auto& r : b.reads) r.done(s, {});
  }
  batches_.clear();
}

}  // namespace dkv::node
