// Peer admission in plain mode (DESIGN.md "Who may talk to a node"): the
// peer protocol (raft message streams, snapshot streams, Join) is accepted
// only from a connection whose source address is the configured host of a
// current member, resolved; a raft stream only from an address of the member
// its hello claims to be. This keeps strangers on other hosts out; anyone on
// a member's own host can still pass (only peer TLS stops them). The cluster
// id is public (/v0/status): it is no credential.
//
// With peer TLS (set_peer_tls) addresses no longer matter: a raft stream is
// admitted only if it came through peer TLS (the terminator verified a
// certificate of the peer CA) and claims a current member; plain
// connections never reach the peer services.
//
// The policy is pure functions over a MemberAddresses table (unit-tested
// alone); PeerAdmission holds the current table, resolves the members' hosts
// off the raft thread (refresh()), and counts refusals in /metrics as
// dkv_peer_refused_total{reason}, logging them at most once per reason every
// kRefusalLogEvery.
//
// Threading: PeerAdmission is thread-safe. refresh() may block on DNS: call
// it from a thread that may wait (main's tick), never the raft thread or the
// port listener. No gRPC here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "raft/types.h"
#include "util/mutex.h"
#include "util/rate_limiter.h"
#include "util/status.h"
#include "util/thread_annotations.h"

struct sockaddr;

namespace dkv::transport {

// Each member's raft id and the addresses its configured host resolves to,
// in canonical text ("10.0.0.2", "::1").
using MemberAddresses = std::map<raft::NodeId, std::vector<std::string>>;

// Why a peer-protocol connection or call was refused: the `reason` label of
// dkv_peer_refused_total.
inline constexpr std::string_view kRefusedStreamNotMember = "stream_not_member";
inline constexpr std::string_view kRefusedStreamWrongMember = "stream_wrong_member";
inline constexpr std::string_view kRefusedSnapshotNotMember = "snapshot_not_member";
inline constexpr std::string_view kRefusedJoinNotMember = "join_not_member";
// With peer TLS: a raft stream not through peer TLS (plain TCP); a TLS
// handshake on the peer side that failed (no certificate, or not one of the
// peer CA); a verified certificate refused (DKV_PEER_CERT_ALLOWED_CN).
// The last two are counted by the TLS terminator (tls/terminator.h).
inline constexpr std::string_view kRefusedStreamNotTls = "stream_not_tls";
inline constexpr std::string_view kRefusedPeerTlsHandshake = "peer_tls_handshake";
inline constexpr std::string_view kRefusedPeerCert = "peer_cert";

// The host of "host:port" ("[::1]:2380" -> "::1"; no port: all of it).
std::string host_of(std::string_view address);
// The IP of a socket address in canonical text, an IPv4-mapped IPv6 address
// as IPv4 ("::ffff:10.0.0.2" -> "10.0.0.2"). "" for other families.
std::string canonical_ip(const sockaddr* addr);
// `text` ("10.0.0.2", "::ffff:10.0.0.2", "0:0::1") in canonical text; "" if
// it is no IP address.
std::string canonical_ip(std::string_view text);

// True iff `source` is an address of some member.
bool is_member_address(const MemberAddresses& members, std::string_view source);
// Whether a raft stream whose hello claims to come from `claimed` may be
// served when its connection comes from `source`: "" (yes), or the refusal
// reason (kRefusedStreamNotMember: no member has that address;
// kRefusedStreamWrongMember: another member has it, not the claimed one).
std::string_view stream_refusal(const MemberAddresses& members, std::string_view source,
                                raft::NodeId claimed);

// Resolves a member's host to its addresses (canonical text). Empty if it
// does not resolve. Blocks on DNS for names.
std::vector<std::string> resolve_host(const std::string& host);

class PeerAdmission {
 public:
  using Resolver = std::function<std::vector<std::string>(const std::string& host)>;
  static constexpr std::chrono::seconds kRefusalLogEvery{10};
  // Hosts are resolved again this often (DNS may move a member).
  static constexpr std::chrono::seconds kResolveEvery{30};

  explicit PeerAdmission(Resolver resolve = resolve_host);
  PeerAdmission(const PeerAdmission&) = delete;
  PeerAdmission& operator=(const PeerAdmission&) = delete;

  // The current members: raft id and RPC address (host:port). Quick: the
  // next refresh() resolves them.
  void set_members(std::vector<std::pair<raft::NodeId, std::string>> members);
  // Resolves the members' hosts if they changed since the last call, or
  // after kResolveEvery. May block on DNS.
  void refresh();

  // Peer TLS on (DKV_PEER_*): certificates tell members from strangers,
  // not addresses. Then no plain connection reaches the peer services and
  // a raft stream is admitted only through peer TLS, for a current member.
  void set_peer_tls(bool on);

  // The plain connection from `source` may reach the peer services
  // (snapshots, Join). Quick.
  bool admits_connection(std::string_view source) const;
  // OK, or PERMISSION_DENIED (counted and logged) for a raft stream from
  // `source` whose hello claims `claimed`; `tls_verified`: it came through
  // peer TLS.
  util::Status admit_stream(raft::NodeId claimed, std::string_view source,
                            bool tls_verified = false);
  // Counts a refusal under `reason` and logs `what`, rate-limited per reason.
  void refused(std::string_view reason, const std::string& what);

  MemberAddresses addresses() const;

 private:
  using Clock = std::chrono::steady_clock;

  util::Status admit_tls_stream(raft::NodeId claimed, std::string_view source, bool tls_verified);

  const Resolver resolve_;
  mutable util::Mutex mu_;
  bool peer_tls_ DKV_GUARDED_BY(mu_) = false;
  std::vector<std::pair<raft::NodeId, std::string>> members_ DKV_GUARDED_BY(mu_);
  std::uint64_t members_version_ DKV_GUARDED_BY(mu_) = 0;   // Bumped by set_members().
  std::uint64_t resolved_version_ DKV_GUARDED_BY(mu_) = 0;  // What addresses_ reflects.
  Clock::time_point resolved_at_ DKV_GUARDED_BY(mu_){};
  MemberAddresses addresses_ DKV_GUARDED_BY(mu_);
  util::RateLimiter refusal_log_{kRefusalLogEvery};  // One line per reason.
};

}  // namespace dkv::transport
