#include "transport/peer_channel.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <map>

#include "tls/peer_tls.h"
#include "util/mutex.h"

namespace dkv::transport {
namespace {

// Peers' gRPC credentials: with peer TLS, the member's certificate and key
// and the peer CA, watched for replacement by gRPC; the server's
// certificate is verified against the peer CA (not its host name). One per
// set of files in the process: each has a file watcher.
std::shared_ptr<grpc::ChannelCredentials> peer_credentials(const tls::PeerTlsFiles& f) {
  if (!f.on()) return grpc::InsecureChannelCredentials();
  static util::Mutex mu;
  static std::map<std::string, std::shared_ptr<grpc::ChannelCredentials>> made;
  util::MutexLock lk(mu);
  auto& creds = made[f.cert_file + "\n" + f.key_file + "\n" + f.trusted_ca_file];
  if (creds) return creds;
  namespace ex = grpc::experimental;
  ex::TlsChannelCredentialsOptions o;
  o.set_certificate_provider(std::make_shared<ex::FileWatcherCertificateProvider>(
      f.key_file, f.cert_file, f.trusted_ca_file, tls::kPeerFilesRecheckSeconds));
  o.watch_root_certs();
  o.watch_identity_key_cert_pairs();
  o.set_verify_server_certs(true);
  o.set_check_call_host(false);
  o.set_certificate_verifier(std::make_shared<ex::NoOpCertificateVerifier>());
  creds = ex::TlsCredentials(o);
  return creds;
}

// With peer TLS, the server name that selects the member's peer side.
void set_peer_channel_args(const tls::PeerTlsFiles& f, grpc::ChannelArguments* args) {
  if (f.on()) args->SetSslTargetNameOverride(std::string(tls::kPeerServerName));
}

}  // namespace

std::shared_ptr<grpc::Channel> make_channel(const std::string& address, const TransportOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(kWireMessageBytesMax);
  args.SetMaxReceiveMessageSize(1 << 20);  // Responses are empty.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, o.keepalive_time_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, o.keepalive_timeout_ms);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Keep pinging however long we send no data.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gRPC's own reconnect backoff (default up to 120 s) must not outlast ours;
  // the minimum is also the connect timeout.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, o.backoff_initial_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, o.backoff_max_ms);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, o.backoff_max_ms);
  // A connection of our own per channel: the message and snapshot channels
  // of a peer, and transports of other nodes in one test process, never share.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  set_peer_channel_args(o.peer_tls, &args);
  return grpc::CreateCustomChannel(address, peer_credentials(o.peer_tls), args);
}

std::shared_ptr<grpc::Channel> make_peer_channel(const std::string& address,
                                                 const tls::PeerTlsFiles& tls) {
  grpc::ChannelArguments args;
  set_peer_channel_args(tls, &args);
  return grpc::CreateCustomChannel(address, peer_credentials(tls), args);
}

}  // namespace dkv::transport
