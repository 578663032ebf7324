// The etcd v3 client of the fault suite's CAS workload (see clients.h):
// etcd's own KV service (etcdserverpb.KV, the generated stubs), so the same
// client runs against dkv and against etcd itself.
//   kRange: Range [key, range_end), every key with its mod_revision, and
//           the header revision (the store's revision the read saw);
//   kCas:   Txn If(mod_revision(key) == compare_revision, or value(key) ==
//           compare_value) Then(Put key = value) Else(Range key); a success
//           records the header revision (the revision the put created),
//           a failure too (the revision its Range saw);
//   kPut:   Put, recording the header revision;
//   kGet:   Range of the key.
#include <grpcpp/grpcpp.h>

#include "clients.h"
#include "counter_check.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace dkv::fault {
namespace {

void read_kvs(const etcdserverpb::RangeResponse& r, Op& op) {
  op.kvs.clear();
  for (const auto& kv : r.kvs()) op.kvs.push_back({kv.key(), kv.value(), kv.mod_revision()});
}

class EtcdClient : public KvClient {
 public:
  EtcdClient(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
             std::string node)
      : timeout_(timeout), note_(std::move(node) + " etcd") {
    grpc::ChannelArguments args;
    // Reach a restarted node again within the run. Not
    // GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the connect
    // timeout, and 100 ms is too short for etcd on a loaded machine ("tcp
    // handshaker shutdown" for 30 s).
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    stub_ = etcdserverpb::KV::NewStub(grpc::CreateCustomChannel(
        host + ":" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
  }

  void run(Op& op, std::chrono::steady_clock::time_point epoch) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    op.note = note_;
    op.invoke_ns = since_ns(epoch);
    grpc::Status s;
    switch (op.kind) {
      case OpKind::kRange:
      case OpKind::kGet:
        s = range(ctx, op);
        break;
      case OpKind::kCas:
        s = cas(ctx, op);
        break;
      case OpKind::kPut: {
        etcdserverpb::PutRequest req;
        req.set_key(op.key);
        req.set_value(op.value);
        etcdserverpb::PutResponse resp;
        s = stub_->Put(&ctx, req, &resp);
        op.revision = s.ok() ? resp.header().revision() : 0;
        break;
      }
      case OpKind::kDelete: {
        etcdserverpb::DeleteRangeRequest req;
        req.set_key(op.key);
        etcdserverpb::DeleteRangeResponse resp;
        s = stub_->DeleteRange(&ctx, req, &resp);
        op.found = s.ok() && resp.deleted() == 1;
        break;
      }
    }
    op.complete_ns = since_ns(epoch);
    interpret(op, s);
  }

 private:
  grpc::Status range(grpc::ClientContext& ctx, Op& op) {
    etcdserverpb::RangeRequest req;
    req.set_key(op.key);
    req.set_range_end(op.kind == OpKind::kRange ? op.range_end : "");
    etcdserverpb::RangeResponse resp;
    const grpc::Status s = stub_->Range(&ctx, req, &resp);
    if (!s.ok()) return s;
    if (op.kind == OpKind::kRange) read_kvs(resp, op);
    op.header_revision = resp.header().revision();
    op.found = resp.kvs_size() > 0;
    if (op.kind == OpKind::kGet) op.value = op.found ? resp.kvs(0).value() : "";
    return s;
  }

  grpc::Status cas(grpc::ClientContext& ctx, Op& op) {
    etcdserverpb::TxnRequest req;
    etcdserverpb::Compare* c = req.add_compare();
    c->set_key(op.key);
    c->set_result(etcdserverpb::Compare::EQUAL);
    if (op.compare == CasCompare::kValue) {
      c->set_target(etcdserverpb::Compare::VALUE);
      c->set_value(op.compare_value);
    } else {
      c->set_target(etcdserverpb::Compare::MOD);
      c->set_mod_revision(op.compare_revision);
    }
    auto* put = req.add_success()->mutable_request_put();
    put->set_key(op.key);
    put->set_value(op.value);
    req.add_failure()->mutable_request_range()->set_key(op.key);
    etcdserverpb::TxnResponse resp;
    const grpc::Status s = stub_->Txn(&ctx, req, &resp);
    if (!s.ok()) return s;
    op.succeeded = resp.succeeded();
    op.revision = op.succeeded ? resp.header().revision() : 0;
    op.header_revision = op.succeeded ? 0 : resp.header().revision();
    op.kvs.clear();
    if (!op.succeeded && resp.responses_size() == 1 && resp.responses(0).has_response_range()) {
      read_kvs(resp.responses(0).response_range(), op);
    }
    return s;
  }

  // As the gRPC client's (clients_grpc.cc), with etcd's codes: nothing is
  // NOT_FOUND (a missing key is an empty range).
  static void interpret(Op& op, const grpc::Status& s) {
    op.note += " " + std::to_string(static_cast<int>(s.error_code()));
    if (s.ok()) {
      op.outcome = Outcome::kOk;
      return;
    }
    const bool refused = s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                         s.error_code() == grpc::StatusCode::UNIMPLEMENTED;
    const bool unavailable = s.error_code() == grpc::StatusCode::UNAVAILABLE;
    if (refused || (unavailable && s.error_message().find(kRemovedRefusal) != std::string::npos) ||
        (unavailable &&
         s.error_message().find("failed to connect to all addresses") != std::string::npos)) {
      op.outcome = Outcome::kFailed;
      op.note += " " + s.error_message();
      return;
    }
    op.outcome = Outcome::kUnknown;
    op.note += " " + s.error_message();
  }

  std::chrono::milliseconds timeout_;
  std::string note_;
  std::unique_ptr<etcdserverpb::KV::Stub> stub_;
};

}  // namespace

Op increment_counter(KvClient& client, int id, const std::string& key, std::uint64_t* seq,
                     std::chrono::steady_clock::time_point epoch, std::vector<Op>* history) {
  Op r;
  r.client = id;
  r.kind = OpKind::kRange;
  r.key = key;
  client.run(r, epoch);
  history->push_back(r);
  if (r.outcome != Outcome::kOk) return r;
  Op c;
  c.client = id;
  c.kind = OpKind::kCas;
  c.key = key;
  c.compare_revision = r.kvs.empty() ? 0 : r.kvs.front().mod_revision;
  const std::int64_t seen = counter_value(r.kvs.empty() ? "" : r.kvs.front().value);
  c.value = counter_text(seen + 1, "c" + std::to_string(id) + "-" + std::to_string((*seq)++));
  client.run(c, epoch);
  history->push_back(c);
  return c;
}

std::unique_ptr<KvClient> make_etcd_client(std::uint16_t port, std::chrono::milliseconds timeout,
                                           std::string node, const std::string& host) {
  return std::make_unique<EtcdClient>(host, port, timeout, std::move(node));
}

}  // namespace dkv::fault
