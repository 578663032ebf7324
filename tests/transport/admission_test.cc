// Peer admission's policy (transport/admission.h) as pure functions, and
// PeerAdmission's table with an injected resolver (no DNS): which sources
// may open a raft stream claiming which member, and which may reach the
// peer gRPC services.
#include "transport/admission.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "util/metrics.h"

namespace dkv::transport {
namespace {

constexpr raft::NodeId kA = 11;
constexpr raft::NodeId kB = 22;
constexpr raft::NodeId kStranger = 99;

MemberAddresses two_members() { return {{kA, {"10.0.0.1"}}, {kB, {"10.0.0.2", "fd00::2"}}}; }

TEST(AdmissionTest, HostOfAnAddress) {
  EXPECT_EQ(host_of("10.0.0.1:2380"), "10.0.0.1");
  EXPECT_EQ(host_of("node-a.example:2380"), "node-a.example");
  EXPECT_EQ(host_of("[::1]:2380"), "::1");
  EXPECT_EQ(host_of("fd00::2"), "fd00::2");  // Bare IPv6, no port.
  EXPECT_EQ(host_of("localhost"), "localhost");
}

TEST(AdmissionTest, CanonicalIpText) {
  EXPECT_EQ(canonical_ip(std::string_view("10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(canonical_ip(std::string_view("::ffff:10.0.0.1")), "10.0.0.1");
  EXPECT_EQ(canonical_ip(std::string_view("fd00:0:0::2")), "fd00::2");
  EXPECT_EQ(canonical_ip(std::string_view("node-a")), "");
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  ASSERT_EQ(::inet_pton(AF_INET6, "::ffff:10.0.0.2", &mapped.sin6_addr), 1);
  EXPECT_EQ(canonical_ip(reinterpret_cast<const sockaddr*>(&mapped)), "10.0.0.2");
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  ASSERT_EQ(::inet_pton(AF_INET, "10.0.0.1", &v4.sin_addr), 1);
  EXPECT_EQ(canonical_ip(reinterpret_cast<const sockaddr*>(&v4)), "10.0.0.1");
}

TEST(AdmissionTest, OnlyMembersAddressesReachThePeerServices) {
  const MemberAddresses m = two_members();
  EXPECT_TRUE(is_member_address(m, "10.0.0.1"));
  EXPECT_TRUE(is_member_address(m, "fd00::2"));
  EXPECT_FALSE(is_member_address(m, "10.0.0.3"));
  EXPECT_FALSE(is_member_address(m, ""));  // Not IP (e.g. a Unix socket).
  EXPECT_FALSE(is_member_address({}, "10.0.0.1"));
}

TEST(AdmissionTest, AStreamMustComeFromTheClaimedMembersAddress) {
  const MemberAddresses m = two_members();
  EXPECT_EQ(stream_refusal(m, "10.0.0.1", kA), "");
  EXPECT_EQ(stream_refusal(m, "fd00::2", kB), "");
  // A stranger claiming a member (the forged leader).
  EXPECT_EQ(stream_refusal(m, "10.0.0.3", kA), kRefusedStreamNotMember);
  // A member's host claiming another member.
  EXPECT_EQ(stream_refusal(m, "10.0.0.2", kA), kRefusedStreamWrongMember);
  // A member's host claiming an id that is no member.
  EXPECT_EQ(stream_refusal(m, "10.0.0.1", kStranger), kRefusedStreamWrongMember);
}

TEST(AdmissionTest, PeerAdmissionFollowsTheMembersAfterRefresh) {
  int resolves = 0;
  PeerAdmission admission([&](const std::string& host) -> std::vector<std::string> {
    ++resolves;
    if (host == "a.example") return {"10.0.0.1"};
    if (host == "b.example") return {"10.0.0.2"};
    return {};
  });
  EXPECT_FALSE(admission.admits_connection("10.0.0.1"));  // Nobody yet.
  admission.set_members({{kA, "a.example:2380"}, {kB, "b.example:2380"}});
  EXPECT_FALSE(admission.admits_connection("10.0.0.1"));  // Not resolved yet.
  admission.refresh();
  EXPECT_EQ(resolves, 2);
  EXPECT_TRUE(admission.admits_connection("10.0.0.1"));
  EXPECT_TRUE(admission.admit_stream(kB, "10.0.0.2").is_ok());

  auto& counter = util::metrics().counter("dkv_peer_refused_total", "",
                                          {{"reason", std::string(kRefusedStreamNotMember)}});
  const std::uint64_t before = counter.value();
  const util::Status s = admission.admit_stream(kA, "10.0.0.9");
  EXPECT_EQ(s.code(), util::Code::kPermissionDenied);
  EXPECT_EQ(counter.value(), before + 1);

  admission.refresh();  // Nothing changed: no new lookups.
  EXPECT_EQ(resolves, 2);
  admission.set_members({{kA, "a.example:2380"}});  // b removed.
  admission.refresh();
  EXPECT_FALSE(admission.admits_connection("10.0.0.2"));
  EXPECT_EQ(admission.admit_stream(kB, "10.0.0.2").code(), util::Code::kPermissionDenied);
}

// With peer TLS, certificates decide: a member's address no longer admits
// anything plain, and a stream through peer TLS must claim a member.
TEST(AdmissionTest, PeerTlsAdmitsOnlyVerifiedStreamsOfMembers) {
  PeerAdmission admission([](const std::string&) { return std::vector<std::string>{"10.0.0.1"}; });
  admission.set_members({{kA, "a.example:2380"}, {kB, "b.example:2380"}});
  admission.refresh();
  ASSERT_TRUE(admission.admits_connection("10.0.0.1"));
  ASSERT_TRUE(admission.admit_stream(kA, "10.0.0.1").is_ok());
  admission.set_peer_tls(true);
  EXPECT_FALSE(admission.admits_connection("10.0.0.1"));
  auto& not_tls = util::metrics().counter("dkv_peer_refused_total", "",
                                          {{"reason", std::string(kRefusedStreamNotTls)}});
  const std::uint64_t before = not_tls.value();
  EXPECT_EQ(admission.admit_stream(kA, "10.0.0.1").code(), util::Code::kPermissionDenied);
  EXPECT_EQ(not_tls.value(), before + 1);
  EXPECT_TRUE(admission.admit_stream(kA, "10.0.0.9", /*tls_verified=*/true).is_ok());
  EXPECT_EQ(admission.admit_stream(kStranger, "10.0.0.1", /*tls_verified=*/true).code(),
            util::Code::kPermissionDenied);
}

TEST(AdmissionTest, ResolvesLiteralsWithoutDns) {
  EXPECT_EQ(resolve_host("10.1.2.3"), std::vector<std::string>{"10.1.2.3"});
  EXPECT_EQ(resolve_host("::1"), std::vector<std::string>{"::1"});
}

}  // namespace
}  // namespace dkv::transport
