#include "watch_lease_args.h"

#include <CLI/CLI.hpp>
#include <cctype>

#include "cli.h"
#include "kv_args.h"

namespace dkv::ctl {
namespace {

// Go's strconv.ParseInt(text, base, 64) error text, or "" when it parses.
std::string go_parse_int(const std::string& text, int base, std::int64_t* out) {
  const std::string head = "strconv.ParseInt: parsing \"" + text + "\": ";
  std::size_t i = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
  if (i == text.size()) return head + "invalid syntax";
  for (std::size_t k = i; k < text.size(); ++k) {
    const bool digit = base == 16 ? std::isxdigit(static_cast<unsigned char>(text[k])) != 0
                                  : std::isdigit(static_cast<unsigned char>(text[k])) != 0;
    if (!digit) return head + "invalid syntax";
  }
  try {
    std::size_t end = 0;
    *out = std::stoll(text, &end, base);
  } catch (const std::out_of_range&) {
    return head + "value out of range";
  }
  return "";
}

}  // namespace

void add_watch_args(CLI::App* cmd, WatchArgs* args) {
  cmd->add_option("KEY", args->key, "key or prefix to watch")->required();
  cmd->add_option_function<std::string>(
      "RANGE_END",
      [args](const std::string& v) {
        args->range_end = v;
        args->has_range_end = true;
      },
      "end of the range [KEY, RANGE_END)");
  cmd->add_flag("--prefix", args->prefix, "watch every key starting with KEY");
  cmd->add_option("--rev", args->rev, "revision to start watching from (history included)");
  cmd->add_flag("--prev-kv", args->prev_kv, "get the previous key-value pair of each event");
  cmd->add_option("--max-events", args->max_events,
                  "dkvctl: exit (0) after this many events (default: run until interrupted)");
  cmd->add_option("--stop-after", args->stop_after_text,
                  "dkvctl: exit (0) after this long, e.g. 10s (default: run until interrupted)");
}

void add_lease_id_arg(CLI::App* cmd, LeaseArgs* args) {
  cmd->add_option("ID", args->id, "lease ID in hexadecimal, as `lease grant` prints it")
      ->required();
}

util::Status make_watch(const WatchArgs& args, etcdserverpb::WatchCreateRequest* out) {
  if (args.has_range_end && args.prefix) {
    return util::invalid_argument("`range_end` and `--prefix` are mutually exclusive");
  }
  if (args.rev < 0) return util::invalid_argument("--rev must not be negative");
  if (args.max_events < 0) return util::invalid_argument("--max-events must not be negative");
  KvArgs kv;
  kv.key = args.key;
  kv.range_end = args.range_end;
  kv.prefix = args.prefix;
  etcdserverpb::RangeRequest range;
  if (auto s = make_range(kv, &range); !s.is_ok()) return s;
  out->set_key(range.key());
  out->set_range_end(range.range_end());
  out->set_start_revision(args.rev);
  out->set_prev_kv(args.prev_kv);
  return util::Status::ok();
}

util::Status parse_lease_id(const std::string& text, std::int64_t* out) {
  if (std::string problem = go_parse_int(text, 16, out); !problem.empty()) {
    return util::invalid_argument("bad lease ID arg (" + problem + "), expecting ID in Hex");
  }
  return util::Status::ok();
}

util::Status parse_lease_ttl(const std::string& text, std::int64_t* out) {
  if (std::string problem = go_parse_int(text, 10, out); !problem.empty()) {
    return util::invalid_argument("bad TTL (" + problem + ")");
  }
  return util::Status::ok();
}

bool parse_stop_after(const std::string& text, std::chrono::milliseconds* out) {
  if (text.empty()) {
    *out = std::chrono::milliseconds(0);
    return true;
  }
  return parse_duration(text, out);
}

}  // namespace dkv::ctl
