#include "etcd_compat_transcript.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <regex>
#include <sstream>

namespace dkv::testing {
namespace {

// Endpoint status, simple: endpoint, ID, version, db size, is leader, is
// learner, raft term, raft index, raft applied index, errors.
std::string normalize_status_row(const std::string& line) {
  std::vector<std::string> cols = split_on(line, ", ");
  if (cols.size() < 9) return line;
  cols[3] = "<db-size>";
  cols[4] = "<is-leader>";
  cols[6] = "<raft-term>";
  cols[7] = "<raft-index>";
  cols[8] = "<raft-applied-index>";
  return join_on(cols, ", ");
}

// Member list, simple: ID, status, name, peer URLs, client URLs, is learner.
std::string normalize_member_row(const std::string& line, const ClusterFacts& facts) {
  std::vector<std::string> cols = split_on(line, ", ");
  if (cols.size() < 6) return line;
  auto map_column = [&](std::size_t col, const std::vector<std::string>& known, const char* what) {
    for (std::size_t i = 0; i < known.size(); ++i) {
      if (!known[i].empty() && cols[col] == known[i]) {
        cols[col] = "<" + std::string(what) + "-" + std::to_string(i) + ">";
        return;
      }
    }
  };
  map_column(2, facts.names, "name");
  map_column(3, facts.peer_urls, "peer-urls");
  map_column(4, facts.client_urls, "client-urls");
  return join_on(cols, ", ");
}

// etcdctl's health check answers in the order the endpoints answered.
std::string sort_json_array(const std::string& line) {
  if (line.size() < 4 || line.front() != '[' || line.back() != ']') return line;
  std::vector<std::string> items = split_on(line.substr(2, line.size() - 4), "},{");
  std::sort(items.begin(), items.end());
  return "[{" + join_on(items, "},{") + "}]";
}

// Sorts the `sep`-separated items of group 1 of each match of `pattern`
// (the order a map on the server handed them out in).
std::string sort_items(const std::string& text, const std::string& pattern,
                       const std::string& sep) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern))) return text;
  std::vector<std::string> items = split_on(m[1].str(), sep);
  std::sort(items.begin(), items.end());
  return m.prefix().str() +
         m[0].str().replace(m.position(1) - m.position(0), m.length(1), join_on(items, sep)) +
         m.suffix().str();
}

// Lease outputs: the remaining TTL is a matter of timing; etcd lists leases
// and attached keys in its maps' (random) order.
std::vector<std::string> apply_lease_rules(const std::string& command,
                                           std::vector<std::string> lines) {
  if (command.find("lease timetolive") != std::string::npos) {
    for (auto& l : lines) {
      l = std::regex_replace(l, std::regex(R"(remaining\(\d+s\))"), "remaining(<ttl>s)");
      l = std::regex_replace(l, std::regex(R"("ttl":[1-9]\d*)"), R"("ttl":<ttl>)");
      l = sort_items(l, R"(attached keys\(\[([^\]]*)\]\))", " ");
      l = sort_items(l, R"("keys":\[([^\]]*)\])", ",");
    }
  } else if (command.find("lease list") != std::string::npos) {
    if (lines.size() > 1 && lines[0].rfind("found ", 0) == 0) {
      std::sort(lines.begin() + 1, lines.end());
    }
    for (auto& l : lines) l = sort_items(l, R"("leases":\[\{(.*)\}\])", "},{");
  }
  return lines;
}

