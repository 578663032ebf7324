// The gRPC client of the fault suite (see clients.h).
#include <grpcpp/grpcpp.h>

#include "clients.h"
#include "dkv/v0/kv.grpc.pb.h"

namespace dkv::fault {
namespace {

class GrpcClient : public KvClient {
 public:
  GrpcClient(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
             std::string node, bool serializable_reads)
      : timeout_(timeout),
        note_(std::move(node) + " grpc"),
        serializable_reads_(serializable_reads) {
    grpc::ChannelArguments args;
    // A restarted node must be reachable again within the run, not after
    // gRPC's default backoff of up to two minutes.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    auto channel = grpc::CreateCustomChannel(host + ":" + std::to_string(port),
                                             grpc::InsecureChannelCredentials(), args);
    stub_ = v0::KV::NewStub(channel);
  }

  void run(Op& op, std::chrono::steady_clock::time_point epoch) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
    op.note = note_;
    op.invoke_ns = since_ns(epoch);
    grpc::Status s;
    if (op.kind == OpKind::kPut) {
      v0::PutRequest req;
      req.set_key(op.key);
      req.set_value(op.value);
      v0::PutResponse resp;
      s = stub_->Put(&ctx, req, &resp);
    } else if (op.kind == OpKind::kGet) {
      v0::GetRequest req;
      req.set_key(op.key);
      req.set_serializable(serializable_reads_);
      v0::GetResponse resp;
      s = stub_->Get(&ctx, req, &resp);
      op.found = s.ok();
      op.value = s.ok() ? resp.value() : "";
    } else {
      v0::DeleteRequest req;
      req.set_key(op.key);
      v0::DeleteResponse resp;
      s = stub_->Delete(&ctx, req, &resp);
      op.found = s.ok() && resp.deleted() == 1;
    }
    op.complete_ns = since_ns(epoch);
    interpret(op, s);
  }

 private:
  static void interpret(Op& op, const grpc::Status& s) {
    op.note += " " + std::to_string(static_cast<int>(s.error_code()));
    if (s.ok()) {
      op.outcome = Outcome::kOk;
      return;
    }
    if (s.error_code() == grpc::StatusCode::NOT_FOUND && op.kind != OpKind::kPut) {
      op.outcome = Outcome::kOk;
      op.found = false;
      return;
    }
    if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
        s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      op.outcome = Outcome::kFailed;
      return;
    }
    // A removed node refuses every call before it reaches raft.
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
        s.error_message().find(kRemovedRefusal) != std::string::npos) {
      op.outcome = Outcome::kFailed;
      op.note += " removed node";
      return;
    }
    // The client channel's own message when it never reached the server: the
    // call was not sent (gRPC's transparent-retry guarantee rests on this).
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
        s.error_message().find("failed to connect to all addresses") != std::string::npos) {
      op.outcome = Outcome::kFailed;
      op.note += " not connected";
      return;
    }
    op.outcome = Outcome::kUnknown;
    op.note += " " + s.error_message();
  }

  std::chrono::milliseconds timeout_;
  std::string note_;
  bool serializable_reads_;
  std::unique_ptr<v0::KV::Stub> stub_;
};

}  // namespace

std::unique_ptr<KvClient> make_grpc_client(std::uint16_t port, std::chrono::milliseconds timeout,
                                           std::string node, bool serializable_reads,
                                           const std::string& host) {
  return std::make_unique<GrpcClient>(host, port, timeout, std::move(node), serializable_reads);
}

}  // namespace dkv::fault
