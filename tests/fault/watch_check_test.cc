// The watch checker (watch_check.h): a clean history with a resume and a
// progress notification passes, and one deliberately broken history per
// rule (the canaries) must be rejected, naming that rule.
#include "watch_check.h"

#include <gtest/gtest.h>

namespace dkv::fault {
namespace {

WatchEvent put(const std::string& key, std::int64_t rev, const std::string& value) {
  return {key, rev, false, value};
}
WatchEvent del(const std::string& key, std::int64_t rev) { return {key, rev, true, ""}; }

WatchResponseRecord response(std::vector<WatchEvent> events, std::int64_t header = 0) {
  WatchResponseRecord r;
  r.events = std::move(events);
  r.header_revision = header != 0 ? header : (r.events.empty() ? 0 : r.events.back().mod_revision);
  return r;
}
WatchResponseRecord progress(std::int64_t revision) { return response({}, revision); }

// Writes at revisions 2..7 under "w": 4 is a txn of two keys, 6 a delete,
// and one write of unknown outcome (w9=lost, never seen).
std::vector<WriteRecord> writes() {
  return {
      {2, true, {{"w1", false, "a"}}},
      {3, true, {{"w2", false, "b"}}},
      {4, true, {{"w1", false, "c"}, {"w2", false, "d"}}},
      {5, true, {{"x", false, "out of range"}}},
      {6, true, {{"w1", true, ""}}},
      {7, true, {{"w3", false, "e"}}},
      {0, false, {{"w9", false, "lost"}}},
  };
}

// A watcher of prefix "w" from revision 2: two events, its member dies, it
// resumes from 4 on another member, which delivers the txn in one response,
// a progress notification at 6 after the delete, and then 7.
Watcher clean_watcher() {
  Watcher w;
  w.id = 1;
  w.key = "w";
  w.range_end = "x";
  WatchSession first{"n0", 2, {}, "member died"};
  first.responses.push_back(response({put("w1", 2, "a")}));
  first.responses.push_back(response({put("w2", 3, "b")}));
  WatchSession second{"n1", 4, {}, "stopped"};
  second.responses.push_back(response({put("w1", 4, "c"), put("w2", 4, "d")}));
  second.responses.push_back(response({del("w1", 6)}));
  second.responses.push_back(progress(6));
  second.responses.push_back(response({put("w3", 7, "e")}));
  w.sessions = {first, second};
  return w;
}

std::vector<std::string> rules(const WatchCheckResult& r) {
  std::vector<std::string> out;
  for (const auto& v : r.violations) out.push_back(v.rule + ": " + v.detail);
  return out;
}

bool flags(const WatchCheckResult& r, const std::string& rule) {
  for (const auto& v : r.violations) {
    if (v.rule == rule) return true;
  }
  return false;
}

TEST(WatchCheckTest, CleanHistoryWithResumeAndProgressPasses) {
  const auto r = check_watch({clean_watcher(), clean_watcher()}, writes());
  EXPECT_TRUE(r.ok()) << ::testing::PrintToString(rules(r));
  EXPECT_EQ(r.events, 12);
  EXPECT_EQ(r.resumes, 2);
  EXPECT_EQ(r.progress, 2);
}

TEST(WatchCheckTest, HistoryReadsAsText) {
  const std::string text = describe_watch_history({clean_watcher()}, writes());
  EXPECT_NE(text.find("w rev=4 ack put w1=c put w2=d\n"), std::string::npos) << text;
  EXPECT_NE(text.find("watcher 1 session 1 on n1 from 4 (stopped)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rev=6 progress []\n"), std::string::npos) << text;
}

TEST(WatchCheckTest, OneKeyAndFromKeyRanges) {
  EXPECT_TRUE(in_watch_range("a", "a", ""));
  EXPECT_FALSE(in_watch_range("ab", "a", ""));
  EXPECT_TRUE(in_watch_range("zz", "b", std::string(1, '\0')));
  EXPECT_FALSE(in_watch_range("a", "b", std::string(1, '\0')));
  EXPECT_FALSE(in_watch_range("x", "w", "x"));
}

TEST(WatchCheckTest, CanaryOrderedRevisionsGoingBackAreFlagged) {
  Watcher w = clean_watcher();
  std::swap(w.sessions[1].responses[1], w.sessions[1].responses[3]);  // 7 before 6.
  const auto r = check_watch({w}, writes());
  EXPECT_TRUE(flags(r, "ordered")) << ::testing::PrintToString(rules(r));
}

TEST(WatchCheckTest, CanaryUniqueAnEventTwiceIsFlagged) {
  Watcher w = clean_watcher();
  w.sessions[1].responses.push_back(response({put("w3", 7, "e")}));
  const auto r = check_watch({w}, writes());
  EXPECT_TRUE(flags(r, "unique")) << ::testing::PrintToString(rules(r));
}

TEST(WatchCheckTest, CanaryAtomicASplitOrPartialRevisionIsFlagged) {
  Watcher split = clean_watcher();
  split.sessions[1].responses[0] = response({put("w1", 4, "c")});
  split.sessions[1].responses.insert(split.sessions[1].responses.begin() + 1,
                                     response({put("w2", 4, "d")}));
  auto r = check_watch({split}, writes());
  EXPECT_TRUE(flags(r, "atomic")) << ::testing::PrintToString(rules(r));
  Watcher partial = clean_watcher();
  partial.sessions[1].responses[0] = response({put("w1", 4, "c")});  // w2@4 never comes.
  r = check_watch({partial}, writes());
  EXPECT_TRUE(flags(r, "atomic")) << ::testing::PrintToString(rules(r));
}

TEST(WatchCheckTest, CanaryReliableGapsAndPhantomsAreFlagged) {
  Watcher gap = clean_watcher();
  gap.sessions[1].responses.erase(gap.sessions[1].responses.begin() + 1,
                                  gap.sessions[1].responses.begin() + 3);  // No delete at 6.
  auto r = check_watch({gap}, writes());
  EXPECT_TRUE(flags(r, "reliable")) << ::testing::PrintToString(rules(r));

  Watcher wrong_value = clean_watcher();
  wrong_value.sessions[1].responses[3] = response({put("w3", 7, "stale")});
  r = check_watch({wrong_value}, writes());
  EXPECT_TRUE(flags(r, "reliable")) << ::testing::PrintToString(rules(r));

  // The write of unknown outcome may show up, but all watchers must agree.
  Watcher a = clean_watcher();
  a.sessions[1].responses.push_back(response({put("w9", 8, "lost")}));
  EXPECT_TRUE(check_watch({a}, writes()).ok());
  Watcher b = clean_watcher();
  b.sessions[1].responses.push_back(response({del("w9", 8)}));
  r = check_watch({a, b}, writes());
  EXPECT_TRUE(flags(r, "reliable")) << ::testing::PrintToString(rules(r));
}

TEST(WatchCheckTest, CanaryResumableWrongStartOrSeamGapIsFlagged) {
  Watcher skipped = clean_watcher();
  skipped.sessions[1].start_revision = 5;  // Resumed past the txn at 4.
  skipped.sessions[1].responses.erase(skipped.sessions[1].responses.begin());
  auto r = check_watch({skipped}, writes());
  EXPECT_TRUE(flags(r, "resumable")) << ::testing::PrintToString(rules(r));
  ASSERT_FALSE(r.violations.empty());

  Watcher replayed = clean_watcher();
  replayed.sessions[1].start_revision = 3;  // Replays w2@3.
  replayed.sessions[1].responses.insert(replayed.sessions[1].responses.begin(),
                                        response({put("w2", 3, "b")}));
  r = check_watch({replayed}, writes());
  EXPECT_TRUE(flags(r, "resumable")) << ::testing::PrintToString(rules(r));

  Watcher seam_gap = clean_watcher();  // Right start, but the member skipped 4.
  seam_gap.sessions[1].responses.erase(seam_gap.sessions[1].responses.begin());
  r = check_watch({seam_gap}, writes());
  EXPECT_TRUE(flags(r, "resumable")) << ::testing::PrintToString(rules(r));
}

TEST(WatchCheckTest, CanaryProgressAheadOfEventsIsFlagged) {
  Watcher early = clean_watcher();
  early.sessions[1].responses[2] = progress(7);  // Before w3@7 came.
  auto r = check_watch({early}, writes());
  EXPECT_TRUE(flags(r, "progress")) << ::testing::PrintToString(rules(r));

  Watcher ahead = clean_watcher();  // Claims 6 before the delete at 6.
  std::swap(ahead.sessions[1].responses[1], ahead.sessions[1].responses[2]);
  r = check_watch({ahead}, writes());
  EXPECT_TRUE(flags(r, "progress")) << ::testing::PrintToString(rules(r));
}

}  // namespace
}  // namespace dkv::fault