std::string apply_command_rules(const std::string& command, std::string out) {
  out = std::regex_replace(out, std::regex(R"("raft_term":\d+)"), R"("raft_term":<raft-term>)");
  std::vector<std::string> lines = split_lines(out);
  if (command.find("endpoint status") != std::string::npos) {
    for (auto& l : lines) {
      l = normalize_status_row(l);
      l = std::regex_replace(
          l, std::regex(R"re("(dbSize|dbSizeInUse|raftIndex|raftTerm|raftAppliedIndex)":\d+)re"),
          "\"$1\":<$1>");
      l = std::regex_replace(l, std::regex(R"("leader":[^,}]+)"), R"("leader":<leader>)");
    }
  } else if (command.find("endpoint health") != std::string::npos) {
    for (auto& l : lines) {
      l = std::regex_replace(l, std::regex(R"(took = \S+)"), "took = <took>");
      l = std::regex_replace(l, std::regex(R"("took":"[^"]*")"), R"("took":"<took>")");
      l = sort_json_array(l);
    }
    std::sort(lines.begin(), lines.end());
  } else if (command.find("member list") != std::string::npos) {
    std::sort(lines.begin(), lines.end());  // etcd lists members by id.
  }
  return join_lines(apply_lease_rules(command, lines));
}

// The ids, URLs and endpoints of the cluster, as placeholders.
std::string replace_cluster_facts(std::string out, const ClusterFacts& facts) {
  // URLs outside `member list` rows: client URLs first, as a dkv member's
  // peer URL is its client URL.
  for (const auto& [all, what] :
       {std::pair{&facts.client_urls, "client-url"}, std::pair{&facts.peer_urls, "peer-url"}}) {
    for (std::size_t i = 0; i < all->size(); ++i) {
      for (const auto& url : split_on((*all)[i], ",")) {
        out = replace_all(out, url, "<" + std::string(what) + "-" + std::to_string(i) + ">");
      }
    }
  }
  for (std::size_t i = 0; i < facts.endpoints.size(); ++i) {
    out = replace_all(out, facts.endpoints[i], "<endpoint-" + std::to_string(i) + ">");
  }
  auto replace_id = [&](const std::string& id, const std::string& placeholder) {
    if (id.size() < 6) return;  // Not an id a real cluster hands out: leave the text alone.
    out = replace_word(out, id, placeholder);
    out = replace_word(out, to_hex(id), placeholder);
  };
  for (std::size_t i = 0; i < facts.leases.size(); ++i) {
    const std::string lease = "<lease-" + std::to_string(i) + ">";
    out = replace_word(out, facts.leases[i], lease);
    out = replace_word(out, std::to_string(std::stoull(facts.leases[i], nullptr, 16)), lease);
  }
  replace_id(facts.cluster_id, "<cluster-id>");
  for (std::size_t i = 0; i < facts.member_ids.size(); ++i) {
    replace_id(facts.member_ids[i], "<member-" + std::to_string(i) + ">");
  }
  return out;
}

// Drops clientv3's own log lines (JSON, with timestamps) from stderr.
std::string stderr_lines(const std::string& err) {
  std::string out;
  for (const auto& l : split_lines(err)) {
    if (l.rfind("{\"level\":", 0) == 0) continue;
    out += "stderr: " + l + "\n";
  }
  return out;
}

std::vector<std::string> transcript_blocks(const std::string& transcript) {
  std::vector<std::string> blocks;
  for (const auto& line : split_lines(transcript)) {
    if (line.rfind("$ ", 0) == 0 || blocks.empty()) blocks.emplace_back();
    blocks.back() += line + "\n";
  }
  return blocks;
}

}  // namespace

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::vector<std::string> split_on(const std::string& s, const std::string& sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + sep.size()) {
    parts.push_back(s.substr(start, at - start));
  }
  parts.push_back(s.substr(start));
  return parts;
}

std::string join_on(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? sep : "") + parts[i];
  return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// Replaces `word` where it stands alone (not inside a longer number or name).
std::string replace_word(const std::string& s, const std::string& word, const std::string& to) {
  if (word.empty()) return s;
  return std::regex_replace(s, std::regex("\\b" + word + "\\b"), to);
}

std::string to_hex(const std::string& decimal) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIx64, static_cast<std::uint64_t>(std::stoull(decimal)));
  return buf;
}

std::string first_match(const std::string& text, const std::string& pattern) {
  std::smatch m;
  return std::regex_search(text, m, std::regex(pattern)) ? m[1].str() : "";
}

// Command words of a script line: "member list", "endpoint health", "get".
bool starts_with_words(const std::string& command, const std::string& words) {
  return command.rfind(words, 0) == 0;
}

