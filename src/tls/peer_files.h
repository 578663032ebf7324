// PeerTlsFiles: the peer TLS settings (DKV_PEER_CERT_FILE, DKV_PEER_KEY_FILE,
// DKV_PEER_TRUSTED_CA_FILE, DKV_PEER_CERT_ALLOWED_CN) as the transport and
// the terminator take them, and the names peers use to find each other's
// peer side on the shared RPC port. A plain header: no OpenSSL, no gRPC.
#pragma once

#include <string>
#include <string_view>

namespace dkv::tls {

// The TLS server name (SNI) a member sends when it dials another member's
// RPC port, raft stream and gRPC alike: it selects the peer certificate and
// mutual TLS against the peer CA. Not a host name; nothing checks a
// certificate against it.
inline constexpr std::string_view kPeerServerName = "dkv-peer";
// The ALPN protocol id of the raft message stream inside peer TLS; inside
// it, the stream is transport/tcp_stream.h's, hello and all.
inline constexpr std::string_view kRaftAlpn = "dkv-raft";
// Peers' gRPC (snapshots, Join, forwarded calls) negotiates this.
inline constexpr std::string_view kGrpcAlpn = "h2";
// How often certificate files are looked at for a replacement: a replaced
// certificate is used by new connections within this (plus one check).
inline constexpr int kPeerFilesRecheckSeconds = 5;

struct PeerTlsFiles {
  std::string cert_file;        // This member's certificate (chain), PEM.
  std::string key_file;         // Its private key, PEM.
  std::string trusted_ca_file;  // The peer CA: every member's certificate is signed by it.
  std::string allowed_cn;       // Non-empty: a peer's certificate must carry this CN.
  bool on() const { return !cert_file.empty(); }
};

}  // namespace dkv::tls
