#include "cli.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <map>
#include <ostream>
#include <set>

#include "util/version.h"

namespace dkv::ctl {
namespace {

constexpr char kDefaultEndpoint[] = "127.0.0.1:7070";

// Strings the flags are parsed into before they are checked and converted.
struct RawFlags {
  std::vector<std::string> endpoints;
  std::string write_out = "simple";
  std::string command_timeout = "5s";
  std::string dial_timeout = "2s";
  std::string cacert, cert, key;
};

std::string duration_check(const std::string& text) {
  std::chrono::milliseconds d;
  return parse_duration(text, &d) ? "" : "not a positive duration (e.g. 5s, 500ms): " + text;
}

void add_global_flags(CLI::App& app, RawFlags* raw) {
  app.add_option("--endpoints", raw->endpoints,
                 "gRPC endpoints host:port, comma-separated, tried in turn (default " +
                     std::string(kDefaultEndpoint) + ")")
      ->delimiter(',')
      ->envname("DKV_ENDPOINTS");
  app.add_option("-w,--write-out", raw->write_out, "output format: simple, table or json")
      ->check(CLI::IsMember({"simple", "table", "json"}));
  app.add_option("--command-timeout", raw->command_timeout,
                 "time limit for a command, across endpoints (default 5s)")
      ->check(CLI::Validator(duration_check, "DURATION"));
  app.add_option("--dial-timeout", raw->dial_timeout,
                 "time limit to connect to one endpoint (default 2s)")
      ->check(CLI::Validator(duration_check, "DURATION"));
  app.add_option("--cacert", raw->cacert, "TLS: verify the server with this CA (PEM)")
      ->check(CLI::ExistingFile);
  app.add_option("--cert", raw->cert, "TLS: client certificate (PEM), with --key")
      ->check(CLI::ExistingFile);
  app.add_option("--key", raw->key, "TLS: the client certificate's key (PEM)")
      ->check(CLI::ExistingFile);
}

// The leaf subcommands, to tell which one was given.
using Leaves = std::vector<std::pair<CLI::App*, Command>>;

void add_kv_commands(CLI::App& app, Invocation* inv, Leaves* leaves) {
  auto* put = app.add_subcommand("put", "Stores VALUE under KEY");
  add_put_args(put, &inv->kv);
  leaves->emplace_back(put, Command::kPut);

  auto* get = app.add_subcommand("get", "Reads KEY or the keys in [KEY, RANGE_END)");
  add_get_args(get, &inv->kv);
  leaves->emplace_back(get, Command::kGet);

  auto* del = app.add_subcommand("del", "Deletes KEY or the keys in [KEY, RANGE_END)");
  add_del_args(del, &inv->kv);
  leaves->emplace_back(del, Command::kDel);

  auto* txn = app.add_subcommand(
      "txn", "Runs a transaction read from stdin (compares, success and failure requests)");
  txn->add_flag("-i,--interactive", inv->interactive, "prompt for each section");
  leaves->emplace_back(txn, Command::kTxn);

  auto* compaction =
      app.add_subcommand("compaction", "Discards the history before REVISION (etcd's Compact)");
  compaction->add_option("REVISION", inv->revision, "the revision to compact at")->required();
  compaction->add_flag("--physical", inv->physical,
                       "wait until the old revisions are physically removed");
  leaves->emplace_back(compaction, Command::kCompaction);
}

void add_watch_lease_commands(CLI::App& app, Invocation* inv, Leaves* leaves) {
  auto* watch = app.add_subcommand(
      "watch", "Prints the events on KEY, a [KEY, RANGE_END) range or a --prefix (etcd's Watch)");
  add_watch_args(watch, &inv->watch);
  leaves->emplace_back(watch, Command::kWatch);

  auto* lease = app.add_subcommand("lease", "Leases: grant, revoke, keep-alive, timetolive, list");
  lease->require_subcommand(1);
  auto* grant = lease->add_subcommand("grant", "Creates a lease of TTL seconds");
  grant->add_option("TTL", inv->lease.ttl, "time to live, in seconds")->required();
  leaves->emplace_back(grant, Command::kLeaseGrant);
  auto* revoke = lease->add_subcommand("revoke", "Revokes a lease, deleting its keys");
  add_lease_id_arg(revoke, &inv->lease);
  leaves->emplace_back(revoke, Command::kLeaseRevoke);
  auto* keep = lease->add_subcommand("keep-alive", "Keeps a lease alive (until interrupted)");
  add_lease_id_arg(keep, &inv->lease);
  keep->add_flag("--once", inv->lease.once, "renew once, then exit");
  keep->add_option("--stop-after", inv->lease.stop_after_text,
                   "dkvctl: exit (0) after this long, e.g. 10s (default: until interrupted)");
  leaves->emplace_back(keep, Command::kLeaseKeepAlive);
  auto* ttl = lease->add_subcommand("timetolive", "Prints a lease's TTL and remaining time");
  add_lease_id_arg(ttl, &inv->lease);
  ttl->add_flag("--keys", inv->lease.keys, "also the keys attached to it");
  leaves->emplace_back(ttl, Command::kLeaseTimeToLive);
  auto* list = lease->add_subcommand("list", "Lists every lease");
  leaves->emplace_back(list, Command::kLeaseList);
}

void add_member_commands(CLI::App& app, Invocation* inv, Leaves* leaves) {
  auto* member = app.add_subcommand("member", "Membership: list, add, promote, remove");
  member->require_subcommand(1);
  auto* list = member->add_subcommand("list", "Lists the members (linearizable)");
  leaves->emplace_back(list, Command::kMemberList);

  auto* add = member->add_subcommand("add", "Adds a member (a learner unless --voter)");
  add->add_option("NAME", inv->name, "the new member's id, as in DKV_CLUSTER")->required();
  add->add_option("ADDR", inv->address, "its RPC address host:port")->required();
  add->add_flag("--voter", inv->voter, "add as a voter at once (default: learner)");
  add->add_flag("--force", inv->force, "skip the quorum safety check (dangerous)");
  leaves->emplace_back(add, Command::kMemberAdd);

  auto* promote = member->add_subcommand("promote", "Turns a caught-up learner into a voter");
  promote->add_option("NAME", inv->name, "the learner's id")->required();
  promote->add_flag("--force", inv->force, "promote even if far behind (dangerous)");
  leaves->emplace_back(promote, Command::kMemberPromote);

  auto* remove = member->add_subcommand("remove", "Removes a member (the leader included)");
  remove->add_option("NAME", inv->name, "the member's id")->required();
  remove->add_flag("--force", inv->force, "skip the quorum safety check (dangerous)");
  leaves->emplace_back(remove, Command::kMemberRemove);

  auto* move = app.add_subcommand("move-leader", "Transfers leadership to the named voter");
  move->add_option("NAME", inv->name, "the target member's id")->required();
  leaves->emplace_back(move, Command::kMoveLeader);
}

void add_endpoint_commands(CLI::App& app, Invocation* inv, Leaves* leaves) {
  auto* endpoint = app.add_subcommand("endpoint", "Per-endpoint status and health");
  endpoint->require_subcommand(1);
  auto* status = endpoint->add_subcommand("status", "Status of each endpoint");
  status->add_flag("--cluster", inv->cluster, "every member of the cluster, not --endpoints");
  leaves->emplace_back(status, Command::kEndpointStatus);
  auto* health =
      endpoint->add_subcommand("health", "Whether each endpoint serves a linearizable read");
  health->add_flag("--cluster", inv->cluster, "every member of the cluster, not --endpoints");
  leaves->emplace_back(health, Command::kEndpointHealth);
}

void add_snapshot_commands(CLI::App& app, Invocation* inv, Leaves* leaves) {
  auto* snapshot = app.add_subcommand("snapshot", "Backups: save, restore, status");
  snapshot->require_subcommand(1);
  auto* save =
      snapshot->add_subcommand("save", "Streams a consistent backup from a node into FILE");
  save->add_option("FILE", inv->file, "the backup file to write")->required();
  leaves->emplace_back(save, Command::kSnapshotSave);

  auto* restore = snapshot->add_subcommand(
      "restore", "Creates a member's data directory of a new cluster from a backup (offline)");
  restore->add_option("FILE", inv->file, "a backup from `snapshot save`")->required();
  restore->add_option("--data-dir", inv->data_dir, "the new data directory (DKV_DB_PATH)")
      ->required();
  restore->add_option("--name", inv->node_name, "this member's id (DKV_NODE_ID)")->required();
  restore
      ->add_option("--initial-cluster", inv->initial_cluster,
                   "the new cluster, as DKV_CLUSTER: a@host:port,b@host:port,...")
      ->required();
  leaves->emplace_back(restore, Command::kSnapshotRestore);

  auto* status = snapshot->add_subcommand("status", "Checks a backup file and describes it");
  status->add_option("FILE", inv->file, "a backup from `snapshot save`")->required();
  leaves->emplace_back(status, Command::kSnapshotStatus);
}

// The first word of argv that is not a global flag or its value: the
// command the user meant ("" if none).
std::vector<std::string> command_words(int argc, const char* const* argv) {
  static const std::set<std::string> kFlagsWithValue = {"--endpoints", "-w", "--write-out",
                                                        "--command-timeout", "--dial-timeout"};
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (kFlagsWithValue.count(arg) > 0) {
      ++i;  // Its value.
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    words.push_back(arg);
  }
  return words;
}

// "unknown command ..." naming the word, when CLI11's error would not.
std::string unknown_command(CLI::App& app, int argc, const char* const* argv) {
  const std::vector<std::string> words = command_words(argc, argv);
  if (words.empty()) return "";
  CLI::App* group = nullptr;
  try {
    group = app.get_subcommand(words[0]);
  } catch (const CLI::OptionNotFound&) {
    return "unknown command \"" + words[0] + "\"";
  }
  if (group->get_require_subcommand_min() == 0 || words.size() < 2) return "";
  try {
    group->get_subcommand(words[1]);
  } catch (const CLI::OptionNotFound&) {
    return "unknown command \"" + words[0] + " " + words[1] + "\"";
  }
  return "";
}

// Decodes and checks the key-value commands' arguments as their requests
// will (kv_args.h); a message on bad input.
std::string check_kv(Invocation* inv) {
  const Command c = inv->command;
  if (c != Command::kPut && c != Command::kGet && c != Command::kDel) return "";
  if (std::string problem = decode_base64_args(&inv->kv); !problem.empty()) return problem;
  util::Status s;
  if (c == Command::kPut) {
    etcdserverpb::PutRequest put;
    s = make_put(inv->kv, &put);
  } else if (c == Command::kGet) {
    etcdserverpb::RangeRequest range;
    s = make_range(inv->kv, &range);
  } else {
    etcdserverpb::DeleteRangeRequest del;
    s = make_delete(inv->kv, &del);
  }
  return s.message();
}

// Checks the watch and lease commands' arguments as their requests will
// (watch_lease_args.h); a message on bad input.
std::string check_watch_lease(const Invocation& inv) {
  std::int64_t n = 0;
  switch (inv.command) {
    case Command::kWatch: {
      etcdserverpb::WatchCreateRequest req;
      return make_watch(inv.watch, &req).message();
    }
    case Command::kLeaseGrant:
      return parse_lease_ttl(inv.lease.ttl, &n).message();
    case Command::kLeaseRevoke:
    case Command::kLeaseKeepAlive:
    case Command::kLeaseTimeToLive:
      return parse_lease_id(inv.lease.id, &n).message();
    default:
      return "";
  }
}

// Turns the raw strings into the Invocation; a message on bad input.
std::string finish(const RawFlags& raw, Invocation* inv) {
  static const std::map<std::string, Format> kFormats = {
      {"simple", Format::kSimple}, {"table", Format::kTable}, {"json", Format::kJson}};
  inv->global.format = kFormats.at(raw.write_out);
  inv->global.endpoints.clear();
  for (const auto& e : raw.endpoints) {
    if (!e.empty()) inv->global.endpoints.push_back(e);
  }
  if (inv->global.endpoints.empty()) inv->global.endpoints.push_back(kDefaultEndpoint);
  parse_duration(raw.command_timeout, &inv->global.command_timeout);
  parse_duration(raw.dial_timeout, &inv->global.dial_timeout);
  if (raw.cert.empty() != raw.key.empty()) return "--cert and --key go together";
  if (!raw.cert.empty() && raw.cacert.empty()) return "--cert needs --cacert (TLS)";
  inv->global.cacert = raw.cacert;
  inv->global.cert = raw.cert;
  inv->global.key = raw.key;
  if (!parse_stop_after(inv->watch.stop_after_text, &inv->watch.stop_after) ||
      !parse_stop_after(inv->lease.stop_after_text, &inv->lease.stop_after)) {
    return "--stop-after: " +
           duration_check(inv->watch.stop_after_text + inv->lease.stop_after_text);
  }
  if (std::string problem = check_watch_lease(*inv); !problem.empty()) return problem;
  return check_kv(inv);
}

}  // namespace

int parse_args(int argc, const char* const* argv, Invocation* out, std::ostream& out_stream,
               std::ostream& err_stream) {
  CLI::App app{"dkvctl: the operator's command line for dkv", "dkvctl"};
  app.fallthrough();  // Global flags also after the command (inherited by subcommands).
  app.require_subcommand(1);
  app.set_version_flag("--version", "dkvctl " + std::string(util::version()));
  RawFlags raw;
  Invocation inv;
  Leaves leaves;
  add_global_flags(app, &raw);
  add_kv_commands(app, &inv, &leaves);
  add_watch_lease_commands(app, &inv, &leaves);
  add_member_commands(app, &inv, &leaves);
  add_endpoint_commands(app, &inv, &leaves);
  add_snapshot_commands(app, &inv, &leaves);
  leaves.emplace_back(app.add_subcommand("version", "Prints dkvctl's version"), Command::kVersion);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out_stream, err_stream) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, out_stream, err_stream) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, out_stream, err_stream) == 0 ? kExitOk : kExitUsage;
  } catch (const CLI::ParseError& e) {
    const std::string unknown = unknown_command(app, argc, argv);
    err_stream << "Error: " << (unknown.empty() ? e.what() : unknown) << " (see dkvctl --help)\n";
    return kExitUsage;
  }
  for (const auto& [sub, command] : leaves) {
    if (sub->parsed()) inv.command = command;
  }
  if (inv.command == Command::kNone) {
    err_stream << "Error: no command given (see dkvctl --help)\n";
    return kExitUsage;
  }
  if (const std::string problem = finish(raw, &inv); !problem.empty()) {
    err_stream << "Error: " << problem << "\n";
    return kExitUsage;
  }
  *out = std::move(inv);
  return -1;
}

