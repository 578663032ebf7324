// Server: see server.h.
#include "cmd/dkv/server.h"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "api/dashboard/dashboard_service.h"
#include "api/dashboard/routes.h"
#include "api/etcd_cluster_service.h"
#include "api/etcd_maintenance_service.h"
#include "api/etcd_watch_rest.h"
#include "api/etcd_watch_service.h"
#include "api/feature_gate_query.h"
#include "api/gateway/gateway.h"
#include "api/grpc_server.h"
#include "api/kv_service.h"
#include "cmd/dkv/client_tls.h"
#include "node/cluster_discovery.h"
#include "node/feature_gate.h"
#include "node/membership.h"
#include "node/snapshot_transfer.h"
#include "tls/credentials.h"
#include "transport/admission.h"
#include "transport/port_listener.h"
#include "transport/transport.h"
#include "util/metrics.h"

namespace dkv::cmd {
namespace {

// Waits for SIGINT or SIGTERM; meanwhile calls `every_100ms` (the gRPC
// health status follows readiness this way).
int wait_for_signal(const std::function<void()>& every_100ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  const timespec period{0, 100'000'000};
  for (;;) {
    const int sig = sigtimedwait(&set, nullptr, &period);
    if (sig == SIGINT || sig == SIGTERM) return sig;
    every_100ms();
  }
}

// The transport's question to a member, for node/cluster_discovery.h, over
// peer TLS when `peer_tls` is on.
dkv::node::MemberQuery member_query(const dkv::tls::PeerTlsFiles& peer_tls) {
  return [peer_tls](const std::string& address, const std::string& asker,
                    std::chrono::milliseconds timeout, std::uint64_t* cluster_id,
                    std::string* membership) {
    dkv::transport::JoinInfo info;
    auto s = dkv::transport::fetch_join_info(address, asker, timeout, &info, peer_tls);
    if (!s.is_ok()) return s;
    *cluster_id = info.cluster_id;
    *membership = std::move(info.membership);
    return s;
  };
}

// The same question, with the member's commit index (discover_rejoin).
dkv::node::MemberAnswerQuery member_answer_query(const dkv::tls::PeerTlsFiles& peer_tls) {
  return [peer_tls](const std::string& address, const std::string& asker,
                    std::chrono::milliseconds timeout, dkv::node::MemberAnswer* answer) {
    dkv::transport::JoinInfo info;
    auto s = dkv::transport::fetch_join_info(address, asker, timeout, &info, peer_tls);
    if (!s.is_ok()) return s;
    answer->cluster_id = info.cluster_id;
    answer->membership = std::move(info.membership);
    answer->commit_index = info.commit_index;
    return s;
  };
}

// The node's two ports. bind_ports() binds both before the data directory
// is touched, so a busy port stops the node before it has created anything;
// serving starts once the node is open. Member order: the gRPC server
// outlives the listener that hands it connections (destroyed, hence
// stopped, first on every return).
struct Ports {
  std::unique_ptr<dkv::api::GrpcServer> grpc_server;
  // Client TLS (client_tls.h), between the gRPC server it feeds and the
  // listener that feeds it. Its threads hand connections to gRPC until
  // shutdown begins (GrpcServer::adopt must not race with shutdown()):
  // adopt_open, under adopt_mu.
  dkv::cmd::ClientTls tls;
  std::mutex adopt_mu;
  bool adopt_open = true;
  // The RPC port carries peers' message streams and gRPC (public clients,
  // peers' snapshots and Join): the listener tells them apart.
  std::unique_ptr<dkv::transport::PortListener> listener;
  // The REST port's server; with client TLS it listens on an ephemeral
  // loopback port behind tls.rest_listener, which holds DKV_REST_PORT.
  std::unique_ptr<dkv::api::Gateway> gateway;
  // Ends etcd's open watch streams, so that shutdown need not wait for them.
  std::function<void()> end_watch_streams;

