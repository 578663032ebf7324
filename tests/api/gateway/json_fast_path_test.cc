// The JSON fast path against protobuf's own converter: wherever the fast path
// answers, its answer must be protobuf's, byte for byte (printing) or field
// for field (parsing); where protobuf fails, the fast path must give up. The
// randomized cases use fixed seeds, one per iteration; a failure names it.
#include "api/gateway/json_fast_path.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <random>

#include "api/gateway/url_codec.h"
#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "gateway_test.pb.h"

namespace dkv::api::gateway {
namespace {

using google::protobuf::Message;
using gwtest::EchoRequest;

std::string protobuf_print(const Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &out, options).ok());
  return out;
}

// True if protobuf parses `json`; then `m` holds the result.
bool protobuf_parse(std::string_view json, Message* m) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(
             google::protobuf::StringPiece(json.data(), json.size()), m, options)
      .ok();
}

// Parses `json` both ways: if the fast path answers, protobuf must agree.
// Returns whether the fast path answered.
template <typename M>
bool check_parse(std::string_view json) {
  M fast;
  M slow;
  const bool fast_ok = try_json_to_message_fast(json, &fast);
  const bool slow_ok = protobuf_parse(json, &slow);
  if (fast_ok) {
    EXPECT_TRUE(slow_ok) << "fast path accepted what protobuf rejects: " << json;
    EXPECT_EQ(fast.SerializeAsString(), slow.SerializeAsString()) << json;
  }
  return fast_ok;
}

std::string random_bytes(std::mt19937_64& rng, size_t n_max) {
  std::string s(rng() % (n_max + 1), '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// Printable ASCII plus, now and then, a multi-byte UTF-8 character.
std::string random_text(std::mt19937_64& rng, size_t n_max) {
  std::string s;
  const size_t n = rng() % (n_max + 1);
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 16 == 0) {
      s += "\xc3\xa9";  // U+00E9
    } else {
      s.push_back(static_cast<char>(0x20 + rng() % 0x5f));
    }
  }
  return s;
}

EchoRequest random_echo(std::mt19937_64& rng) {
  EchoRequest m;
  if (rng() % 2) m.set_s(random_text(rng, 12));
  if (rng() % 2) m.set_b(random_bytes(rng, 12));
  if (rng() % 2) m.set_i32(static_cast<int32_t>(rng()));
  if (rng() % 2) m.set_i64(static_cast<int64_t>(rng()));
  if (rng() % 2) m.set_u32(static_cast<uint32_t>(rng()));
  if (rng() % 2) m.set_u64(rng());
  if (rng() % 2) m.set_flag(rng() % 2);
  for (int i = rng() % 3; i > 0; --i) m.add_tags(random_text(rng, 6));
  for (int i = rng() % 3; i > 0; --i) m.add_nums(static_cast<int64_t>(rng()) >> (rng() % 64));
  if (rng() % 2) {
    m.mutable_nested()->set_i64(static_cast<int64_t>(rng() % 1000) - 500);
    if (rng() % 2) m.mutable_nested()->set_name(random_text(rng, 6));
  }
  if (rng() % 2) m.set_snake_case_name(random_text(rng, 6));
  return m;
}

TEST(JsonFastPath, PrintsTheHotPathTypesExactlyAsProtobuf) {
  v0::GetResponse get;
  get.set_key("k");
  get.set_value(std::string(256, '\xab'));
  v0::DeleteResponse del;
  del.set_deleted(1);
  v0::StatusResponse status;
  status.set_node_id("a");
  status.set_term(7);
  status.add_members()->set_id("b");
  const Message* cases[] = {&v0::PutResponse::default_instance(), &get, &del, &status,
                            &v0::GetResponse::default_instance()};
  for (const Message* m : cases) {
    std::string out;
    ASSERT_TRUE(try_message_to_json_fast(*m, &out)) << m->GetTypeName();
    EXPECT_EQ(out, protobuf_print(*m));
  }
}

