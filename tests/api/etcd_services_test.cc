// The pure parts of the etcd Cluster and Maintenance services: dkv's
// membership refusals as etcd's errors, MemberAdd's peer URLs and the name
// it gives a member, and GET /version's body.
#include <gtest/gtest.h>

#include "api/etcd_cluster_service.h"
#include "api/etcd_maintenance_service.h"
#include "node/membership_checks.h"

namespace dkv::api {
namespace {

node::MemberAddress member(std::string id, std::uint16_t port) {
  return {std::move(id), "127.0.0.1", port};
}

node::ClusterView three_voters_and_learner_d() {
  node::ClusterView v;
  v.membership = node::Membership({member("a", 7070), member("b", 8080), member("c", 9090)});
  v.membership.add_learner(member("d", 6060));
  for (const char* id : {"a", "b", "c"}) {
    v.active.insert(node::node_id_of(id));
    v.replicating.insert(node::node_id_of(id));
  }
  v.last_index = 5000;
  return v;
}

// etcd's error for the refusal check_change gives `request`.
util::Status etcd_refusal(const node::ClusterView& view, node::ChangeKind kind,
                          node::MemberAddress m) {
  node::ChangeRequest r;
  r.kind = kind;
  r.member = std::move(m);
  const util::Status s = node::check_change(view, r);
  EXPECT_FALSE(s.is_ok());
  return etcd_member_error(s);
}

TEST(EtcdMemberErrorTest, MapsDkvsRefusalsToEtcdsErrors) {
  const node::ClusterView view = three_voters_and_learner_d();
  using node::ChangeKind;
  auto s = etcd_refusal(view, ChangeKind::kPromote, member("d", 0));  // Never reached.
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "etcdserver: can only promote a learner member which is in sync with leader");

  s = etcd_refusal(view, ChangeKind::kPromote, member("a", 0));
  EXPECT_EQ(s.message(), "etcdserver: can only promote a learner member");

  s = etcd_refusal(view, ChangeKind::kPromote, member("zz", 0));
  EXPECT_EQ(s.code(), util::Code::kNotFound);
  EXPECT_EQ(s.message(), "etcdserver: member not found");

  s = etcd_refusal(view, ChangeKind::kAddLearner, member("e", 8080));
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "etcdserver: Peer URLs already exists");

  s = etcd_refusal(view, ChangeKind::kAddLearner, member("b", 1234));
  EXPECT_EQ(s.message(), "etcdserver: member ID already exist");

  node::ClusterView one_up = view;
  one_up.active = {node::node_id_of("a")};
  s = etcd_refusal(one_up, ChangeKind::kRemove, member("b", 0));
  EXPECT_EQ(s.code(), util::Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "etcdserver: re-configuration failed due to not enough started members");

  EXPECT_EQ(etcd_member_error(util::unavailable("no leader; retry")).message(),
            "etcdserver: no leader");
  EXPECT_EQ(etcd_member_error(util::unavailable("the change was proposed but not applied within "
                                                "the request timeout"))
                .message(),
            "etcdserver: request timed out");
}

TEST(EtcdPeerUrlsTest, NamesTheNewMemberFromItsUrl) {
  node::Membership m({member("a", 7070)});
  node::MemberAddress out;
  ASSERT_TRUE(parse_peer_urls({"http://127.0.0.1:6060"}, m, &out).is_ok());
  EXPECT_EQ(out.id, "127.0.0.1-6060");
  EXPECT_EQ(out.address(), "127.0.0.1:6060");

  ASSERT_TRUE(parse_peer_urls({"https://d@10.0.0.4:7070/"}, m, &out).is_ok());
  EXPECT_EQ(out.id, "d");
  EXPECT_EQ(out.address(), "10.0.0.4:7070");
}

TEST(EtcdPeerUrlsTest, GivesANewNameWhereTheDerivedOneWasRemoved) {
  node::Membership m({member("a", 7070)});
  m.add_learner(member("127.0.0.1-6060", 6060));
  m.remove(node::node_id_of("127.0.0.1-6060"));
  EXPECT_EQ(member_name_for_address(m, "127.0.0.1", 6060), "127.0.0.1-6060-2");
  m.add_learner(member("127.0.0.1-6060-2", 6060));
  m.remove(node::node_id_of("127.0.0.1-6060-2"));
  EXPECT_EQ(member_name_for_address(m, "127.0.0.1", 6060), "127.0.0.1-6060-3");
  EXPECT_EQ(member_name_for_address(m, "host_a.example", 1), "host_a.example-1");
}

TEST(EtcdPeerUrlsTest, RefusesWhatIsNotOneHttpUrlWithHostAndPort) {
  const node::Membership m({member("a", 7070)});
  node::MemberAddress out;
  for (const std::vector<std::string>& urls : std::vector<std::vector<std::string>>{
           {},
           {"http://127.0.0.1:1", "http://127.0.0.1:2"},
           {"127.0.0.1:6060"},
           {"unix://127.0.0.1:6060"},
           {"http://127.0.0.1"},
           {"http://127.0.0.1:6060/path"},
           {"http://bad name@127.0.0.1:6060"},
           {"http://@127.0.0.1:6060"},
       }) {
    const util::Status s = parse_peer_urls(urls, m, &out);
    EXPECT_EQ(s.code(), util::Code::kInvalidArgument) << (urls.empty() ? "" : urls[0]);
    EXPECT_EQ(s.message(), "etcdserver: given member URLs are invalid");
  }
}

TEST(EtcdVersionTest, AnswersAsEtcdsVersionEndpoint) {
  EXPECT_EQ(etcd_version_json("3.4.23"), R"({"etcdserver":"3.4.23","etcdcluster":"3.4.0"})");
  EXPECT_EQ(etcd_version_json("3.5.9"), R"({"etcdserver":"3.5.9","etcdcluster":"3.5.0"})");
}

}  // namespace
}  // namespace dkv::api
