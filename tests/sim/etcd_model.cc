#include "etcd_model.h"

#include <sstream>
#include <string_view>
#include <vector>

namespace dkv::sim {
namespace {

using etcdserverpb::Compare;

// [key, end) of a request: end "" is the one key, "\0" everything from key.
bool in_range(const std::string& k, const std::string& key, const std::string& end) {
  if (end.empty()) return k == key;
  if (end == std::string(1, '\0')) return k >= key;
  return k >= key && k < end;
}

template <typename Int>
bool compare_ints(Compare::CompareResult result, Int have, Int want) {
  switch (result) {
    case Compare::EQUAL:
      return have == want;
    case Compare::NOT_EQUAL:
      return have != want;
    case Compare::GREATER:
      return have > want;
    case Compare::LESS:
      return have < want;
    default:
      return false;
  }
}

bool compare_key(const Compare& c, const ModelKey& k) {
  switch (c.target()) {
    case Compare::VERSION:
      return compare_ints(c.result(), k.version, c.version());
    case Compare::CREATE:
      return compare_ints(c.result(), k.create_revision, c.create_revision());
    case Compare::MOD:
      return compare_ints(c.result(), k.mod_revision, c.mod_revision());
    case Compare::LEASE:
      return compare_ints<std::int64_t>(c.result(), 0, c.lease());
    case Compare::VALUE:
      return compare_ints(c.result(), k.value, c.value());
    default:
      return false;
  }
}

void fill_kv(const std::string& key, const ModelKey& k, mvccpb::KeyValue* out) {
  out->set_key(key);
  out->set_value(k.value);
  out->set_create_revision(k.create_revision);
  out->set_mod_revision(k.mod_revision);
  out->set_version(k.version);
  out->set_lease(k.lease);
}

void describe_kv(std::ostringstream& s, const mvccpb::KeyValue& kv) {
  s << " [" << kv.key() << "=" << kv.value() << " c" << kv.create_revision() << " m"
    << kv.mod_revision() << " v" << kv.version() << " l" << kv.lease() << "]";
}

// One key's part of EtcdModel::hash() (FNV-1a over its fields).
std::uint64_t key_hash(const std::string& key, const ModelKey& k) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  auto mix_int = [&mix](std::int64_t v) { mix(&v, sizeof v); };
  mix_int(static_cast<std::int64_t>(key.size()));
  mix(key.data(), key.size());
  mix_int(static_cast<std::int64_t>(k.value.size()));
  mix(k.value.data(), k.value.size());
  mix_int(k.create_revision);
  mix_int(k.mod_revision);
  mix_int(k.version);
  mix_int(k.lease);
  return h;
}

}  // namespace

// The writes of one request: every write gets the same main revision, taken
// only if something is written.
class EtcdModel::Writer {
 public:
  Writer(EtcdModel& m, bool responses) : m_(m), responses_(responses) {}
  std::int64_t main() const { return m_.rev_ + 1; }
  bool wrote() const { return wrote_; }
  std::int64_t deleted() const { return deleted_; }

  void put(const etcdserverpb::PutRequest& p, etcdserverpb::PutResponse* out) {
    ModelKey& k = m_.keys_[p.key()];
    if (responses_ && k.version > 0 && p.prev_kv()) fill_kv(p.key(), k, out->mutable_prev_kv());
    if (k.version > 0) m_.keys_hash_ ^= key_hash(p.key(), k);
    if (k.version == 0) k.create_revision = main();
    k.mod_revision = main();
    ++k.version;
    k.value = p.value();
    if (!p.ignore_lease()) k.lease = p.lease();
    m_.keys_hash_ ^= key_hash(p.key(), k);
    wrote_ = true;
  }

  void delete_range(const etcdserverpb::DeleteRangeRequest& d,
                    etcdserverpb::DeleteRangeResponse* out) {
    for (auto it = m_.keys_.begin(); it != m_.keys_.end();) {
      if (!in_range(it->first, d.key(), d.range_end())) {
        ++it;
        continue;
      }
      if (responses_ && d.prev_kv()) fill_kv(it->first, it->second, out->add_prev_kvs());
      ++deleted_;
      if (responses_) out->set_deleted(out->deleted() + 1);
      m_.keys_hash_ ^= key_hash(it->first, it->second);
      it = m_.keys_.erase(it);
      wrote_ = true;
    }
    if (m_.canary_ == ModelCanary::kDeleteNothingBumpsRevision) wrote_ = true;
  }

  // A lease's revoke: its keys go in this one revision.
  void revoke(std::int64_t id) {
    for (auto it = m_.keys_.begin(); it != m_.keys_.end();) {
      if (it->second.lease != id) {
        ++it;
        continue;
      }
      m_.keys_hash_ ^= key_hash(it->first, it->second);
      it = m_.keys_.erase(it);
      wrote_ = true;
    }
    m_.leases_.erase(id);
  }

