#include "commands.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>

#include "client.h"
#include "etcd_commands.h"
#include "node/config.h"
#include "node/restore.h"
#include "output.h"
#include "util/crc32c.h"
#include "wal/file.h"
#include "watch_lease_commands.h"

namespace dkv::ctl {
namespace {

using Clock = std::chrono::steady_clock;

// Prints the error line; the exit code for a failed command.
int fail(std::ostream& err, const util::Status& s) {
  err << error_line(s);
  return kExitError;
}

Client make_client(const Invocation& inv) {
  return Client(ClientOptions{inv.global.endpoints, inv.global.command_timeout,
                              inv.global.dial_timeout, inv.global.cacert, inv.global.cert,
                              inv.global.key});
}

// put/get/del over dkv.v0, for a node that does not serve etcd's KV API.
int run_v0_kv(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err) {
  const Format f = inv.global.format;
  if (inv.command == Command::kPut) {
    v0::PutRequest req;
    req.set_key(inv.kv.key);
    req.set_value(inv.kv.value);
    v0::PutResponse resp;
    if (auto s = client.put(req, &resp); !s.is_ok()) return fail(err, s);
    out << format_put(f, resp);
  } else if (inv.command == Command::kGet) {
    v0::GetRequest req;
    req.set_key(inv.kv.key);
    req.set_serializable(inv.kv.serializable || inv.kv.consistency == "s");
    v0::GetResponse resp;
    if (auto s = client.get(req, &resp); !s.is_ok()) return fail(err, s);
    out << format_get(f, resp, inv.kv.base64, inv.kv.print_value_only);
  } else {
    v0::DeleteRequest req;
    req.set_key(inv.kv.key);
    v0::DeleteResponse resp;
    if (auto s = client.del(req, &resp); !s.is_ok()) return fail(err, s);
    out << format_delete(f, resp);
  }
  return kExitOk;
}

int run_member(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err) {
  const Format f = inv.global.format;
  switch (inv.command) {
    case Command::kMemberList: {
      v0::MemberListResponse resp;
      if (auto s = client.member_list(&resp); !s.is_ok()) return fail(err, s);
      out << format_member_list(f, resp);
      return kExitOk;
    }
    case Command::kMemberAdd: {
      v0::MemberAddRequest req;
      req.set_id(inv.name);
      req.set_address(inv.address);
      req.set_voter(inv.voter);
      req.set_force(inv.force);
      v0::MemberAddResponse resp;
      if (auto s = client.member_add(req, &resp); !s.is_ok()) return fail(err, s);
      out << format_member_add(f, resp, inv.name);
      return kExitOk;
    }
    case Command::kMemberPromote: {
      v0::MemberPromoteRequest req;
      req.set_id(inv.name);
      req.set_force(inv.force);
      v0::MemberPromoteResponse resp;
      if (auto s = client.member_promote(req, &resp); !s.is_ok()) return fail(err, s);
      out << format_member_promote(f, resp, inv.name);
      return kExitOk;
    }
    case Command::kMemberRemove: {
      v0::MemberRemoveRequest req;
      req.set_id(inv.name);
      req.set_force(inv.force);
      v0::MemberRemoveResponse resp;
      if (auto s = client.member_remove(req, &resp); !s.is_ok()) return fail(err, s);
      out << format_member_remove(f, resp, inv.name);
      return kExitOk;
    }
    default: {
      v0::MoveLeaderRequest req;
      req.set_id(inv.name);
      v0::MoveLeaderResponse resp;
      if (auto s = client.move_leader(req, &resp); !s.is_ok()) return fail(err, s);
      out << format_move_leader(f, resp);
      return kExitOk;
    }
  }
}

// The endpoints `endpoint status|health` look at: --endpoints, or with
// --cluster every member's address as the cluster reports it.
// `names` gets each endpoint's member id when the cluster told it ("" else).
util::Status target_endpoints(const Invocation& inv, Client& client,
                              std::vector<std::string>* endpoints,
                              std::vector<std::string>* names) {
  if (!inv.cluster) {
    *endpoints = inv.global.endpoints;
    names->assign(endpoints->size(), "");
    return util::Status::ok();
  }
  v0::StatusResponse st;
  if (auto s = client.status(&st); !s.is_ok()) return s;
  endpoints->clear();
  names->clear();
  for (const auto& m : st.members()) {
    endpoints->push_back(m.address());
    names->push_back(m.id());
  }
  return util::Status::ok();
}

int run_endpoint(const Invocation& inv, Client& client, std::ostream& out, std::ostream& err) {
  std::vector<std::string> endpoints;
  std::vector<std::string> names;
  if (auto s = target_endpoints(inv, client, &endpoints, &names); !s.is_ok()) return fail(err, s);
  int rc = kExitOk;
  if (inv.command == Command::kEndpointStatus) {
    std::vector<EndpointStatus> statuses;
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      const std::string& e = endpoints[i];
      EndpointStatus st{e, {}, {}, names[i]};
      if (auto s = client.status_of(e, &st.status); !s.is_ok()) {
        err << error_line(util::Status(s.code(), e + ": " + s.message()));
        st.error = s.to_string();
        rc = kExitError;
      }
      statuses.push_back(std::move(st));
    }
    out << format_endpoint_status(inv.global.format, statuses);
    return rc;
  }
  // Healthy: the endpoint serves a linearizable read (a quorum and a leader
  // confirmed it), as etcdctl's health check does; a missing key is fine.
  std::vector<EndpointHealth> healths;
  for (const auto& e : endpoints) {
    v0::GetRequest req;
    req.set_key("health");
    v0::GetResponse resp;
    const auto start = Clock::now();
    const util::Status s = client.get_from(e, req, &resp);
    EndpointHealth h;
    h.endpoint = e;
    h.took_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    h.healthy = s.is_ok() || s.code() == util::Code::kNotFound;
    if (!h.healthy) {
      h.error = s.to_string();
      rc = kExitError;
    }
    healths.push_back(std::move(h));
  }
  out << format_endpoint_health(inv.global.format, healths);
  if (rc != kExitOk) err << "Error: unhealthy cluster\n";
  return rc;
}

util::Status io_error(const std::string& what, const std::string& path) {
  return util::internal_error(what + " " + path + ": " + std::strerror(errno));
}

util::Status write_all(int fd, const std::string& bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("write", path);
    done += static_cast<std::size_t>(n);
  }
  return util::Status::ok();
}