TEST(JsonFastPath, PrintsLikeProtobufOrGivesUp) {
  int answered = 0;
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    EchoRequest m = random_echo(rng);
    if (rng() % 4 == 0) m.set_d(0.5);  // Floats and enums are protobuf's.
    if (rng() % 4 == 0) m.set_color(gwtest::RED);
    std::string out = "prefix";
    if (try_message_to_json_fast(m, &out)) {
      ++answered;
      EXPECT_EQ(out, "prefix" + protobuf_print(m));
    } else {
      EXPECT_EQ(out, "prefix");  // Untouched when it gives up.
    }
  }
  // EchoRequest has a double and an enum, always printed: protobuf's job.
  EXPECT_EQ(answered, 0);
}

TEST(JsonFastPath, PrintsEveryPlainFieldKindLikeProtobuf) {
  for (uint64_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    v0::StatusResponse m;
    m.set_node_id(random_text(rng, 8));
    m.set_term(rng());
    m.set_commit_index(rng() >> (rng() % 64));
    for (int i = rng() % 3; i > 0; --i) {
      auto* member = m.add_members();
      member->set_id(random_text(rng, 4));
      member->set_is_learner(rng() % 2);
    }
    v0::SnapshotResponse snap;  // bytes, uint64 and uint32.
    snap.set_blob(random_bytes(rng, 20));
    snap.set_crc32c(static_cast<uint32_t>(rng()));
    for (const Message* msg :
         {static_cast<const Message*>(&m), static_cast<const Message*>(&snap)}) {
      std::string out;
      if (try_message_to_json_fast(*msg, &out)) {
        EXPECT_EQ(out, protobuf_print(*msg));
      } else {
        // Only strings that protobuf escapes send it to protobuf.
        EXPECT_EQ(msg, &m);
      }
    }
  }
}

TEST(JsonFastPath, TakesTheFastPathForOrdinaryRequests) {
  EXPECT_TRUE(check_parse<v0::PutRequest>(R"({"key":"aGVsbG8=","value":"d29ybGQ="})"));
  EXPECT_TRUE(check_parse<v0::PutRequest>(" {\n\t\"key\" : \"aGVsbG8\" , \"value\":\"\"}\r\n"));
  EXPECT_TRUE(check_parse<v0::PutRequest>("{}"));
  EXPECT_TRUE(check_parse<EchoRequest>(
      R"({"s":"x","b":"-_8","i32":-5,"i64":"9223372036854775807","u32":"7","u64":18446744073709551615,)"
      R"("flag":true,"tags":["a","b"],"nested":{"i64":1,"name":"n"},"nums":[],"snake_case_name":"z"})"));
}

TEST(JsonFastPath, ReplacesWhatWasSetAsProtobufDoes) {
  EchoRequest fast;
  EchoRequest slow;
  fast.set_i32(5);
  slow.set_i32(5);
  ASSERT_TRUE(try_json_to_message_fast(R"({"s":"b"})", &fast));
  ASSERT_TRUE(protobuf_parse(R"({"s":"b"})", &slow));
  EXPECT_EQ(fast.SerializeAsString(), slow.SerializeAsString());
}