  void range(const etcdserverpb::RangeRequest& r, etcdserverpb::RangeResponse* out) const {
    if (!responses_) return;  // Reads change nothing.
    std::int64_t count = 0;
    for (const auto& [key, k] : m_.keys_) {
      if (!in_range(key, r.key(), r.range_end())) continue;
      ++count;
      if (r.count_only() || (r.limit() > 0 && out->kvs_size() >= r.limit())) continue;
      mvccpb::KeyValue* kv = out->add_kvs();
      fill_kv(key, k, kv);
      if (r.keys_only()) kv->clear_value();
    }
    out->set_count(count);
    out->set_more(r.limit() > 0 && count > r.limit() && !r.count_only());
  }

  bool compares_hold(const etcdserverpb::TxnRequest& t) const {
    for (const Compare& c : t.compare()) {
      std::vector<const ModelKey*> matched;
      for (const auto& [key, k] : m_.keys_) {
        if (in_range(key, c.key(), c.range_end())) matched.push_back(&k);
      }
      if (matched.empty()) {
        if (c.target() == Compare::VALUE || !compare_key(c, ModelKey{})) return false;
      }
      for (const ModelKey* k : matched) {
        if (!compare_key(c, *k)) return false;
      }
    }
    return true;
  }

  // Nested txns evaluate their compares when reached (the simulator sends
  // none: etcd evaluates every compare up front).
  void txn(const etcdserverpb::TxnRequest& t, etcdserverpb::TxnResponse* out) {
    out->set_succeeded(compares_hold(t));
    for (const auto& op : out->succeeded() ? t.success() : t.failure()) {
      etcdserverpb::ResponseOp scratch;
      etcdserverpb::ResponseOp* r = responses_ ? out->add_responses() : &scratch;
      if (op.has_request_put()) {
        put(op.request_put(), r->mutable_response_put());
      } else if (op.has_request_delete_range()) {
        delete_range(op.request_delete_range(), r->mutable_response_delete_range());
      } else if (op.has_request_range()) {
        range(op.request_range(), r->mutable_response_range());
      } else if (op.has_request_txn()) {
        txn(op.request_txn(), r->mutable_response_txn());
      }
    }
  }

 private:
  EtcdModel& m_;
  const bool responses_;
  bool wrote_ = false;
  std::int64_t deleted_ = 0;  // Keys deleted by this request.
};

ParsedCommand parse_command(const kv::Command& command) {
  ParsedCommand p;
  p.command = command;
  if (command.op == kv::Op::kPut || command.op == kv::Op::kDelete) return p;
  p.refused = command.op != kv::Op::kEtcd || command.value.empty();
  if (p.refused) return p;
  // The payload: one kind byte (1 Put, 2 DeleteRange, 3 Txn, 4 Compaction)
  // and the request message.
  const std::string_view body = std::string_view(command.value).substr(1);
  p.etcd_kind = command.value[0];
  switch (p.etcd_kind) {
    case 1:
      p.refused = !p.put.ParseFromArray(body.data(), static_cast<int>(body.size()));
      break;
    case 2:
      p.refused = !p.delete_range.ParseFromArray(body.data(), static_cast<int>(body.size()));
      break;
    case 3:
      p.refused = !p.txn.ParseFromArray(body.data(), static_cast<int>(body.size()));
      break;
    case 6:
      p.refused = !p.grant.ParseFromArray(body.data(), static_cast<int>(body.size()));
      break;
    case 7: {  // proposer term (8 bytes, little-endian) | LeaseRevokeRequest.
      etcdserverpb::LeaseRevokeRequest r;
      p.refused =
          body.size() < 8 || !r.ParseFromArray(body.data() + 8, static_cast<int>(body.size() - 8));
      for (int i = 0; i < 8 && !p.refused; ++i) {
        p.proposer_term |= static_cast<std::uint64_t>(static_cast<unsigned char>(body[i]))
                           << (8 * i);
      }
      p.revoke_id = r.id();
      break;
    }
    case 8:
      p.refused = !p.checkpoint.ParseFromArray(body.data(), static_cast<int>(body.size()));
      break;
    default:
      p.refused = true;
  }
  return p;
}

ModelResult EtcdModel::apply(const ParsedCommand& parsed, bool responses) {
  ModelResult result;
  result.refused = parsed.refused;
  Writer w(*this, responses);
  const kv::Command& command = parsed.command;
  if (parsed.refused) {
    // Nothing changes.
  } else if (command.op == kv::Op::kPut) {
    etcdserverpb::PutRequest p;
    p.set_key(command.key);
    p.set_value(command.value);
    w.put(p, nullptr);
  } else if (command.op == kv::Op::kDelete) {
    etcdserverpb::DeleteRangeRequest d;
    d.set_key(command.key);
    etcdserverpb::DeleteRangeResponse r;
    w.delete_range(d, &r);
    result.deleted = w.deleted();
  } else if (parsed.etcd_kind == 1) {
    if (parsed.put.lease() != 0 && leases_.count(parsed.put.lease()) == 0) {
      result.refused = true;  // "etcdserver: requested lease not found"
    } else {
      w.put(parsed.put, result.etcd.mutable_response_put());
    }
  } else if (parsed.etcd_kind == 2) {
    w.delete_range(parsed.delete_range, result.etcd.mutable_response_delete_range());
  } else if (parsed.etcd_kind == 3) {
    w.txn(parsed.txn, result.etcd.mutable_response_txn());
  } else {
    result.refused = !apply_lease(parsed, w);
  }
  if (w.wrote()) rev_ = w.main();
  result.revision = rev_;
  return result;
}

