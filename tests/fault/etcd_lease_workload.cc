// LeaseWorkload (etcd_workloads.h): grant, put with the lease, renew, then
// revoke or let expire, observing the key; over etcd's Lease and KV services.
#include <grpcpp/grpcpp.h>

#include <mutex>
#include <random>
#include <thread>

#include "clients.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "etcd_channel.h"
#include "etcd_workloads.h"

namespace dkv::fault {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

}  // namespace

std::string etcd_service_missing(const std::string& endpoint, const std::string& service) {
  auto ch = channel_to(endpoint);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  grpc::Status s;
  if (service == "lease") {
    etcdserverpb::LeaseLeasesResponse resp;
    s = etcdserverpb::Lease::NewStub(ch)->LeaseLeases(&ctx, {}, &resp);
  } else {
    auto stream = etcdserverpb::Watch::NewStub(ch)->Watch(&ctx);
    etcdserverpb::WatchRequest create;
    create.mutable_create_request()->set_key("probe");
    etcdserverpb::WatchResponse resp;
    if (stream->Write(create) && stream->Read(&resp)) return "";  // The created response.
    s = stream->Finish();
  }
  // Only UNIMPLEMENTED says the service is missing: a node still starting
  // (UNAVAILABLE) must not make a fault test skip.
  if (s.error_code() != grpc::StatusCode::UNIMPLEMENTED) return "";
  return "etcd " + service + " answered UNIMPLEMENTED " + s.error_message();
}

struct LeaseWorkload::State {
  EtcdWorkloadOptions o;
  Clock::time_point epoch;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> kv;
  std::vector<std::unique_ptr<etcdserverpb::Lease::Stub>> lease;
  std::atomic<bool> stopping{false}, stop_now{false};
  std::atomic<std::uint64_t> ops{0};
  std::mutex mu;  // Guards records.
  std::vector<LeaseRecord> records;
  std::vector<std::thread> threads;

  void loop(int id);
  // One lease's life by client `id`; false if it never got one.
  bool one_lease(int id, std::uint64_t n, std::mt19937_64& rng, int* member, LeaseRecord* l);
  std::unique_ptr<grpc::ClientContext> context() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + o.client_timeout);
    return ctx;
  }
  void keepalive(int m, LeaseRecord* l);
  // Reads `key`: an observation of the lease if the read answered.
  void observe(int m, const std::string& key, LeaseRecord* l);
};

void LeaseWorkload::State::keepalive(int m, LeaseRecord* l) {
  auto ctx = context();
  LeaseCall call;
  call.invoke_ns = since_ns(epoch);
  auto stream = lease[m]->LeaseKeepAlive(ctx.get());
  etcdserverpb::LeaseKeepAliveRequest req;
  req.set_id(l->id);
  etcdserverpb::LeaseKeepAliveResponse resp;
  const bool answered = stream->Write(req) && stream->Read(&resp);
  call.complete_ns = since_ns(epoch);
  ctx->TryCancel();
  const grpc::Status s = stream->Finish();
  ops.fetch_add(1);
  if (answered && resp.ttl() > 0) {
    call.acknowledged = true;
    call.ttl_s = resp.ttl();
  } else if (answered) {  // TTL <= 0: the lease is gone.
    l->observations.push_back({call.invoke_ns, call.complete_ns, false, "keepalive ttl <= 0"});
    return;
  } else if (refused(s)) {
    return;
  } else {
    call.unknown = true;  // It may have reached the leader before the stream broke.
  }
  l->keepalives.push_back(call);
}

void LeaseWorkload::State::observe(int m, const std::string& key, LeaseRecord* l) {
  auto ctx = context();
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  etcdserverpb::RangeResponse resp;
  const std::int64_t invoke = since_ns(epoch);
  const grpc::Status s = kv[m]->Range(ctx.get(), req, &resp);
  ops.fetch_add(1);
  if (!s.ok()) return;
  const bool present = resp.kvs_size() > 0;
  l->observations.push_back(
      {invoke, since_ns(epoch), present, "get " + key + (present ? " present" : " absent")});
}

