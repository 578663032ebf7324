#include "output.h"

#include <gtest/gtest.h>

namespace dkv::ctl {
namespace {

v0::MemberListResponse three_members() {
  v0::MemberListResponse r;
  for (const char* id : {"a", "b", "c"}) {
    auto* m = r.add_members();
    m->set_id(id);
    m->set_address(std::string("127.0.0.1:") + (id[0] == 'a'   ? "7070"
                                                : id[0] == 'b' ? "8080"
                                                               : "9090"));
  }
  r.mutable_members(2)->set_is_learner(true);
  return r;
}

TEST(OutputTest, KvInEachFormat) {
  v0::GetResponse get;
  get.set_key("hello");
  get.set_value("world");
  EXPECT_EQ(format_get(Format::kSimple, get, false, false), "hello\nworld\n");
  EXPECT_EQ(format_get(Format::kSimple, get, false, true), "world\n");
  EXPECT_EQ(format_get(Format::kSimple, get, true, false), "aGVsbG8=\nd29ybGQ=\n");
  EXPECT_EQ(format_get(Format::kJson, get, false, false),
            "{\"key\":\"aGVsbG8=\",\"value\":\"d29ybGQ=\"}\n");
  EXPECT_EQ(format_get(Format::kTable, get, false, false),
            "+-------+-------+\n"
            "| KEY   | VALUE |\n"
            "+-------+-------+\n"
            "| hello | world |\n"
            "+-------+-------+\n");
  EXPECT_EQ(format_put(Format::kSimple, {}), "OK\n");
  EXPECT_EQ(format_put(Format::kJson, {}), "{}\n");
  v0::DeleteResponse del;
  del.set_deleted(1);
  EXPECT_EQ(format_delete(Format::kSimple, del), "1\n");
  EXPECT_EQ(format_delete(Format::kJson, del), "{\"deleted\":\"1\"}\n");
}

TEST(OutputTest, MembersNamedById) {
  const auto r = three_members();
  EXPECT_EQ(format_member_list(Format::kSimple, r),
            "a, 127.0.0.1:7070, false\nb, 127.0.0.1:8080, false\nc, 127.0.0.1:9090, true\n");
  EXPECT_EQ(format_member_list(Format::kJson, r),
            "{\"members\":[{\"id\":\"a\",\"address\":\"127.0.0.1:7070\",\"isLearner\":false},"
            "{\"id\":\"b\",\"address\":\"127.0.0.1:8080\",\"isLearner\":false},"
            "{\"id\":\"c\",\"address\":\"127.0.0.1:9090\",\"isLearner\":true}]}\n");
  const std::string table = format_member_list(Format::kTable, r);
  EXPECT_NE(table.find("| ID | ADDRESS        | IS LEARNER |"), std::string::npos) << table;
  EXPECT_NE(table.find("| c  | 127.0.0.1:9090 | true       |"), std::string::npos) << table;
}

TEST(OutputTest, MemberAddPrintsTheJoinVariables) {
  v0::MemberAddResponse r;
  r.mutable_member()->set_id("d");
  r.mutable_member()->set_address("127.0.0.1:10070");
  r.mutable_member()->set_is_learner(true);
  *r.mutable_members() = three_members().members();
  *r.add_members() = r.member();
  const std::string out = format_member_add(Format::kSimple, r, "d");
  EXPECT_EQ(out,
            "Member d added to the cluster as a learner\n\n"
            "DKV_NODE_ID=\"d\"\n"
            "DKV_CLUSTER=\"a@127.0.0.1:7070,b@127.0.0.1:8080,c@127.0.0.1:9090,d@127.0.0.1:10070\"\n"
            "DKV_CLUSTER_STATE=\"existing\"\n");
  EXPECT_NE(format_member_add(Format::kJson, r, "d").find("\"member\":{\"id\":\"d\""),
            std::string::npos);
  v0::MemberRemoveResponse removed;
  EXPECT_EQ(format_member_remove(Format::kSimple, removed, "b"),
            "Member b removed from the cluster\n");
  v0::MemberPromoteResponse promoted;
  EXPECT_EQ(format_member_promote(Format::kSimple, promoted, "d"),
            "Member d promoted to a voter\n");
  v0::MoveLeaderResponse moved;
  moved.set_leader_id("c");
  EXPECT_EQ(format_move_leader(Format::kSimple, moved), "Leadership transferred to c\n");
  EXPECT_EQ(format_move_leader(Format::kJson, moved), "{\"leaderId\":\"c\"}\n");
}

TEST(OutputTest, UnreachableEndpointKeepsItsRow) {
  EndpointStatus up;
  up.endpoint = "127.0.0.1:7070";
  up.status.set_node_id("a");
  up.status.set_role("leader");
  EndpointStatus down{"127.0.0.1:9090", {}, "UNAVAILABLE: cannot connect to 127.0.0.1:9090", "c"};
  const std::string simple = format_endpoint_status(Format::kSimple, {up, down});
  EXPECT_NE(simple.find("\n127.0.0.1:9090, c, unreachable: UNAVAILABLE: cannot connect"),
            std::string::npos)
      << simple;
  const std::string table = format_endpoint_status(Format::kTable, {up, down});
  EXPECT_NE(table.find("| ERROR "), std::string::npos) << table;
  EXPECT_NE(table.find("| unreachable |"), std::string::npos) << table;
  const std::string json = format_endpoint_status(Format::kJson, {up, down});
  EXPECT_NE(json.find("{\"endpoint\":\"127.0.0.1:9090\",\"nodeId\":\"c\",\"unreachable\":true,"
                      "\"error\":\"UNAVAILABLE: cannot connect to 127.0.0.1:9090\"}"),
            std::string::npos)
      << json;
}

TEST(OutputTest, EndpointStatusAndHealth) {
  EndpointStatus e;
  e.endpoint = "127.0.0.1:7070";
  e.status.set_node_id("a");
  e.status.set_leader_id("a");
  e.status.set_term(3);
  e.status.set_role("leader");
  e.status.set_commit_index(10);
  e.status.set_applied_index(9);
  e.status.set_db_size_bytes(24576);
  e.status.set_version("0.2.0");
  e.status.set_cluster_id("00000000deadbeef");
  EXPECT_EQ(format_endpoint_status(Format::kSimple, {e}),
            "127.0.0.1:7070, a, 0.2.0, 25 kB, leader, a, 3, 10, 9, 00000000deadbeef\n");
  const std::string json = format_endpoint_status(Format::kJson, {e});
  EXPECT_EQ(json.rfind("[{\"endpoint\":\"127.0.0.1:7070\",\"status\":{\"nodeId\":\"a\"", 0), 0u)
      << json;
  EXPECT_NE(json.find("\"dbSizeBytes\":\"24576\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"clusterId\":\"00000000deadbeef\""), std::string::npos) << json;
  EXPECT_EQ(format_endpoint_status(Format::kJson, {}), "[]\n");
  const std::string table = format_endpoint_status(Format::kTable, {e});
  EXPECT_NE(table.find("| ENDPOINT       | ID | VERSION | DB SIZE | ROLE   |"), std::string::npos)
      << table;

  EndpointHealth good{"127.0.0.1:7070", true, 1.5, ""};
  EndpointHealth bad{"127.0.0.1:1", false, 0.25, "UNAVAILABLE: cannot connect to 127.0.0.1:1"};
  EXPECT_EQ(format_endpoint_health(Format::kSimple, {good, bad}),
            "127.0.0.1:7070 is healthy: served a linearizable read: took = 1.500ms\n"
            "127.0.0.1:1 is unhealthy: UNAVAILABLE: cannot connect to 127.0.0.1:1\n");
  EXPECT_EQ(format_endpoint_health(Format::kJson, {good, bad}),
            "[{\"endpoint\":\"127.0.0.1:7070\",\"health\":true,\"took\":\"1.500ms\"},"
            "{\"endpoint\":\"127.0.0.1:1\",\"health\":false,\"took\":\"0.250ms\","
            "\"error\":\"UNAVAILABLE: cannot connect to 127.0.0.1:1\"}]\n");
}

TEST(OutputTest, ErrorsAreOneLine) {
  EXPECT_EQ(error_line(util::not_found("key not found")), "Error: NOT_FOUND: key not found\n");
  EXPECT_EQ(error_line(util::unavailable("a\nb")), "Error: UNAVAILABLE: a b\n");
  EXPECT_EQ(error_line({util::Code::kUnimplemented, ""}), "Error: UNIMPLEMENTED\n");
}

TEST(OutputTest, Helpers) {
  EXPECT_EQ(human_bytes(999), "999 B");
  EXPECT_EQ(human_bytes(1500), "1.5 kB");
  EXPECT_EQ(human_bytes(24576), "25 kB");
  EXPECT_EQ(human_bytes(3'000'000'000ull), "3.0 GB");
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

}  // namespace
}  // namespace dkv::ctl
