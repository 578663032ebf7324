// Violation reports of the checker: text and a porcupine-style HTML timeline.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "checker.h"

namespace dkv::fault {
namespace {

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

const char* color(const Op& op) {
  if (op.outcome == Outcome::kUnknown) return "#bbbbbb";
  switch (op.kind) {
    case OpKind::kPut:
      return "#7fb3e6";
    case OpKind::kGet:
      return "#8fd18f";
    case OpKind::kDelete:
      return "#f0b070";
    case OpKind::kCas:
      return op.succeeded ? "#b08fe0" : "#d9c8f0";
    case OpKind::kRange:
      return "#8fd1c8";
  }
  return "#cccccc";
}

// The label drawn on a bar (describe() without the key, client and times).
std::string bar_label(const Op& op) {
  std::string s = to_string(op.kind);
  if (op.kind == OpKind::kPut) s += " " + op.value;
  if (op.kind == OpKind::kGet && op.outcome == Outcome::kOk) {
    s += op.found ? " -> " + op.value : " -> absent";
  }
  if (op.kind == OpKind::kDelete && op.outcome == Outcome::kOk) s += op.found ? " -> 1" : " -> 0";
  if (op.kind == OpKind::kCas) {
    s += (op.compare == CasCompare::kValue ? " value=" + op.compare_value
                                           : " mod=" + std::to_string(op.compare_revision)) +
         " " + op.value;
    if (op.outcome == Outcome::kOk) s += op.succeeded ? " -> then" : " -> else";
  }
  if (op.kind == OpKind::kRange && op.outcome == Outcome::kOk) {
    s += " -> " + std::to_string(op.kvs.size()) + " keys";
  }
  if (op.outcome == Outcome::kUnknown) s += " ?";
  return s;
}

bool write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

// The register's value after running `ops` in order ("absent" if none).
std::string state_after(const std::vector<Op>& history, const std::vector<std::size_t>& ops) {
  std::string state = "absent";
  for (std::size_t i : ops) {
    if (history[i].kind == OpKind::kPut) state = history[i].value;
    if (history[i].kind == OpKind::kCas && history[i].succeeded) state = history[i].value;
    if (history[i].kind == OpKind::kDelete) state = "absent";
  }
  return state;
}

}  // namespace

std::vector<std::size_t> violation_window(const std::vector<Op>& history, const KeyResult& key,
                                          std::size_t context) {
  std::set<std::size_t> in_prefix(key.longest_linearized.begin(), key.longest_linearized.end());
  // The search failed at the first return of an op it could not linearize.
  std::int64_t t_fail = std::numeric_limits<std::int64_t>::max();
  for (std::size_t i : key.op_indexes) {
    const Op& op = history[i];
    if (op.outcome == Outcome::kOk && !in_prefix.contains(i))
      t_fail = std::min(t_fail, op.complete_ns);
  }
  std::set<std::size_t> window;
  const std::size_t n = key.longest_linearized.size();
  for (std::size_t k = n > context ? n - context : 0; k < n; ++k) {
    window.insert(key.longest_linearized[k]);
  }
  for (std::size_t i : key.op_indexes) {
    if (!in_prefix.contains(i) && history[i].invoke_ns <= t_fail) window.insert(i);
  }
  std::vector<std::size_t> out(window.begin(), window.end());
  std::stable_sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) {
    return history[a].invoke_ns < history[b].invoke_ns;
  });
  return out;
}

