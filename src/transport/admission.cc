#include "transport/admission.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "util/metrics.h"

namespace dkv::transport {
namespace {

util::Counter& refused_counter(std::string_view reason) {
  return util::metrics().counter(
      "dkv_peer_refused_total",
      "Peer-protocol streams and calls refused because they did not come from a member",
      {{"reason", std::string(reason)}});
}

std::string ip_text(int family, const void* addr) {
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, addr, text, sizeof(text)) == nullptr) return "";
  return text;
}

std::string canonical_v6(const in6_addr& a) {
  if (IN6_IS_ADDR_V4MAPPED(&a)) {
    in_addr v4{};
    std::memcpy(&v4, a.s6_addr + 12, sizeof(v4));
    return ip_text(AF_INET, &v4);
  }
  return ip_text(AF_INET6, &a);
}

bool contains(const std::vector<std::string>& addresses, std::string_view source) {
  return std::find(addresses.begin(), addresses.end(), source) != addresses.end();
}

}  // namespace

std::string host_of(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    return std::string(address.substr(1, close == std::string_view::npos ? close : close - 1));
  }
  const auto colon = address.rfind(':');
  // More than one colon without brackets: a bare IPv6 address, no port.
  if (colon == std::string_view::npos || address.find(':') != colon) return std::string(address);
  return std::string(address.substr(0, colon));
}

std::string canonical_ip(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    return ip_text(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr);
  }
  if (addr->sa_family == AF_INET6) {
    return canonical_v6(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
  }
  return "";
}

std::string canonical_ip(std::string_view text) {
  const std::string s(text);
  in_addr v4{};
  if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) return ip_text(AF_INET, &v4);
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) return canonical_v6(v6);
  return "";
}

bool is_member_address(const MemberAddresses& members, std::string_view source) {
  if (source.empty()) return false;
  return std::any_of(members.begin(), members.end(),
                     [&](const auto& m) { return contains(m.second, source); });
}

std::string_view stream_refusal(const MemberAddresses& members, std::string_view source,
                                raft::NodeId claimed) {
  if (!is_member_address(members, source)) return kRefusedStreamNotMember;
  const auto it = members.find(claimed);
  if (it == members.end() || !contains(it->second, source)) return kRefusedStreamWrongMember;
  return "";
}

std::vector<std::string> resolve_host(const std::string& host) {
  std::vector<std::string> out;
  if (const std::string literal = canonical_ip(host); !literal.empty()) {
    out.push_back(literal);
    return out;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return out;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const std::string ip = canonical_ip(ai->ai_addr);
    if (!ip.empty() && !contains(out, ip)) out.push_back(ip);
  }
  ::freeaddrinfo(found);
  return out;
}

PeerAdmission::PeerAdmission(Resolver resolve) : resolve_(std::move(resolve)) {
  // Present from the start, at 0, so that dashboards see the series.
  for (std::string_view reason :
       {kRefusedStreamNotMember, kRefusedStreamWrongMember, kRefusedSnapshotNotMember,
        kRefusedJoinNotMember, kRefusedStreamNotTls, kRefusedPeerTlsHandshake, kRefusedPeerCert}) {
    refused_counter(reason);
  }
}

void PeerAdmission::set_members(std::vector<std::pair<raft::NodeId, std::string>> members) {
  util::MutexLock lk(mu_);
  if (members == members_) return;
  members_ = std::move(members);
  ++members_version_;
}

void PeerAdmission::refresh() {
  std::vector<std::pair<raft::NodeId, std::string>> members;
  std::uint64_t version = 0;
  {
    util::MutexLock lk(mu_);
    const bool stale = Clock::now() - resolved_at_ >= kResolveEvery;
    if (members_version_ == resolved_version_ && !stale) return;
    members = members_;
    version = members_version_;
  }
  MemberAddresses resolved;
  for (const auto& [id, address] : members) {
    const std::string host = host_of(address);
    std::vector<std::string> ips = resolve_(host);
    if (ips.empty()) spdlog::warn("peer admission: member address {} does not resolve", address);
    resolved[id] = std::move(ips);
  }
  util::MutexLock lk(mu_);
  addresses_ = std::move(resolved);
  resolved_version_ = version;
  resolved_at_ = Clock::now();
}

void PeerAdmission::set_peer_tls(bool on) {
  util::MutexLock lk(mu_);
  peer_tls_ = on;
}

bool PeerAdmission::admits_connection(std::string_view source) const {
  util::MutexLock lk(mu_);
  return !peer_tls_ && is_member_address(addresses_, source);
}

util::Status PeerAdmission::admit_tls_stream(raft::NodeId claimed, std::string_view source,
                                             bool tls_verified) {
  bool member = false;
  {
    util::MutexLock lk(mu_);
    member = std::any_of(members_.begin(), members_.end(),
                         [&](const auto& m) { return m.first == claimed; });
  }
  if (!tls_verified) {
    refused(kRefusedStreamNotTls, "a plain-text raft stream claiming node " +
                                      std::to_string(claimed) + " from " + std::string(source) +
                                      ": peer TLS is on");
    return {util::Code::kPermissionDenied, "peer streams are accepted only through peer TLS"};
  }
  if (!member) {
    refused(kRefusedStreamNotMember, "a raft stream claiming node " + std::to_string(claimed) +
                                         " (no member) from " + std::string(source));
    return {util::Code::kPermissionDenied, "the claimed node is no member"};
  }
  return util::Status::ok();
}

util::Status PeerAdmission::admit_stream(raft::NodeId claimed, std::string_view source,
                                         bool tls_verified) {
  std::string_view reason;
  bool peer_tls = false;
  {
    util::MutexLock lk(mu_);
    peer_tls = peer_tls_;
    if (!peer_tls) reason = stream_refusal(addresses_, source, claimed);
  }
  if (peer_tls) return admit_tls_stream(claimed, source, tls_verified);
  if (reason.empty()) return util::Status::ok();
  const std::string why = reason == kRefusedStreamNotMember
                              ? "no member has that address"
                              : "that address is not the claimed member's";
  refused(reason, "a raft stream claiming node " + std::to_string(claimed) + " from " +
                      std::string(source) + ": " + why);
  return {util::Code::kPermissionDenied, "peer streams are accepted only from members' addresses"};
}

void PeerAdmission::refused(std::string_view reason, const std::string& what) {
  refused_counter(reason).inc();
  std::uint64_t suppressed = 0;
  if (!refusal_log_.allow(std::string(reason), Clock::now(), &suppressed)) return;
  spdlog::warn("peer admission: refused {} ({}; {} more of this kind since the last such line)",
               what, reason, suppressed);
}

MemberAddresses PeerAdmission::addresses() const {
  util::MutexLock lk(mu_);
  return addresses_;
}

}  // namespace dkv::transport