  // Stops and frees them, each listener before what it feeds.
  void close() {
    tls.rest_listener.reset();
    gateway.reset();
    listener.reset();
    tls.rest.reset();
    tls.rpc.reset();
    grpc_server.reset();
  }
};

// Binds DKV_RPC_PORT and DKV_REST_PORT; false (after one line naming the
// variable) if either cannot be bound.
bool bind_ports(const dkv::node::Config& config, const dkv::api::MethodRegistry& registry,
                Ports* ports) {
  dkv::transport::PortListenerOptions listener_options;
  listener_options.host = config.listen_host;
  listener_options.port = config.rpc_port;
  if (auto s = dkv::transport::PortListener::open(listener_options, &ports->listener); !s.is_ok()) {
    spdlog::critical("DKV_RPC_PORT: {}", s.message());
    return false;
  }
  const bool tls_on = config.tls.client_tls();
  if (tls_on) {
    if (auto s =
            dkv::cmd::open_rest_tls_listener(config.listen_host, config.rest_port, &ports->tls);
        !s.is_ok()) {
      spdlog::critical("DKV_REST_PORT: {}", s.message());
      return false;
    }
  }
  dkv::api::GatewayOptions gateway_options;
  // With client TLS the gateway listens on loopback only, behind the TLS
  // terminator on the REST port.
  gateway_options.listen_host = tls_on ? "127.0.0.1" : config.listen_host;
  gateway_options.port = tls_on ? 0 : config.rest_port;
  if (tls_on) {
    gateway_options.admit = [ports = ports->tls.rest_backend_ports](const std::string& ip,
                                                                    std::uint16_t port) {
      return ip == "127.0.0.1" && ports->take(port);
    };
  }
  gateway_options.default_deadline = std::chrono::milliseconds(config.request_timeout_ms);
  gateway_options.shutdown_grace = std::chrono::milliseconds(2500);
  ports->gateway = std::make_unique<dkv::api::Gateway>(registry, gateway_options);
  if (auto s = ports->gateway->listen(); !s.is_ok()) {
    spdlog::critical("DKV_REST_PORT: {}", s.message());
    return false;
  }
  return true;
}

// The node's options from the configuration, with a warning for each test
// switch that is on (or ignored by a build without test hooks).
dkv::node::NodeOptions node_options_of(const dkv::node::Config& config) {
  dkv::node::NodeOptions o;
  o.node_id = config.node_id;
  o.members = config.cluster;
  o.db_path = config.db_path;
  o.quota_bytes = config.quota_bytes;
  o.heartbeat_ms = config.heartbeat_ms;
  o.election_ms = config.election_ms;
  o.snapshot_entries = config.snapshot_entries;
  o.snapshot_bytes = config.snapshot_bytes;
  o.snapshot_catchup_entries = std::min<std::uint64_t>(5000, config.snapshot_entries);
  o.auto_compaction.mode = config.auto_compaction_periodic
                               ? dkv::node::AutoCompactionOptions::Mode::kPeriodic
                               : dkv::node::AutoCompactionOptions::Mode::kRevision;
  o.auto_compaction.retention_revisions =
      static_cast<std::int64_t>(config.auto_compaction_revisions);
  o.auto_compaction.retention_period = std::chrono::milliseconds(config.auto_compaction_period_ms);
  o.force_new_cluster = config.force_new_cluster;
  o.test_stale_reads = config.test_stale_reads;
  if (config.test_stale_reads) {
    spdlog::warn("DKV_TEST_STALE_READS=1: reads are NOT linearizable (test canary only)");
  }
  o.test_failpoints = config.test_failpoints;
  if (!config.test_failpoints.empty()) {
    spdlog::warn("DKV_TEST_FAILPOINTS={}: WAL failpoints armed (test only)",
                 config.test_failpoints);
  }
  o.test_ack_before_persist = config.test_ack_before_persist;
  if (config.test_ack_before_persist) {
    spdlog::warn(
        "DKV_TEST_ACK_BEFORE_PERSIST=1: writes are acknowledged before they are durable "
        "(test canary only)");
  }
  if (config.test_feature_level) {
    o.feature_level_supported = static_cast<dkv::kv::FeatureLevel>(*config.test_feature_level);
    spdlog::warn(
        "DKV_TEST_FEATURE_LEVEL={}: this node plays a dkv that applies only that level "
        "(test only)",
        *config.test_feature_level);
  }
  for (const auto& name : config.test_variables_ignored) {
    spdlog::warn("{} ignored: this dkv was built without test hooks (DKV_TEST_HOOKS=OFF)", name);
  }
  return o;
}

// A new data directory joins an existing cluster (DKV_CLUSTER_STATE=existing)
// or, at a plain start, asks the members whether this node lost its data
// (discover_rejoin); either way it then rejoins without voting until caught
// up. Returns 0, or the exit code after one critical line.
int prepare_new_directory(const dkv::node::Config& config, const dkv::tls::PeerTlsFiles& peer_tls,
                          dkv::node::NodeOptions* options) {
  std::error_code ec;
  if (std::filesystem::exists(config.db_path + "/wal", ec)) return 0;
  dkv::node::NodeOptions::Join join;
  if (config.join_existing) {
    // Asks the other members for a while: a follower may not have applied
    // `member add` yet.
    const auto s = dkv::node::discover_join(config.node_id, config.cluster, member_query(peer_tls),
                                            std::chrono::seconds(30), &join);
    if (!s.is_ok()) {
      spdlog::critical("DKV_CLUSTER_STATE=existing: cannot join: {}", s.message());
      return s.code() == dkv::util::Code::kFailedPrecondition ? kExitBadConfig : 1;
    }
  } else if (!dkv::node::discover_rejoin(config.node_id, config.cluster,
                                         member_answer_query(peer_tls),
                                         std::chrono::milliseconds(1000), &join)) {
    return 0;  // A first start: bootstrap from DKV_CLUSTER.
  }
  options->join = join;
  options->rejoining = true;  // Maybe a wiped member under its old name.
  return 0;
}

// The transport's peers and the peer admission table follow the membership
// the node reports (Node::peer_members). Reconciled under one mutex from the
// latest membership, so concurrent calls (the raft thread's on_membership,
// main's first sync) cannot apply an older one. Until attach(), sync() does
// nothing and messages the node sends are dropped (raft retransmits).
class PeerSync {
 public:
  void attach(dkv::transport::Transport* transport, dkv::node::Node* node) {
    transport_ = transport;
    node_ = node;
    sync();
  }
  void detach() {
    std::lock_guard lock(mu_);
    transport_ = nullptr;
  }
  void send(std::vector<dkv::raft::Message> msgs) {
    if (auto* t = transport_.load()) t->send(std::move(msgs));
  }
  void sync() {
    std::lock_guard lock(mu_);
    dkv::transport::Transport* t = transport_.load();
    dkv::node::Node* n = node_.load();
    if (t == nullptr || n == nullptr) return;
    std::set<dkv::raft::NodeId> now;
    std::vector<std::pair<dkv::raft::NodeId, std::string>> member_addresses;
    for (const auto& m : n->peer_members()) {
      const auto id = dkv::node::node_id_of(m.id);
      member_addresses.emplace_back(id, m.address());
      if (id == n->raft_id()) continue;
      now.insert(id);
      t->add_peer(id, m.address());  // A no-op for a known peer at the same address.
    }
    for (auto id : peers_) {
      if (!now.count(id)) t->remove_peer(id);
    }
    peers_ = std::move(now);
    admission_.set_members(std::move(member_addresses));
  }
  // Who may speak the peer protocol: the members' addresses, resolved by
  // refresh() on main's tick, off the raft thread.
  dkv::transport::PeerAdmission& admission() { return admission_; }

