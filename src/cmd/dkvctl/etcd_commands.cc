#include "etcd_commands.h"

#include <ostream>

#include "etcd_output.h"
#include "output.h"
#include "txn_input.h"

namespace dkv::ctl {
namespace {

// etcd's own errors read as etcdctl prints them (clientv3 maps the gRPC
// status to its message), after the endpoint that answered when another
// one was tried too; anything else as dkvctl's other commands do.
int fail(std::ostream& err, const util::Status& s) {
  if (s.message().find("etcdserver: ") != std::string::npos) {
    err << "Error: " << s.message() << "\n";
  } else {
    err << error_line(s);
  }
  return kExitError;
}

int usage(std::ostream& err, const util::Status& s) {
  err << "Error: " << s.message() << "\n";
  return kExitUsage;
}

// Whether dkv.v0 can do what was asked: one key, no etcd-only option.
bool v0_can_serve(const Invocation& inv) {
  const KvArgs& a = inv.kv;
  switch (inv.command) {
    case Command::kPut:
      return !a.prev_kv && !a.ignore_value && !a.ignore_lease &&
             a.lease.find_first_not_of('0') == std::string::npos;
    case Command::kGet:
      return a.range_end.empty() && !a.prefix && !a.from_key && a.limit == 0 && a.rev == 0 &&
             !a.keys_only && a.order.empty() && a.sort_by.empty();
    case Command::kDel:
      return a.range_end.empty() && !a.prefix && !a.from_key && !a.prev_kv;
    default:
      return false;
  }
}

util::Status call(const Invocation& inv, Client& client, std::istream& in, std::ostream& out,
                  std::string* printed, bool* usage_error) {
  const Format f = inv.global.format;
  const KvStyle style{inv.kv.base64, inv.kv.print_value_only};
  util::Status s;
  *usage_error = false;
  auto bad = [&](util::Status status) {
    *usage_error = true;
    return status;
  };
  switch (inv.command) {
    case Command::kPut: {
      etcdserverpb::PutRequest req;
      if (s = make_put(inv.kv, &req); !s.is_ok()) return bad(s);
      etcdserverpb::PutResponse resp;
      if (s = client.etcd_put(req, &resp); s.is_ok()) *printed = format_etcd_put(f, resp, style);
      return s;
    }
    case Command::kGet: {
      etcdserverpb::RangeRequest req;
      if (s = make_range(inv.kv, &req); !s.is_ok()) return bad(s);
      etcdserverpb::RangeResponse resp;
      if (s = client.etcd_range(req, &resp); s.is_ok()) *printed = format_etcd_get(f, resp, style);
      return s;
    }
    case Command::kDel: {
      etcdserverpb::DeleteRangeRequest req;
      if (s = make_delete(inv.kv, &req); !s.is_ok()) return bad(s);
      etcdserverpb::DeleteRangeResponse resp;
      if (s = client.etcd_delete(req, &resp); s.is_ok()) *printed = format_etcd_del(f, resp, style);
      return s;
    }
    case Command::kTxn: {
      etcdserverpb::TxnRequest req;
      if (s = read_txn(in, inv.interactive ? &out : nullptr, &req); !s.is_ok()) return bad(s);
      etcdserverpb::TxnResponse resp;
      if (s = client.etcd_txn(req, &resp); s.is_ok()) *printed = format_etcd_txn(f, resp, style);
      return s;
    }
    default: {
      etcdserverpb::CompactionRequest req;
      req.set_revision(inv.revision);
      req.set_physical(inv.physical);
      etcdserverpb::CompactionResponse resp;
      if (s = client.etcd_compact(req, &resp); s.is_ok()) {
        *printed = format_etcd_compaction(inv.revision);
      }
      return s;
    }
  }
}

}  // namespace

int run_etcd_kv(const Invocation& inv, Client& client, std::istream& in, std::ostream& out,
                std::ostream& err, const std::function<int()>& v0_fallback) {
  std::string printed;
  bool usage_error = false;
  const util::Status s = call(inv, client, in, out, &printed, &usage_error);
  if (usage_error) return usage(err, s);
  if (s.code() == util::Code::kUnimplemented) {
    if (v0_can_serve(inv)) return v0_fallback();
    return fail(err, util::Status(s.code(), "the node does not serve etcd's KV API (" +
                                                s.message() + "), which this command needs"));
  }
  if (!s.is_ok()) return fail(err, s);
  out << printed;
  return kExitOk;
}

}  // namespace dkv::ctl