// A lease entry; false if refused (nothing changes).
bool EtcdModel::apply_lease(const ParsedCommand& parsed, Writer& w) {
  if (parsed.etcd_kind == 6) {
    const auto& g = parsed.grant;
    if (g.id() <= 0 || leases_.count(g.id()) > 0 || g.ttl() > 9'000'000'000) return false;
    leases_[g.id()] = ModelLease{g.ttl(), 0};
    return true;
  }
  if (parsed.etcd_kind == 7) {
    if (parsed.proposer_term != 0 && parsed.proposer_term != parsed.command.term) return false;
    if (leases_.count(parsed.revoke_id) == 0) return false;
    w.revoke(parsed.revoke_id);
    return true;
  }
  if (parsed.etcd_kind == 8) {
    for (const auto& cp : parsed.checkpoint.checkpoints()) {
      auto it = leases_.find(cp.id());
      if (it == leases_.end()) continue;
      const std::int64_t r = cp.remaining_ttl();
      it->second.remaining = r <= 0 || r >= it->second.ttl ? 0 : r;
    }
    return true;
  }
  return false;  // Compaction and alarms: not modelled (the simulator sends none).
}

std::string EtcdModel::describe_key(const std::string& key) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return "";
  const ModelKey& k = it->second;
  return k.value + "|" + std::to_string(k.create_revision) + "|" + std::to_string(k.mod_revision) +
         "|" + std::to_string(k.version) + "|" + std::to_string(k.lease);
}

std::string EtcdModel::digest() const {
  std::string s = "rev " + std::to_string(rev_) + "\n";
  for (const auto& [key, k] : keys_) s += key + "=" + describe_key(key) + "\n";
  for (const auto& [id, l] : leases_) {
    s += "lease " + std::to_string(id) + " ttl " + std::to_string(l.ttl) + " remaining " +
         std::to_string(l.remaining) + "\n";
  }
  return s;
}

std::uint64_t EtcdModel::hash() const {
  std::uint64_t leases_hash = 0;
  for (const auto& [id, l] : leases_) {
    leases_hash = (leases_hash ^ static_cast<std::uint64_t>(id)) * 0x100000001b3ULL;
    leases_hash = (leases_hash ^ static_cast<std::uint64_t>(l.ttl)) * 0x100000001b3ULL;
    leases_hash = (leases_hash ^ static_cast<std::uint64_t>(l.remaining)) * 0x100000001b3ULL;
  }
  return keys_hash_ ^ leases_hash ^ (static_cast<std::uint64_t>(rev_) * 0x9e3779b97f4a7c15ULL);
}

std::string EtcdModel::encode() const {
  std::ostringstream s;
  s << rev_ << "\n";
  for (const auto& [id, l] : leases_)
    s << "\tlease\t" << id << " " << l.ttl << " " << l.remaining << "\n";
  for (const auto& [key, k] : keys_) {
    s << key << "\t" << k.value << "\t" << k.create_revision << "\t" << k.mod_revision << "\t"
      << k.version << " " << k.lease << "\n";
  }
  return s.str();
}

EtcdModel EtcdModel::decode(const std::string& image, ModelCanary canary) {
  EtcdModel m(canary);
  std::istringstream in(image);
  std::string line;
  if (std::getline(in, line)) m.rev_ = std::stoll(line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string key;
    ModelKey k;
    std::getline(f, key, '\t');
    if (key.empty()) {  // "\tlease\tid ttl remaining": keys are never empty.
      std::string tag;
      std::getline(f, tag, '\t');
      std::int64_t id = 0;
      ModelLease l;
      f >> id >> l.ttl >> l.remaining;
      m.leases_[id] = l;
      continue;
    }
    std::getline(f, k.value, '\t');
    f >> k.create_revision >> k.mod_revision >> k.version >> k.lease;
    m.keys_[key] = k;
    m.keys_hash_ ^= key_hash(key, k);
  }
  return m;
}

std::string describe_response(const etcdserverpb::ResponseOp& op) {
  std::ostringstream s;
  if (op.has_response_put()) {
    s << "put";
    if (op.response_put().has_prev_kv()) describe_kv(s, op.response_put().prev_kv());
  } else if (op.has_response_delete_range()) {
    const auto& d = op.response_delete_range();
    s << "deleted " << d.deleted();
    for (const auto& kv : d.prev_kvs()) describe_kv(s, kv);
  } else if (op.has_response_range()) {
    const auto& r = op.response_range();
    s << "range count " << r.count() << (r.more() ? " more" : "");
    for (const auto& kv : r.kvs()) describe_kv(s, kv);
  } else if (op.has_response_txn()) {
    s << "txn " << (op.response_txn().succeeded() ? "then" : "else") << " {";
    for (const auto& r : op.response_txn().responses()) s << " " << describe_response(r) << ";";
    s << " }";
  } else {
    s << "none";
  }
  return s.str();
}

}  // namespace dkv::sim