 private:
  std::atomic<dkv::transport::Transport*> transport_{nullptr};
  std::atomic<dkv::node::Node*> node_{nullptr};
  std::mutex mu_;
  std::set<dkv::raft::NodeId> peers_;
  dkv::transport::PeerAdmission admission_;
};

// The transport of the node's cluster, admitting peers by `admission`.
dkv::transport::TransportOptions transport_options_of(const dkv::node::Node* node,
                                                      dkv::transport::PeerAdmission* admission,
                                                      const dkv::tls::PeerTlsFiles& peer_tls) {
  dkv::transport::TransportOptions o;
  o.peer_tls = peer_tls;
  o.cluster_id = node->cluster_id();
  o.local_id = node->raft_id();
  o.peer_name = [node](dkv::raft::NodeId id) { return node->membership().name_of(id); };
  o.admission = admission;
  return o;
}

// What the transport calls back into: the node, and the snapshot files
// under db_path, streamed from file to file (node/snapshot_transfer.h).
dkv::transport::TransportCallbacks transport_callbacks(dkv::node::Node* n,
                                                       const std::string& db_path) {
  dkv::transport::TransportCallbacks callbacks;
  callbacks.on_message = [n](dkv::raft::Message m) { n->receive(std::move(m)); };
  callbacks.on_messages = [n](std::vector<dkv::raft::Message> ms) { n->receive(std::move(ms)); };
  callbacks.on_unreachable = [n](dkv::raft::NodeId peer) { n->report_unreachable(peer); };
  callbacks.on_snapshot_status = [n](dkv::raft::NodeId peer, bool ok) {
    n->report_snapshot(peer, ok);
  };
  callbacks.snapshot_source = [db_path](const dkv::raft::Message& m,
                                        std::unique_ptr<dkv::transport::SnapshotSource>* out) {
    return dkv::node::open_snapshot_source(db_path, m, out);
  };
  callbacks.snapshot_sink = [db_path](const dkv::raft::Message& header, std::uint64_t total_bytes) {
    return dkv::node::make_snapshot_sink(db_path, header, total_bytes);
  };
  callbacks.membership = [n] { return n->membership().encode(); };
  callbacks.commit_index = [n] { return n->status().commit_index; };
  return callbacks;
}

// Starts gRPC behind the RPC port's listener: raft streams to the
// transport; gRPC from members' addresses to the server that also serves
// the peer services; with client TLS, TLS handshakes to the terminator and
// plain gRPC only from members (peers' snapshots, Join and forwarding are
// plain without peer TLS). With peer TLS the terminator's peer side hands
// members' raft streams and gRPC on, and nothing plain reaches the peer
// services. Returns 0 or an exit code.
// The gRPC server's settings: peers' and strangers' services beside the
// API, etcd's Watch, and backups; `ports` keeps the watch streams' ender.
dkv::api::GrpcServerOptions grpc_server_options(const dkv::node::Config& config,
                                                dkv::node::Node* node,
                                                dkv::transport::Transport* transport,
                                                Ports* ports) {
  dkv::api::GrpcServerOptions grpc_options;
  grpc_options.listen = false;
  grpc_options.host = config.listen_host;
  grpc_options.port = config.rpc_port;
  grpc_options.peer_services.push_back(transport->service());
  grpc_options.stranger_services.push_back(transport->stranger_service());
  grpc_options.configure_builder = [](grpc::ServerBuilder& b) {
    dkv::transport::Transport::configure_server(b);
  };
  dkv::api::WatchOptions watch_options;
  watch_options.progress_notify_interval =
      std::chrono::milliseconds(config.watch_progress_notify_ms);
  dkv::api::EtcdWatchServices watch = dkv::api::etcd_watch_services(node, watch_options);
  grpc_options.make_services = std::move(watch.make);
  ports->end_watch_streams = std::move(watch.end_streams);
  grpc_options.open_snapshot = [node](std::size_t chunk_bytes, auto* reader) {
    return node->open_backup_image(chunk_bytes, reader);
  };
  return grpc_options;
}

int serve_rpc(const dkv::node::Config& config, const dkv::api::MethodRegistry& registry,
              dkv::node::Node* node, dkv::transport::Transport* transport,
              dkv::transport::PeerAdmission* admission, Ports* ports) {
  const dkv::api::GrpcServerOptions grpc_options =
      grpc_server_options(config, node, transport, ports);
  if (auto s = dkv::api::GrpcServer::start(registry, grpc_options, &ports->grpc_server);
      !s.is_ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  const bool tls_on = config.tls.client_tls();
  if (tls_on || config.tls.peer_tls()) {
    auto adopter = [ports](bool from_member) {
      return [ports, from_member](int fd) {
        std::lock_guard lock(ports->adopt_mu);
        if (!ports->adopt_open) {
          ::close(fd);
          return;
        }
        ports->grpc_server->adopt(fd, from_member);
      };
    };
    dkv::cmd::RpcBackends backends;
    backends.client_grpc = adopter(false);
    backends.peer_grpc = adopter(true);
    backends.raft_stream = [transport](int fd, SSL* ssl, const std::string& source) {
      transport->adopt_stream(fd, source, ssl);
    };
    backends.on_refused = [admission](std::string_view reason, const std::string& what) {
      admission->refused(reason, what);
    };
    if (auto s = dkv::cmd::start_rpc_tls(config.tls, std::move(backends), &ports->tls);
        !s.is_ok()) {
      spdlog::critical("{}", s.message());
      return kExitBadConfig;
    }
  }
  dkv::tls::TlsTerminator* rpc_tls = ports->tls.rpc.get();
  dkv::api::GrpcServer* grpc_server = ports->grpc_server.get();
  ports->listener->start(
      // With peer TLS, admission refuses these (plain text).
      [transport](int fd, const std::string& source) { transport->adopt_stream(fd, source); },
      [grpc_server, admission, tls_on](int fd, const std::string& source) {
        const bool member = admission->admits_connection(source);  // Never with peer TLS.
        if (tls_on && !member) {
          ::close(fd);  // A plain client where TLS is required.
          return;
        }
        grpc_server->adopt(fd, member);
      },
      rpc_tls == nullptr
          ? dkv::transport::PortListener::Handler()
          : [rpc_tls](int fd, const std::string& source) { rpc_tls->adopt(fd, source); });
  spdlog::info("serving gRPC and peers' streams on {}:{}", config.listen_host,
               ports->listener->port());
  return 0;
}

// Starts REST (and HTTPS with client TLS) with the probes and metrics
// beside the API. Returns 0 or an exit code.
int serve_rest(const dkv::node::Config& config, dkv::node::Node* node, std::function<bool()> ready,
               Ports* ports) {
  dkv::api::Gateway& gateway = *ports->gateway;
  gateway.add_plain_route("GET", "/livez", [] {
    return dkv::api::PlainResponse{200, "text/plain", "ok\n"};
  });
  gateway.add_plain_route("GET", "/metrics", [] {
    return dkv::api::PlainResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                   dkv::util::metrics().render()};
  });
  gateway.add_plain_route("GET", "/readyz", [node, ready = std::move(ready)] {
    if (node->removed()) {
      return dkv::api::PlainResponse{503, "text/plain", "removed from the cluster\n"};
    }
    return ready() ? dkv::api::PlainResponse{200, "text/plain", "ok\n"}
                   : dkv::api::PlainResponse{503, "text/plain", "not ready\n"};
  });
  dkv::api::dashboard::add_dashboard_routes(&gateway);  // GET /: the dashboard.
  // etcd's probes (api/etcd_maintenance_service.h).
  gateway.add_plain_route("GET", "/version",
                          [body = dkv::api::etcd_version_json(config.etcd_version)] {
                            return dkv::api::PlainResponse{200, "application/json", body};
                          });
  gateway.add_plain_route("GET", "/health", [node] {
    auto health = dkv::api::etcd_health(*node);
    return dkv::api::PlainResponse{health.status, "application/json", std::move(health.body)};
  });
  dkv::api::WatchOptions watch_options;  // etcd's Watch (api/etcd_watch_rest.h).
  watch_options.progress_notify_interval =
      std::chrono::milliseconds(config.watch_progress_notify_ms);
  gateway.add_stream_route("POST", "/v3/watch",
                           dkv::api::etcd_watch_rest_handler(node, watch_options));
  if (auto s = gateway.start(); !s.is_ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  const bool tls_on = config.tls.client_tls();
  if (tls_on) {
    if (auto s = dkv::cmd::start_rest_tls(config.tls, gateway.port(), &ports->tls); !s.is_ok()) {
      spdlog::critical("{}", s.message());
      return 1;
    }
  }
  spdlog::info("serving REST{} on {}:{}", tls_on ? " (HTTPS)" : "", config.listen_host,
               tls_on ? config.rest_port : gateway.port());
  return 0;
}

// A clean stop: a leader hands over first (bounded), so the cluster keeps a
// leader; then both front ends drain in parallel within one bound (what is
// still running after it is cancelled: clients see UNAVAILABLE).
void shut_down(dkv::node::Node* node, dkv::transport::Transport* transport, Ports* ports) {
  ports->grpc_server->set_serving(false);
  if (!node->transfer_leadership(std::chrono::milliseconds(2000))) {
    spdlog::warn("leadership transfer did not finish in time; stopping anyway");
  }
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(2500);
  ports->listener->stop();    // Nothing new for the servers below.
  transport->stop_inbound();  // Peers' message streams end now.
  std::thread rest_stop([ports] { ports->gateway->stop(); });
  {
    std::lock_guard lock(ports->adopt_mu);
    ports->adopt_open = false;
  }
  if (ports->end_watch_streams) ports->end_watch_streams();
  ports->grpc_server->shutdown(deadline);
  rest_stop.join();
  ports->tls.stop();  // After the servers behind it drained.
  node->stop();
}

// Opens (or creates, joins, rejoins) the data directory and starts the node,
// which sends and reports membership through `peer_sync`. Returns 0 or the
// exit code after one critical line.
int open_node(const dkv::node::Config& config, const dkv::tls::PeerTlsFiles& peer_tls,
              PeerSync* peer_sync, std::unique_ptr<dkv::node::Node>* node) {
  dkv::node::NodeOptions node_options = node_options_of(config);
  if (const int rc = prepare_new_directory(config, peer_tls, &node_options); rc != 0) return rc;
  node_options.send = [peer_sync](auto msgs) { peer_sync->send(std::move(msgs)); };
  node_options.on_membership = [peer_sync](const dkv::node::Membership&) { peer_sync->sync(); };
  if (auto s = dkv::node::Node::open(node_options, node); !s.is_ok()) {
    // The data directory belongs to another node or cluster: a configuration
    // error (exit 2), like a bad variable.
    const bool config_error = s.code() == dkv::util::Code::kFailedPrecondition;
    spdlog::critical("cannot open {}: {}", config.db_path, s.to_string());
    return config_error ? kExitBadConfig : 1;
  }
  return 0;
}

}  // namespace

// Helpers the Server's members need, out of the anonymous namespace.
struct Server::Parts {
  // Peer TLS for this node's own calls to members (DKV_PEER_*; off: plain).
  dkv::tls::PeerTlsFiles peer_tls;
  dkv::api::MethodRegistry registry;
  Ports ports;
  PeerSync peer_sync;
  std::unique_ptr<dkv::node::Node> node;
  std::unique_ptr<dkv::transport::Transport> transport;
  // The forwarder's channels to other members (also the feature gate's).
  decltype(dkv::api::ServiceOptions::forward) forward;
};

Server::Server(const dkv::node::Config& config) : config_(config), p_(std::make_unique<Parts>()) {
  p_->peer_tls = dkv::cmd::peer_tls_files(config_.tls);
}

// From start() on, the ports feed the transport and the node, and the node
// sends through the transport: the ports close and the node stops before the
// transport is destroyed (members go in reverse order of Parts).
Server::~Server() {
  if (p_->transport == nullptr) return;
  p_->ports.close();
  p_->node->stop();
  p_->peer_sync.detach();
}

// The order of start is the order of trust in what is there: configuration,
// then the ports (a busy one stops us before the data directory is
// touched), then the data directory and the node, then the transport, and
// only then serving.
int Server::start() {
  if (!bind_ports(config_, p_->registry, &p_->ports)) return 1;
  if (const int rc = open_node(config_, p_->peer_tls, &p_->peer_sync, &p_->node); rc != 0)
    return rc;
  p_->transport = std::make_unique<dkv::transport::Transport>(
      transport_options_of(p_->node.get(), &p_->peer_sync.admission(), p_->peer_tls),
      transport_callbacks(p_->node.get(), config_.db_path));
  p_->peer_sync.admission().set_peer_tls(config_.tls.peer_tls());
  p_->peer_sync.attach(p_->transport.get(), p_->node.get());
  p_->peer_sync.admission().refresh();
  if (config_.tls.peer_tls()) {
    spdlog::info("peer TLS: members talk mutual TLS against {}; plain peer traffic is refused",
                 config_.tls.peer_trusted_ca_file);
  } else {
    spdlog::warn(
        "peer traffic is unauthenticated: peers are told from strangers only by their source "
        "address (anyone on a member's host may speak for it); set DKV_PEER_CERT_FILE for peer "
        "TLS");
  }
  dkv::api::ServiceOptions service_options;
  service_options.request_timeout = std::chrono::milliseconds(config_.request_timeout_ms);
  service_options.forward =
      dkv::api::make_grpc_forwarder([peer_tls = p_->peer_tls](const std::string& address) {
        return dkv::transport::make_peer_channel(address, peer_tls);
      });
  p_->forward = service_options.forward;
  dkv::api::register_services(&p_->registry, p_->node.get(), service_options);
  dkv::api::dashboard::register_dashboard_service(&p_->registry, p_->node.get(), service_options);
  const dkv::api::EtcdOptions etcd{config_.etcd_version, config_.tls.client_tls()};
  dkv::api::register_etcd_cluster_service(&p_->registry, p_->node.get(), service_options, etcd);
  dkv::api::register_etcd_maintenance_service(&p_->registry, p_->node.get(), service_options, etcd);
  int rc = serve_rpc(config_, p_->registry, p_->node.get(), p_->transport.get(),
                     &p_->peer_sync.admission(), &p_->ports);
  if (rc == 0)
    rc = serve_rest(
        config_, p_->node.get(), [this] { return ready(); }, &p_->ports);
  return rc;
}

// Ready while not shutting down and the node can serve; /readyz and the
// gRPC health service follow it.
bool Server::ready() const { return !shutting_down_.load() && p_->node->ready(); }

int Server::serve_until_signal() {
  bool serving = ready();
  p_->ports.grpc_server->set_serving(serving);
  dkv::node::RemovalProbe removal_probe(p_->node.get(), member_query(p_->peer_tls));
  dkv::node::FeatureGate feature_gate(p_->node.get(),
                                      dkv::api::make_feature_level_query(p_->forward));
  const int sig = wait_for_signal([&] {
    removal_probe.tick();
    feature_gate.tick();
    p_->peer_sync.admission().refresh();  // Membership changes take effect within 100 ms.
    if (ready() != serving) {
      serving = !serving;
      p_->ports.grpc_server->set_serving(serving);
    }
  });
  spdlog::info("received {}, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
  shutting_down_ = true;
  shut_down(p_->node.get(), p_->transport.get(), &p_->ports);
  spdlog::info("stopped");
  return 0;
}

}  // namespace dkv::cmd
