// The gRPC side of talking to a peer: the channel a peer's snapshot lane
// streams on (its keepalive, backoff and size limits), the credentials of
// peer TLS, and the metadata keys of the Raft service's calls. The message
// streams do not use gRPC (tcp_stream.h). transport.h declares
// make_peer_channel(), defined here.
// Threading: make_channel() is thread-safe (the credentials are made once
// per set of peer TLS files, under a lock).
#pragma once

#include <memory>
#include <string>

#include "transport/transport.h"

namespace dkv::transport {

// The Raft service's call metadata: the sender's cluster id and node id.
inline constexpr char kMetaClusterId[] = "dkv-cluster-id";
inline constexpr char kMetaFrom[] = "dkv-from";

// A channel of its own (no shared subchannel) to the peer at `address`,
// with the options' keepalive, reconnect backoff and peer TLS.
std::shared_ptr<grpc::Channel> make_channel(const std::string& address, const TransportOptions& o);

}  // namespace dkv::transport
