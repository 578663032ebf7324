// tests/bench/kv_api_test.cc
// The REST requests dkv-bench sends to each target, and how it reads a
// get's answer: dkv's /v0 API and etcd's /v3 gateway (base64 keys and
// values in JSON, Range linearizable unless "serializable":true).
#include "kv_api.h"

#include <gtest/gtest.h>

namespace dkv::bench {
namespace {

TEST(KvApi, ParsesTargetNames) {
  EXPECT_EQ(parse_target("dkv"), Target::kDkv);
  EXPECT_EQ(parse_target("etcd"), Target::kEtcd);
  EXPECT_FALSE(parse_target("ETCD").has_value());
  EXPECT_STREQ(target_name(Target::kEtcd), "etcd");
}

TEST(KvApi, DkvPutAndGet) {
  // "k1" is "azE=" in base64; the '=' is percent-encoded in the path.
  const RestRequest put = rest_put_request(Target::kDkv, "k1", "dmFs");
  EXPECT_TRUE(put.post);
  EXPECT_EQ(put.path, "/v0/kv");
  EXPECT_EQ(put.body, R"({"key":"azE=","value":"dmFs"})");
  const RestRequest get = rest_get_request(Target::kDkv, "k1", false);
  EXPECT_FALSE(get.post);
  EXPECT_EQ(get.path, "/v0/kv/key/azE%3D");
  EXPECT_EQ(get.body, "");
  EXPECT_EQ(rest_get_request(Target::kDkv, "k1", true).path, "/v0/kv/key/azE%3D?serializable=true");
}

TEST(KvApi, EtcdPutAndRange) {
  const RestRequest put = rest_put_request(Target::kEtcd, "k1", "dmFs");
  EXPECT_TRUE(put.post);
  EXPECT_EQ(put.path, "/v3/kv/put");
  EXPECT_EQ(put.body, R"({"key":"azE=","value":"dmFs"})");
  const RestRequest linear = rest_get_request(Target::kEtcd, "k1", false);
  EXPECT_TRUE(linear.post);
  EXPECT_EQ(linear.path, "/v3/kv/range");
  EXPECT_EQ(linear.body, R"({"key":"azE="})");
  EXPECT_EQ(rest_get_request(Target::kEtcd, "k1", true).body,
            R"({"key":"azE=","serializable":true})");
}

TEST(KvApi, DkvGetAnswers) {
  EXPECT_EQ(classify_rest_get(Target::kDkv, 200, "{}"), GetOutcome::kFound);
  EXPECT_EQ(classify_rest_get(Target::kDkv, 404, ""), GetOutcome::kNotFound);
  EXPECT_EQ(classify_rest_get(Target::kDkv, 503, ""), GetOutcome::kError);
}

TEST(KvApi, EtcdRangeAnswers) {
  EXPECT_EQ(classify_rest_get(Target::kEtcd, 200,
                              R"({"header":{"revision":"5"},"kvs":[{"key":"azE="}],"count":"1"})"),
            GetOutcome::kFound);
  EXPECT_EQ(classify_rest_get(Target::kEtcd, 200, R"({"header":{"revision":"5"}})"),
            GetOutcome::kNotFound);
  // etcd's gateway has no 404 for a key; any other status is an error.
  EXPECT_EQ(classify_rest_get(Target::kEtcd, 404, ""), GetOutcome::kError);
  EXPECT_EQ(classify_rest_get(Target::kEtcd, 503, R"({"error":"etcdserver: request timed out"})"),
            GetOutcome::kError);
}

}  // namespace
}  // namespace dkv::bench
