#include "kv_args.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <map>

#include "cli.h"

namespace dkv::ctl {
namespace {

using etcdserverpb::RangeRequest;

util::Status bad_args(const std::string& message) { return util::invalid_argument(message); }

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

void add_range_flags(CLI::App* cmd, KvArgs* args) {
  cmd->add_option("KEY", args->key, "key, or the start of the range")->required();
  cmd->add_option("RANGE_END", args->range_end, "end of the range [KEY, RANGE_END)");
  cmd->add_flag("--prefix", args->prefix, "every key starting with KEY");
  cmd->add_flag("--from-key", args->from_key, "every key >= KEY (byte order)");
  cmd->add_flag("--base64", args->base64, "KEY and RANGE_END are base64 (and get prints base64)");
}

// [KEY, RANGE_END) as clientv3 forms it from etcdctl's flags.
util::Status make_key_range(const KvArgs& args, std::string* key, std::string* range_end) {
  if (args.prefix && args.from_key) {
    return bad_args("`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  if (!args.range_end.empty() && (args.prefix || args.from_key)) {
    return bad_args(
        "too many arguments, only accept one argument when `--prefix` or `--from-key` is set");
  }
  *key = args.key;
  *range_end = args.range_end;
  if (args.prefix) {
    // The empty prefix is every key: from "\0" to the end.
    *key = args.key.empty() ? std::string(1, '\0') : args.key;
    *range_end = args.key.empty() ? std::string(1, '\0') : prefix_range_end(args.key);
  }
  if (args.from_key) {
    if (key->empty()) *key = std::string(1, '\0');
    *range_end = std::string(1, '\0');
  }
  return util::Status::ok();
}

util::Status sort_options(const KvArgs& args, RangeRequest* out) {
  static const std::map<std::string, RangeRequest::SortOrder> kOrders = {
      {"", RangeRequest::NONE},
      {"ASCEND", RangeRequest::ASCEND},
      {"DESCEND", RangeRequest::DESCEND}};
  static const std::map<std::string, RangeRequest::SortTarget> kTargets = {
      {"", RangeRequest::KEY},          {"KEY", RangeRequest::KEY},
      {"CREATE", RangeRequest::CREATE}, {"MODIFY", RangeRequest::MOD},
      {"VALUE", RangeRequest::VALUE},   {"VERSION", RangeRequest::VERSION}};
  const auto order = kOrders.find(upper(args.order));
  if (order == kOrders.end()) return bad_args("bad sort order " + args.order);
  const auto target = kTargets.find(upper(args.sort_by));
  if (target == kTargets.end()) return bad_args("bad sort target " + args.sort_by);
  // clientv3's WithSort: by key ascending is the server's own order, so it
  // asks for no sort (which lets the server stop at the limit).
  RangeRequest::SortOrder sort_order = order->second;
  if (target->second == RangeRequest::KEY && sort_order == RangeRequest::ASCEND) {
    sort_order = RangeRequest::NONE;
  }
  out->set_sort_order(sort_order);
  out->set_sort_target(target->second);
  return util::Status::ok();
}

// strconv.ParseInt(text, 16, 64): optional sign, hex digits, fits int64.
bool parse_hex_int64(const std::string& text, std::int64_t* out) {
  std::size_t end = 0;
  try {
    const long long v = std::stoll(text, &end, 16);
    if (end != text.size() || text.find_first_of("xX ") != std::string::npos) return false;
    *out = v;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

void add_put_args(CLI::App* cmd, KvArgs* args) {
  cmd->add_option("KEY", args->key, "key")->required();
  cmd->add_option_function<std::string>(
      "VALUE",
      [args](const std::string& v) {
        args->value = v;
        args->has_value = true;
      },
      "value");
  cmd->add_option("--lease", args->lease, "lease ID (in hexadecimal) to attach to the key");
  cmd->add_flag("--prev-kv", args->prev_kv, "print the previous key-value pair");
  cmd->add_flag("--ignore-value", args->ignore_value, "keep the key's current value");
  cmd->add_flag("--ignore-lease", args->ignore_lease, "keep the key's current lease");
  cmd->add_flag("--base64", args->base64, "KEY and VALUE are base64");
}

void add_get_args(CLI::App* cmd, KvArgs* args) {
  add_range_flags(cmd, args);
  cmd->add_option("--limit", args->limit, "at most this many keys");
  cmd->add_option("--rev", args->rev, "read at this revision (default: the current one)");
  cmd->add_flag("--keys-only", args->keys_only, "keys only, no values");
  cmd->add_flag("--print-value-only", args->print_value_only, "print only the values");
  cmd->add_option("--consistency", args->consistency, "l: linearizable (default), s: serializable");
  cmd->add_flag("--serializable", args->serializable,
                "read the endpoint's replica, which may be stale (--consistency=s)");
  cmd->add_option("--order", args->order, "ASCEND or DESCEND (default: ascending keys)");
  cmd->add_option("--sort-by", args->sort_by, "CREATE, KEY, MODIFY, VALUE or VERSION");
}

void add_del_args(CLI::App* cmd, KvArgs* args) {
  add_range_flags(cmd, args);
  cmd->add_flag("--prev-kv", args->prev_kv, "print the deleted key-value pairs");
}

std::string decode_base64_args(KvArgs* args) {
  if (!args->base64) return "";
  using Field = std::pair<std::string*, const char*>;
  for (const auto& [field, name] : {Field{&args->key, "KEY"}, Field{&args->range_end, "RANGE_END"},
                                    Field{&args->value, "VALUE"}}) {
    std::string decoded;
    if (!decode_base64(*field, &decoded)) return std::string(name) + " is not valid base64";
    *field = std::move(decoded);
  }
  return "";
}

util::Status make_put(const KvArgs& args, etcdserverpb::PutRequest* out) {
  if (args.ignore_value && args.has_value) {
    return bad_args("put command needs only 1 argument when 'ignore-value' is set");
  }
  if (!args.ignore_value && !args.has_value) {
    return bad_args("put command needs 2 arguments (KEY VALUE), or 1 with --ignore-value");
  }
  std::int64_t lease = 0;
  if (!parse_hex_int64(args.lease, &lease)) {
    return bad_args("bad lease ID (" + args.lease + "), expecting ID in Hex");
  }
  out->set_key(args.key);
  out->set_value(args.value);
  out->set_lease(lease);
  out->set_prev_kv(args.prev_kv);
  out->set_ignore_value(args.ignore_value);
  out->set_ignore_lease(args.ignore_lease);
  return util::Status::ok();
}

util::Status make_range(const KvArgs& args, RangeRequest* out) {
  std::string key;
  std::string range_end;
  if (auto s = make_key_range(args, &key, &range_end); !s.is_ok()) return s;
  if (args.consistency != "l" && args.consistency != "s") {
    return bad_args("unknown consistency flag \"" + args.consistency + "\"");
  }
  if (args.limit < 0) return bad_args("--limit must not be negative");
  if (args.rev < 0) return bad_args("--rev must not be negative");
  out->set_key(key);
  out->set_range_end(range_end);
  out->set_limit(args.limit);
  out->set_revision(args.rev);
  out->set_keys_only(args.keys_only);
  out->set_serializable(args.serializable || args.consistency == "s");
  return sort_options(args, out);
}

util::Status make_delete(const KvArgs& args, etcdserverpb::DeleteRangeRequest* out) {
  std::string key;
  std::string range_end;
  if (auto s = make_key_range(args, &key, &range_end); !s.is_ok()) return s;
  out->set_key(key);
  out->set_range_end(range_end);
  out->set_prev_kv(args.prev_kv);
  return util::Status::ok();
}

std::string prefix_range_end(const std::string& prefix) {
  std::string end = prefix;
  for (std::size_t i = end.size(); i-- > 0;) {
    if (static_cast<unsigned char>(end[i]) < 0xff) {
      end[i] = static_cast<char>(static_cast<unsigned char>(end[i]) + 1);
      end.resize(i + 1);
      return end;
    }
  }
  return std::string(1, '\0');  // No key follows every 0xff... key: to the end.
}

}  // namespace dkv::ctl
