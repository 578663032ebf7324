// Transcripts of the etcd compatibility diff (etcd_compat_test.cc): each
// command's output turned into text in which what legitimately differs
// between two clusters (cluster and member ids, raft terms and indexes,
// timings, database sizes, member names, ports and URLs, which member
// leads, the order in which concurrent answers arrived) is replaced by
// stable placeholders, so that two transcripts must be equal, revisions
// included; unified_diff() shows where they are not.
// Pure text functions. Threading: none shared.
#pragma once

#include <string>
#include <vector>

#include "dkvctl_runner.h"

namespace dkv::testing {

// What the harness learned about a cluster before running the script, to
// normalize its outputs: per endpoint, its member's id, name and URLs.
struct ClusterFacts {
  std::vector<std::string> endpoints;   // host:port, node i first.
  std::string cluster_id;               // Decimal.
  std::vector<std::string> member_ids;  // Decimal; "" if unknown.
  std::vector<std::string> names;       // From `member list`; "" if unknown.
  // Node i's peer and client URLs as `member list` prints them (joined by
  // ","). A dkv member has one address for both.
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  // Lease IDs (16 hex digits) in the order the script granted them: script
  // lines name them ${LEASE_i}; outputs show them as <lease-i>.
  std::vector<std::string> leases;
};

// Replaces what legitimately differs between clusters with placeholders.
// `command`: the script line the output came from (it picks the rules).
std::string normalize_output(const std::string& command, const std::string& output,
                             const ClusterFacts& facts);

// One command's block: "$ COMMAND", its normalized stdout, its stderr lines
// as "stderr: ..." (clientv3's JSON log lines dropped), "exit N" unless 0.
std::string transcript_block(const std::string& command, const CommandResult& result,
                             const ClusterFacts& facts);

// Whether dkvctl runs this script line: put, get, del, txn, compaction,
// watch and lease.
bool is_kv_command(const std::string& command);

// A command that runs until stopped (watch, lease keep-alive without
// --once): the harness stops it after a short while.
bool is_streaming_command(const std::string& command);

// The ID a `lease grant` printed (simple or json), as 16 hex digits; "".
std::string granted_lease(const std::string& output);

// The blocks of a transcript that came from the commands dkvctl runs.
std::string kv_lines_only(const std::string& transcript);

// "" when equal, else a unified diff (3 lines of context) of the two.
std::string unified_diff(const std::string& expected, const std::string& actual,
                         const std::string& expected_name, const std::string& actual_name);

// Text helpers.
std::vector<std::string> split_lines(const std::string& text);
std::string join_lines(const std::vector<std::string>& lines);
std::vector<std::string> split_on(const std::string& s, const std::string& sep);
std::string join_on(const std::vector<std::string>& parts, const std::string& sep);
std::string replace_all(std::string s, const std::string& from, const std::string& to);
// Replaces `word` where it stands alone (not inside a longer number or name).
std::string replace_word(const std::string& s, const std::string& word, const std::string& to);
std::string to_hex(const std::string& decimal);  // "255" -> "ff".
// The first group of `pattern`'s first match in `text`, or "".
std::string first_match(const std::string& text, const std::string& pattern);

}  // namespace dkv::testing