TEST(JsonFastPath, ParsesLikeProtobufOrGivesUpOnEdgeCases) {
  const char* cases[] = {
      "",
      " ",
      "{",
      "}",
      "{}{}",
      "{} x",
      "[]",
      "null",
      "nope",
      R"({"s":"a",})",
      R"({,"s":"a"})",
      R"({"s":"a" "i32":1})",
      R"({"s":"a\"b"})",
      R"({"s":"\u0041"})",
      "{\"s\":\"a\x01\"}",
      "{\"s\":\"\xff\"}",
      "{\"s\":\"\xc3\xa9\"}",
      R"({"s":null})",
      R"({"s":1})",
      R"({"s":"a","s":"b"})",
      R"({"s":"a","s":"a"})",
      R"({"snakeCaseName":"a","snake_case_name":"b"})",
      R"({"zzz":1})",
      R"({"i32":1.0})",
      R"({"i32":1e2})",
      R"({"i32":-0})",
      R"({"i32":007})",
      R"({"i32":"007"})",
      R"({"i32":"+7"})",
      R"({"i32":" 7"})",
      R"({"i32":2147483648})",
      R"({"i32":-2147483648})",
      R"({"i32":"x"})",
      R"({"i64":"-9223372036854775808"})",
      R"({"i64":9223372036854775808})",
      R"({"u32":-1})",
      R"({"u64":"18446744073709551616"})",
      R"({"u64":18446744073709551615})",
      R"({"flag":"true"})",
      R"({"flag":1})",
      R"({"flag":truex})",
      R"({"flag":false})",
      R"({"flag":true)",
      R"({"b":"!!"})",
      R"({"b":"QQ=="})",
      R"({"b":"QQ"})",
      R"({"b":"QQ="})",
      R"({"b":"QR=="})",
      R"({"b":"Q"})",
      R"({"b":"QQ==QQ=="})",
      R"({"b":"+/8"})",
      R"({"b":"-_8"})",
      R"({"b":"+_8"})",
      R"({"b":"+/8="})",
      R"({"b":"QUJD"})",
      R"({"b":"QU JD"})",
      R"({"b":"="})",
      R"({"nested":{}})",
      R"({"nested":null})",
      R"({"nested":{"zzz":1}})",
      R"({"nested":[]})",
      R"({"tags":"a"})",
      R"({"tags":["a",]})",
      R"({"tags":[1]})",
      R"({"tags":[]})",
      R"({"nums":[1,"2"]})",
      R"({"d":1.5})",
      R"({"color":"RED"})",
      R"({"color":1})",
      "{\"s\":\"a\"}\x0b",
  };
  for (const char* json : cases) check_parse<EchoRequest>(json);
}

TEST(JsonFastPath, ParsesBase64LikeProtobufOrGivesUp) {
  for (uint64_t seed = 1; seed <= 500; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const std::string bytes = random_bytes(rng, 10);
    std::string standard = base64_encode(bytes);
    std::string unpadded = standard.substr(0, standard.find('='));
    std::string web_safe = standard;
    for (char& c : web_safe) c = c == '+' ? '-' : c == '/' ? '_' : c;
    for (const std::string& text : {standard, unpadded, web_safe}) {
      EXPECT_TRUE(check_parse<v0::PutRequest>(R"({"value":")" + text + R"("})")) << text;
    }
    // Flip one character to anything: the fast path must still agree.
    std::string mutated = standard;
    if (!mutated.empty()) mutated[rng() % mutated.size()] = static_cast<char>(0x20 + rng() % 0x5f);
    if (mutated.find('"') == std::string::npos && mutated.find('\\') == std::string::npos) {
      check_parse<v0::PutRequest>(R"({"value":")" + mutated + R"("})");
    }
  }
}

TEST(JsonFastPath, ParsesMutatedJsonLikeProtobufOrGivesUp) {
  int answered = 0;
  for (uint64_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed=" + std::to_string(seed));
    std::mt19937_64 rng(seed);
    EchoRequest m = random_echo(rng);
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = rng() % 2;
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(m, &json, options).ok());
    answered += check_parse<EchoRequest>(json);
    // A few random edits from JSON's own alphabet.
    static constexpr std::string_view kAlphabet = "{}[]:,\" 0123456789-.eE+tfnulsQ=/_\\";
    for (int edit = rng() % 4; edit >= 0 && !json.empty(); --edit) {
      const size_t at = rng() % json.size();
      const char c = kAlphabet[rng() % kAlphabet.size()];
      switch (rng() % 3) {
        case 0:
          json[at] = c;
          break;
        case 1:
          json.erase(at, 1);
          break;
        default:
          json.insert(at, 1, c);
      }
    }
    check_parse<EchoRequest>(json);
  }
  EXPECT_GT(answered, 1000);  // The unmutated texts mostly take the fast path.
}

}  // namespace
}  // namespace dkv::api::gateway
