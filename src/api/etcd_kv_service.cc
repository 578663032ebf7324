#include "api/etcd_kv_service.h"

#include <utility>

#include "api/etcd_errors.h"
#include "api/etcd_header.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "kv/mvcc_request.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

// Moves the applied request's response into the client's and returns the
// header to fill.
using TakeResponse = std::function<pb::ResponseHeader*(kv::EtcdResult& result)>;

// Refusals that come before any work, as etcd's unary interceptor: a
// learner serves only serializable Ranges (`allowed_on_learner`), then
// the client's require-leader.
util::Status precheck(const CallContext& ctx, const node::Node& node,
                      bool allowed_on_learner = false) {
  if (auto s = etcd_learner_check(node.is_learner(), allowed_on_learner); !s.is_ok()) return s;
  if (ctx.require_leader && !node.has_leader()) return etcd_no_leader();
  return util::Status::ok();
}

// Proposes an etcd write and answers once this node applied it.
// etcd refuses a raft request over --max-request-bytes before proposing.
void propose(node::Node* node, kv::Command command, node::Deadline deadline, TakeResponse take,
             UnaryDone done) {
  if (command.value.size() > 1 + kv::kRequestBytesMax) return done(etcd_request_too_large());
  node->write(
      std::move(command), deadline,
      [node, take = std::move(take), done = std::move(done)](util::Status s, kv::ApplyResult r) {
        if (!s.is_ok()) return done(etcd_error_of(s));
        if (r.etcd == nullptr) {
          return done(util::Status(util::Code::kInternal, "etcdserver: no result"));
        }
        if (!r.etcd->status.is_ok()) return done(etcd_error_of(r.etcd->status));
        pb::ResponseHeader* header = take(*r.etcd);
        header->set_revision(r.etcd->revision);
        fill_etcd_header(*node, header);
        done(util::Status::ok());
      });
}

// Serves a read that skips the log; the store sets the header's revision.
void serve_read(node::Node* node, node::Node::StoreReadFn read, bool serializable,
                node::Deadline deadline, pb::ResponseHeader* header, UnaryDone done) {
  node->read_store(std::move(read), serializable, deadline,
                   [node, header, done = std::move(done)](util::Status s) {
                     if (!s.is_ok()) return done(etcd_error_of(s));
                     fill_etcd_header(*node, header);
                     done(util::Status::ok());
                   });
}

const google::protobuf::ServiceDescriptor* kv_service() {
  return pb::RangeRequest::descriptor()->file()->FindServiceByName("KV");
}

void register_range(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  registry->add<pb::RangeRequest, pb::RangeResponse>(
      kv_service(), "Range",
      [node, options](const CallContext& ctx, const pb::RangeRequest& req, pb::RangeResponse* resp,
                      UnaryDone done) {
        if (auto s = precheck(ctx, *node, req.serializable()); !s.is_ok()) {
          return done(std::move(s));
        }
        if (auto s = kv::check_range(req); !s.is_ok()) return done(std::move(s));
        serve_read(
            node, [&req, resp](const kv::Store& store) { return store.range(req, resp); },
            req.serializable(), request_deadline(ctx, options), resp->mutable_header(),
            std::move(done));
      });
}

void register_put(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  registry->add<pb::PutRequest, pb::PutResponse>(
      kv_service(), "Put",
      [node, options](const CallContext& ctx, const pb::PutRequest& req, pb::PutResponse* resp,
                      UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        if (auto s = kv::check_put(req); !s.is_ok()) return done(std::move(s));
        propose(
            node, kv::etcd_command(req), request_deadline(ctx, options),
            [resp](kv::EtcdResult& r) {
              resp->Swap(r.response.mutable_response_put());
              return resp->mutable_header();
            },
            std::move(done));
      });
}

void register_delete_range(MethodRegistry* registry, node::Node* node,
                           const ServiceOptions& options) {
  registry->add<pb::DeleteRangeRequest, pb::DeleteRangeResponse>(
      kv_service(), "DeleteRange",
      [node, options](const CallContext& ctx, const pb::DeleteRangeRequest& req,
                      pb::DeleteRangeResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        if (auto s = kv::check_delete_range(req); !s.is_ok()) return done(std::move(s));
        propose(
            node, kv::etcd_command(req), request_deadline(ctx, options),
            [resp](kv::EtcdResult& r) {
              resp->Swap(r.response.mutable_response_delete_range());
              return resp->mutable_header();
            },
            std::move(done));
      });
}

void register_txn(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  registry->add<pb::TxnRequest, pb::TxnResponse>(
      kv_service(), "Txn",
      [node, options](const CallContext& ctx, const pb::TxnRequest& req, pb::TxnResponse* resp,
                      UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        if (auto s = kv::check_txn(req); !s.is_ok()) return done(std::move(s));
        const node::Deadline deadline = request_deadline(ctx, options);
        if (kv::is_read_only(req)) {
          return serve_read(
              node, [&req, resp](const kv::Store& store) { return store.read_only_txn(req, resp); },
              is_serializable_txn(req), deadline, resp->mutable_header(), std::move(done));
        }
        propose(
            node, kv::etcd_command(req), deadline,
            [resp](kv::EtcdResult& r) {
              resp->Swap(r.response.mutable_response_txn());
              return resp->mutable_header();
            },
            std::move(done));
      });
}

// Compact answers once the compaction is applied: logically at once (reads
// below it fail from then on), so `physical` needs no further wait here;
// the bounded physical batches follow between Readies.
void register_compact(MethodRegistry* registry, node::Node* node, const ServiceOptions& options) {
  registry->add<pb::CompactionRequest, pb::CompactionResponse>(
      kv_service(), "Compact",
      [node, options](const CallContext& ctx, const pb::CompactionRequest& req,
                      pb::CompactionResponse* resp, UnaryDone done) {
        if (auto s = precheck(ctx, *node); !s.is_ok()) return done(std::move(s));
        propose(
            node, kv::etcd_command(req), request_deadline(ctx, options),
            [resp](kv::EtcdResult&) { return resp->mutable_header(); }, std::move(done));
      });
}

bool branch_serializable(const google::protobuf::RepeatedPtrField<pb::RequestOp>& ops) {
  for (const auto& op : ops) {
    if (!op.has_request_range() || !op.request_range().serializable()) return false;
  }
  return true;
}

}  // namespace

bool is_serializable_txn(const pb::TxnRequest& request) {
  return branch_serializable(request.success()) && branch_serializable(request.failure());
}

void register_etcd_kv_service(MethodRegistry* registry, node::Node* node,
                              const ServiceOptions& options) {
  register_range(registry, node, options);
  register_put(registry, node, options);
  register_delete_range(registry, node, options);
  register_txn(registry, node, options);
  register_compact(registry, node, options);
}

}  // namespace dkv::api