std::string timeline_html(const std::vector<Op>& history,
                          const std::vector<std::size_t>& op_indexes,
                          const std::vector<std::size_t>& linearized, const std::string& title) {
  std::map<std::size_t, std::size_t> order;  // History index -> linearization position.
  for (std::size_t i = 0; i < linearized.size(); ++i) order[linearized[i]] = i + 1;
  std::map<int, int> row_of;  // Client -> row.
  std::int64_t t0 = 0, t1 = 1;
  bool first = true;
  for (std::size_t i : op_indexes) {
    const Op& op = history[i];
    row_of.emplace(op.client, 0);
    t0 = first ? op.invoke_ns : std::min(t0, op.invoke_ns);
    t1 = first ? op.complete_ns : std::max(t1, op.complete_ns);
    t1 = std::max(t1, op.invoke_ns);
    first = false;
  }
  int row = 0;
  for (auto& [client, r] : row_of) r = row++;
  const std::int64_t span = std::max<std::int64_t>(t1 - t0, 1);
  const double width_px = 1400.0;
  const double unknown_end_px = width_px + 40;  // Unknown ops run off the end.
  auto x = [&](std::int64_t t) { return 80.0 + width_px * static_cast<double>(t - t0) / span; };
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" << html_escape(title)
    << "</title>\n<style>body{font:12px sans-serif}.bar{position:absolute;height:22px;"
       "border:1px solid #555;border-radius:3px;overflow:hidden;white-space:nowrap;"
       "font-size:11px;line-height:22px;padding-left:2px;box-sizing:border-box}"
       ".bar:hover{overflow:visible;z-index:9;outline:2px solid #000}"
       ".unknown{border-style:dashed}.stuck{border:2px solid #d00}"
       ".row{position:absolute;left:4px;font-weight:bold}"
       "</style></head><body>\n<h3>"
    << html_escape(title) << "</h3>\n<p>One row per client; a bar spans invoke to complete "
    << "(dashed grey: unknown outcome, completion +infinity). #n: position in the longest "
    << "linearizable prefix the checker found; the violation lies just after it; red: ok "
    << "ops it could not place after that prefix. Time span " << static_cast<double>(span) / 1e6
    << " ms. Hover a bar for details.</p>\n"
    << "<div style=\"position:relative;height:" << (row * 34 + 40)
    << "px;width:" << (unknown_end_px + 120) << "px\">\n";
  for (const auto& [client, r] : row_of) {
    h << "<div class=\"row\" style=\"top:" << (r * 34 + 4) << "px\">client " << client
      << "</div>\n";
  }
  for (std::size_t i : op_indexes) {
    const Op& op = history[i];
    const double left = x(op.invoke_ns);
    const double right = op.outcome == Outcome::kUnknown ? unknown_end_px : x(op.complete_ns);
    const double w = std::max(right - left, 3.0);
    std::string text = bar_label(op);
    if (auto it = order.find(i); it != order.end())
      text = "#" + std::to_string(it->second) + " " + text;
    const bool stuck = !linearized.empty() && op.outcome == Outcome::kOk && !order.contains(i);
    h << "<div class=\"bar" << (op.outcome == Outcome::kUnknown ? " unknown" : "")
      << (stuck ? " stuck" : "") << "\" style=\"top:" << (row_of[op.client] * 34)
      << "px;left:" << left << "px;width:" << w << "px;background:" << color(op) << "\" title=\""
      << html_escape(describe(op)) << "\">" << html_escape(text) << "</div>\n";
  }
  h << "</div></body></html>\n";
  return h.str();
}

bool write_report(const std::string& dir, std::uint64_t seed, const std::string& replay,
                  const std::vector<Op>& history, const CheckResult& result) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return false;
  std::ostringstream all;
  for (const Op& op : history) all << describe(op) << "\n";
  bool ok = write_file(std::filesystem::path(dir) / "history.txt", all.str());
  std::ostringstream v;
  v << "seed=" << seed << "\nreplay: " << replay << "\nverdict: " << to_string(result.verdict)
    << "\n\nper key:\n";
  for (const auto& k : result.keys) {
    v << "  " << k.key << ": " << to_string(k.verdict) << ", " << k.ops << " ops, " << k.steps
      << " steps\n";
  }
  const KeyResult* bad = result.smallest_violation();
  if (bad != nullptr) {
    const std::vector<std::size_t> window = violation_window(history, *bad);
    const std::size_t n = bad->longest_linearized.size();
    v << "\nsmallest violating key " << bad->key << " (" << bad->ops << " ops; all of them in "
      << "key-ops.txt)\n\nthe checker linearized " << n << " ops, then no pending op could "
      << "come next; the register then held " << state_after(history, bad->longest_linearized)
      << ".\n\n"
      << "the last linearized ops (in linearization order):\n";
    for (std::size_t k = n > 10 ? n - 10 : 0; k < n; ++k) {
      v << "  #" << k + 1 << " " << describe(history[bad->longest_linearized[k]]) << "\n";
    }
    v << "\nthe window of the violation (those ops and the pending ones, in invoke order; "
      << "timeline.html draws it):\n";
    for (std::size_t i : window) v << "  " << describe(history[i]) << "\n";
    std::ostringstream key_ops;
    for (std::size_t i : bad->op_indexes) key_ops << describe(history[i]) << "\n";
    ok = write_file(std::filesystem::path(dir) / "key-ops.txt", key_ops.str()) && ok;
    const std::string title =
        "dkv seed=" + std::to_string(seed) + " key " + bad->key + ": the window of the violation";
    ok = write_file(std::filesystem::path(dir) / "timeline.html",
                    timeline_html(history, window, bad->longest_linearized, title)) &&
         ok;
  }
  ok = write_file(std::filesystem::path(dir) / "violation.txt", v.str()) && ok;
  return ok;
}

}  // namespace dkv::fault