bool is_kv_command(const std::string& command) {
  for (const char* word : {"put ", "get ", "del ", "txn", "compaction ", "watch ", "lease "}) {
    if (starts_with_words(command, word)) return true;
  }
  return false;
}

bool is_streaming_command(const std::string& command) {
  if (starts_with_words(command, "watch ")) return true;
  return starts_with_words(command, "lease keep-alive ") &&
         command.find("--once") == std::string::npos;
}

std::string granted_lease(const std::string& output) {
  const std::string hex =
      first_match(output, R"(^lease ([0-9a-f]{16}) granted with TTL\(\d+s\)\n)");
  if (!hex.empty()) return hex;
  const std::string decimal = first_match(output, R"("ID":(\d+),"TTL":\d+,"Error")");
  if (decimal.empty()) return "";
  const std::string hex_id = to_hex(decimal);
  return std::string(16 - std::min<std::size_t>(hex_id.size(), 16), '0') + hex_id;  // %016x.
}

std::string transcript_block(const std::string& command, const CommandResult& r,
                             const ClusterFacts& facts) {
  std::string body = r.out + stderr_lines(r.err);
  std::string block = "$ " + command + "\n" + normalize_output(command, body, facts);
  if (r.exit_code != 0) block += "exit " + std::to_string(r.exit_code) + "\n";
  return block;
}

std::string normalize_output(const std::string& command, const std::string& output,
                             const ClusterFacts& facts) {
  std::string out = output;
  if (command.find("member list") != std::string::npos) {
    std::vector<std::string> lines = split_lines(out);
    for (auto& l : lines) l = normalize_member_row(l, facts);
    out = join_lines(lines);
  }
  return apply_command_rules(command, replace_cluster_facts(out, facts));
}

std::string kv_lines_only(const std::string& transcript) {
  std::string out;
  for (const auto& block : transcript_blocks(transcript)) {
    if (block.rfind("$ ", 0) == 0 && is_kv_command(block.substr(2))) out += block;
  }
  return out;
}

std::string unified_diff(const std::string& expected, const std::string& actual,
                         const std::string& expected_name, const std::string& actual_name) {
  if (expected == actual) return "";
  const std::vector<std::string> a = split_lines(expected);
  const std::vector<std::string> b = split_lines(actual);
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
  std::vector<std::vector<std::uint32_t>> lcs(n + 1, std::vector<std::uint32_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;) {
    for (std::size_t j = m; j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  // The edit script: ' ', '-' or '+' with the line and its positions.
  struct Edit {
    char op;
    std::size_t ai, bi;
  };
  std::vector<Edit> edits;
  std::size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      edits.push_back({' ', i++, j++});
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      edits.push_back({'-', i++, j});
    } else {
      edits.push_back({'+', i, j++});
    }
  }
  constexpr std::size_t kContext = 3;
  std::string out = "--- " + expected_name + "\n+++ " + actual_name + "\n";
  for (std::size_t k = 0; k < edits.size();) {
    if (edits[k].op == ' ') {
      ++k;
      continue;
    }
    const std::size_t start = k >= kContext ? k - kContext : 0;
    // The hunk goes on while changes are at most 2 * kContext lines apart.
    std::size_t last_change = k;
    for (std::size_t e = k + 1; e < edits.size(); ++e) {
      if (edits[e].op != ' ') {
        last_change = e;
      } else if (e - last_change > 2 * kContext) {
        break;
      }
    }
    const std::size_t end = std::min(last_change + kContext + 1, edits.size());
    std::size_t a_count = 0, b_count = 0;
    std::string body;
    for (std::size_t e = start; e < end; ++e) {
      const Edit& ed = edits[e];
      if (ed.op != '+') ++a_count;
      if (ed.op != '-') ++b_count;
      body += std::string(1, ed.op) + (ed.op == '+' ? b[ed.bi] : a[ed.ai]) + "\n";
    }
    out += "@@ -" + std::to_string(edits[start].ai + 1) + "," + std::to_string(a_count) + " +" +
           std::to_string(edits[start].bi + 1) + "," + std::to_string(b_count) + " @@\n" + body;
    k = end;
  }
  return out;
}

}  // namespace dkv::testing
