// EtcdModel: the simulator's reference key-value model, a plain in-memory map
// that follows etcd's revision rules, written from etcd's documentation and
// code (mvcc/kvstore_txn.go, etcdserver/apply.go), independently of src/kv.
// It applies the same log commands as dkv's kv::Store (kv/command.h: /v0 put
// and delete, and Op::kEtcd Put, DeleteRange and Txn; Compaction is a no-op
// for the latest state) and answers what etcd would: the header revision and
// the response. The rules it encodes:
//   - the store starts at revision 1 with no keys;
//   - a request that writes gets main revision rev + 1; deleting nothing, a
//     failed compare whose branch only reads, and a read create nothing;
//   - per key: create_revision and version 1 at creation, mod_revision the
//     revision of the last write, version + 1 per put, all gone on delete;
//   - txn compares see the state before the txn, ranges inside it see its
//     earlier writes; a missing key compares as the zero KeyValue, except
//     that a VALUE compare on it is false;
//   - leases (kv/lease.h's entries): a grant of an existing id is refused
//     and creates no revision; a put with an unknown lease is refused; a
//     put without one, or a delete, detaches the key; a revoke deletes the
//     lease's keys in one revision, and is ignored when its proposer's term
//     is not 0 and differs from its entry's term (Command::term).
// Test code: pure, no I/O. Threading: one thread per model.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/command.h"

namespace dkv::sim {

struct ModelKey {
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;  // The lease the key is attached to (0: none).
  bool operator==(const ModelKey&) const = default;
};

// A lease (etcd's lessor state that is replicated: id, TTL, the last
// remaining-TTL checkpoint). Its keys are the keys whose `lease` is its id.
struct ModelLease {
  std::int64_t ttl = 0;
  std::int64_t remaining = 0;
  bool operator==(const ModelLease&) const = default;
};

// Test only: a broken rule, to prove the checks against kv::Store bite.
enum class ModelCanary {
  kNone,
  kDeleteNothingBumpsRevision,  // A DeleteRange that deleted nothing creates a revision.
};

struct ModelResult {
  bool refused = false;           // A command the model does not apply (bad encoding).
  std::int64_t revision = 0;      // Header revision: created if it wrote, else current.
  std::int64_t deleted = 0;       // /v0 delete: 1 if the key existed.
  etcdserverpb::ResponseOp etcd;  // Op::kEtcd: the response (Put, DeleteRange or Txn).
};

// A command decoded once (the etcd payload parsed), to be applied by many
// models: the simulator's nodes share one per log index.
struct ParsedCommand {
  kv::Command command;
  bool refused = false;  // A payload that does not parse (or an unknown kind).
  etcdserverpb::PutRequest put;
  etcdserverpb::DeleteRangeRequest delete_range;
  etcdserverpb::TxnRequest txn;
  int etcd_kind = 0;  // The payload's kind byte (1 Put, 2 DeleteRange, 3 Txn, 6-8 leases).
  etcdserverpb::LeaseGrantRequest grant;
  std::int64_t revoke_id = 0;
  std::uint64_t proposer_term = 0;  // A revoke's (0: a client's).
  etcdserverpb::LeaseCheckpointRequest checkpoint;
};
ParsedCommand parse_command(const kv::Command& command);

class EtcdModel {
 public:
  explicit EtcdModel(ModelCanary canary = ModelCanary::kNone) : canary_(canary) {}

  ModelResult apply(const kv::Command& command) { return apply(parse_command(command), true); }
  // Without `responses`, only the state changes (and the result's revision,
  // refused and deleted): what a replica needs.
  ModelResult apply(const ParsedCommand& parsed, bool responses);

  std::int64_t revision() const { return rev_; }
  const std::map<std::string, ModelKey>& keys() const { return keys_; }
  const std::map<std::int64_t, ModelLease>& leases() const { return leases_; }

  // One line per key and the revision: equal models have equal digests.
  std::string digest() const;
  // A 64-bit hash of the same, kept up to date by every write (O(1): the
  // simulator compares it after every applied entry on every node).
  std::uint64_t hash() const;
  // "value|create|mod|version" of a key, "" if absent (what a read sees).
  std::string describe_key(const std::string& key) const;

  // A snapshot of the model (the simulator's state machine image).
  std::string encode() const;
  static EtcdModel decode(const std::string& image, ModelCanary canary);

 private:
  class Writer;  // One request's writes (etcd_model.cc).
  bool apply_lease(const ParsedCommand& parsed, Writer& w);

  ModelCanary canary_;
  std::int64_t rev_ = 1;
  std::map<std::string, ModelKey> keys_;
  std::uint64_t keys_hash_ = 0;  // XOR of every key's hash (etcd_model.cc key_hash).
  std::map<std::int64_t, ModelLease> leases_;
};

// Canonical text of a response op (kvs with their revisions, counts,
// succeeded, deleted, prev_kv(s), nested responses): what the simulator
// compares between the model and kv::Store. Headers are left out.
std::string describe_response(const etcdserverpb::ResponseOp& op);

}  // namespace dkv::sim