bool LeaseWorkload::State::one_lease(int id, std::uint64_t n, std::mt19937_64& rng, int* member,
                                     LeaseRecord* l) {
  const int members = static_cast<int>(kv.size());
  auto next_member = [&] { return *member = (*member + 1) % members; };
  l->client = id;
  auto ctx = context();
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(o.lease_ttl_s);
  etcdserverpb::LeaseGrantResponse granted;
  l->grant.invoke_ns = since_ns(epoch);
  const grpc::Status gs = lease[next_member()]->LeaseGrant(ctx.get(), grant, &granted);
  l->grant.complete_ns = since_ns(epoch);
  ops.fetch_add(1);
  if (!gs.ok() || granted.ttl() <= 0) return false;  // No ID to follow.
  l->id = granted.id();
  l->grant.acknowledged = true;
  l->grant.ttl_s = granted.ttl();
  const std::string key = "l" + std::to_string(id) + "-" + std::to_string(n);
  etcdserverpb::PutRequest put;
  put.set_key(key);
  put.set_value("v");
  put.set_lease(l->id);
  etcdserverpb::PutResponse put_resp;
  auto put_ctx = context();
  if (!kv[next_member()]->Put(put_ctx.get(), put, &put_resp).ok()) return true;  // Key unknown.
  const auto pace = std::chrono::milliseconds(l->grant.ttl_s * 1000 / 3);
  for (int k = 1 + static_cast<int>(rng() % 3); k > 0 && !stop_now; --k) {
    std::this_thread::sleep_for(pace);  // Renewal pace, a third of the TTL (as clientv3).
    keepalive(next_member(), l);
    observe(next_member(), key, l);
  }
  if (rng() % 4 == 0) {
    auto rctx = context();
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(l->id);
    etcdserverpb::LeaseRevokeResponse resp;
    l->revoke.invoke_ns = since_ns(epoch);
    const grpc::Status rs = lease[next_member()]->LeaseRevoke(rctx.get(), req, &resp);
    l->revoke.complete_ns = since_ns(epoch);
    l->revoked = rs.ok();
    l->revoke.acknowledged = l->revoked;
    // An answer lost (the member died mid-call): the revoke may have happened.
    l->revoke.unknown = !rs.ok() && !refused(rs);
    l->revoke_sent = l->revoked || l->revoke.unknown;
    observe(next_member(), key, l);
    return true;
  }
  // Let it expire: read the key until it is gone, or give up.
  const auto give_up = Clock::now() + std::chrono::seconds(l->grant.ttl_s) + o.expiry_wait_extra;
  while (!stop_now && Clock::now() < give_up) {
    observe(next_member(), key, l);
    if (!l->observations.empty() && !l->observations.back().alive) break;
    std::this_thread::sleep_for(250ms);  // Poll pace.
  }
  return true;
}

void LeaseWorkload::State::loop(int id) {
  std::mt19937_64 rng(o.seed * 104729 + static_cast<std::uint64_t>(id));
  int member = id;
  for (std::uint64_t n = 0; !stopping; ++n) {
    LeaseRecord l;
    const bool got = one_lease(id, n, rng, &member, &l);
    if (got) {
      std::lock_guard<std::mutex> lock(mu);
      records.push_back(std::move(l));
    } else {
      std::this_thread::sleep_for(100ms);  // Pacing: no lease granted (no leader?).
    }
  }
}

LeaseWorkload::LeaseWorkload(const EtcdWorkloadOptions& options, Clock::time_point epoch)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.o = options;
  s.epoch = epoch;
  for (const auto& e : options.endpoints) {
    auto ch = channel_to(e);
    s.kv.push_back(etcdserverpb::KV::NewStub(ch));
    s.lease.push_back(etcdserverpb::Lease::NewStub(ch));
  }
  for (int i = 0; i < options.lease_clients; ++i) s.threads.emplace_back([&s, i] { s.loop(i); });
}

LeaseWorkload::~LeaseWorkload() { stop(std::chrono::milliseconds(0)); }

void LeaseWorkload::stop(std::chrono::milliseconds finish) {
  State& s = *state_;
  s.stopping = true;
  // Clients finish the lease they hold (observing its end), within `finish`.
  std::thread cut([&s, finish] {
    const auto until = Clock::now() + finish;
    while (Clock::now() < until && !s.stop_now) std::this_thread::sleep_for(50ms);  // Poll.
    s.stop_now = true;
  });
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  s.stop_now = true;
  cut.join();
}

std::uint64_t LeaseWorkload::ops() const { return state_->ops.load(); }

std::vector<LeaseRecord> LeaseWorkload::leases() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->records;
}

}  // namespace dkv::fault