bool parse_duration(const std::string& text, std::chrono::milliseconds* out) {
  std::size_t end = 0;
  double n = 0;
  try {
    n = std::stod(text, &end);
  } catch (const std::exception&) {
    return false;
  }
  const std::string unit = text.substr(end);
  static const std::map<std::string, double> kUnitMs = {
      {"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60'000}, {"h", 3'600'000}};
  const auto it = kUnitMs.find(unit);
  if (it == kUnitMs.end() || !(n > 0) || n * it->second > 1e12) return false;
  *out = std::chrono::milliseconds(static_cast<std::int64_t>(n * it->second + 0.5));
  return out->count() > 0;
}

bool decode_base64(const std::string& in, std::string* out) {
  std::string s = in;
  while (!s.empty() && s.back() == '=') s.pop_back();
  if (s.size() % 4 == 1) return false;
  std::string result;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    if (c >= '0' && c <= '9') v = c - '0' + 52;
    if (c == '+' || c == '-') v = 62;
    if (c == '/' || c == '_') v = 63;
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      result.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  *out = std::move(result);
  return true;
}

std::string encode_base64(const std::string& in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (in.size() - i == 1) {
    const unsigned v = at(i) << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    const unsigned v = at(i) << 16 | at(i + 1) << 8;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

}  // namespace dkv::ctl