// Re-reads the written file and checks the image's CRC against its trailer.
util::Status verify_file(const std::string& path, std::uint64_t image_bytes, std::uint32_t crc) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path);
  std::string buf(1 << 20, '\0');
  std::uint32_t actual = 0;
  std::uint64_t left = image_bytes;
  util::Status result;
  while (left > 0) {
    const ssize_t n = ::read(fd, buf.data(), std::min<std::uint64_t>(buf.size(), left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      result =
          n < 0 ? io_error("read", path) : util::Status(util::Code::kDataLoss, path + " is short");
      break;
    }
    actual = util::crc32c::extend(actual, buf.data(), static_cast<std::size_t>(n));
    left -= static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  if (!result.is_ok()) return result;
  if (actual != crc) return {util::Code::kDataLoss, path + ": checksum mismatch after writing"};
  return util::Status::ok();
}

// Receives the stream into FILE.part, checks sizes and the CRC, appends
// the CRC trailer (node/restore.h), fsyncs, re-reads it to verify, renames
// it to FILE and fsyncs the directory.
util::Status save_snapshot(Client& client, const std::string& file, SnapshotSaved* saved) {
  const std::string part = file + ".part";
  const int fd = ::open(part.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("create", part);
  std::uint64_t total = 0;
  std::uint64_t received = 0;
  std::uint32_t crc = 0;
  bool first = true;
  bool last = false;
  std::uint32_t server_crc = 0;
  util::Status s = client.snapshot(
      [&](const v0::SnapshotResponse& m) -> util::Status {
        if (last) return {util::Code::kDataLoss, "message after the last one"};
        if (first) {
          saved->applied_index = m.applied_index();
          total = m.blob().size() + m.remaining_bytes();
          first = false;
        }
        received += m.blob().size();
        if (received + m.remaining_bytes() != total) {
          return {util::Code::kDataLoss, "the stream's sizes do not add up"};
        }
        crc = util::crc32c::extend(crc, m.blob().data(), m.blob().size());
        if (m.remaining_bytes() == 0) {
          last = true;
          server_crc = m.crc32c();
        }
        return write_all(fd, m.blob(), part);
      },
      &saved->endpoint);
  if (s.is_ok() && (first || !last)) s = {util::Code::kDataLoss, "the stream ended early"};
  if (s.is_ok() && crc != server_crc) {
    s = {util::Code::kDataLoss, "checksum mismatch: the backup was damaged in transit"};
  }
  if (s.is_ok()) s = write_all(fd, node::encode_backup_trailer(crc), part);
  if (s.is_ok() && ::fsync(fd) != 0) s = io_error("fsync", part);
  if (::close(fd) != 0 && s.is_ok()) s = io_error("close", part);
  if (s.is_ok()) s = verify_file(part, received, crc);
  if (s.is_ok()) s = wal::rename_durably(wal::posix_file_system(), part, file);
  if (!s.is_ok()) {
    ::unlink(part.c_str());  // Gone already if the rename was done.
    return s;
  }
  saved->file = file;
  saved->size_bytes = received + node::kBackupTrailerBytes;
  saved->crc32c = crc;
  return util::Status::ok();
}

int run_snapshot_offline(const Invocation& inv, std::ostream& out, std::ostream& err) {
  // The node's libraries log through spdlog: warnings only, on stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("dkvctl"));
  spdlog::set_level(spdlog::level::warn);
  std::string image;
  node::BackupInfo info;
  if (auto s = node::read_backup_file(inv.file, &image, &info); !s.is_ok()) return fail(err, s);
  if (inv.command == Command::kSnapshotStatus) {
    out << format_snapshot_status(inv.global.format,
                                  {info.crc32c, info.applied_index,
                                   info.image_bytes + node::kBackupTrailerBytes, info.membership});
    return kExitOk;
  }
  node::RestoreOptions options;
  options.data_dir = inv.data_dir;
  options.node_id = inv.node_name;
  if (auto s = node::parse_cluster(inv.initial_cluster, &options.cluster); !s.is_ok()) {
    err << "Error: --initial-cluster: " << s.message() << "\n";
    return kExitUsage;
  }
  node::RestoreResult result;
  if (auto s = node::restore_data_dir(options, image, &result); !s.is_ok()) {
    err << error_line(s);
    return s.code() == util::Code::kInvalidArgument ? kExitUsage : kExitError;
  }
  out << format_snapshot_restored(
      inv.global.format,
      {inv.data_dir, inv.node_name, inv.initial_cluster, result.index, result.cluster_id});
  return kExitOk;
}

}  // namespace

int run_command(const Invocation& inv, std::ostream& out, std::ostream& err) {
  switch (inv.command) {
    case Command::kNone:
      err << "Error: no command given\n";
      return kExitUsage;
    case Command::kVersion:
      out << format_version(inv.global.format);
      return kExitOk;
    case Command::kSnapshotRestore:
    case Command::kSnapshotStatus:
      return run_snapshot_offline(inv, out, err);
    default:
      break;
  }
  Client client = make_client(inv);
  switch (inv.command) {
    case Command::kPut:
    case Command::kGet:
    case Command::kDel:
    case Command::kTxn:
    case Command::kCompaction:
      return run_etcd_kv(inv, client, std::cin, out, err,
                         [&] { return run_v0_kv(inv, client, out, err); });
    case Command::kEndpointStatus:
    case Command::kEndpointHealth:
      return run_endpoint(inv, client, out, err);
    case Command::kWatch:
      return run_watch(inv, client, out, err);
    case Command::kLeaseGrant:
    case Command::kLeaseRevoke:
    case Command::kLeaseKeepAlive:
    case Command::kLeaseTimeToLive:
    case Command::kLeaseList:
      return run_lease(inv, client, out, err);
    case Command::kSnapshotSave: {
      SnapshotSaved saved;
      if (auto s = save_snapshot(client, inv.file, &saved); !s.is_ok()) return fail(err, s);
      out << format_snapshot_saved(inv.global.format, saved);
      return kExitOk;
    }
    default:
      return run_member(inv, client, out, err);
  }
}

}  // namespace dkv::ctl
