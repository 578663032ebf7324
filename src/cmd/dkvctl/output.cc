#include "output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>

#include "util/version.h"

namespace dkv::ctl {
namespace {

std::string hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

std::string bool_text(bool b) { return b ? "true" : "false"; }

std::string took_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fms", ms);
  return buf;
}

std::string member_cluster(const google::protobuf::RepeatedPtrField<v0::Member>& members) {
  std::string out;
  for (const auto& m : members) {
    if (!out.empty()) out += ",";
    out += m.id() + "@" + m.address();
  }
  return out;
}

std::string members_text(Format format,
                         const google::protobuf::RepeatedPtrField<v0::Member>& members) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : members) rows.push_back({m.id(), m.address(), bool_text(m.is_learner())});
  if (format == Format::kTable) return format_table({"ID", "ADDRESS", "IS LEARNER"}, rows);
  std::string out;
  for (const auto& r : rows) out += r[0] + ", " + r[1] + ", " + r[2] + "\n";
  return out;
}

}  // namespace

std::string error_line(const util::Status& status) {
  // gRPC's own errors (e.g. UNIMPLEMENTED from an older server) may carry
  // no message: then the code alone.
  std::string line =
      "Error: " +
      (status.message().empty() ? std::string(util::code_name(status.code())) : status.to_string());
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line + "\n";
}

std::string to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& h : headers) widths.push_back(h.size());
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], r[i].size());
    }
  }
  std::string rule = "+";
  for (auto w : widths) rule += std::string(w + 2, '-') + "+";
  rule += "\n";
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l = "|";
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < cells.size() ? cells[i] : "";
      l += " " + cell + std::string(widths[i] - cell.size(), ' ') + " |";
    }
    return l + "\n";
  };
  std::string out = rule + line(headers) + rule;
  for (const auto& r : rows) out += line(r);
  return out + rule;
}

std::string human_bytes(std::uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  static const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1000 && unit < 4) {
    v /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, kUnits[unit]);
  return buf;
}

std::string format_put(Format format, const v0::PutResponse& response) {
  if (format == Format::kJson) return to_json(response) + "\n";
  return "OK\n";
}

std::string format_get(Format format, const v0::GetResponse& response, bool base64,
                       bool value_only) {
  if (format == Format::kJson) return to_json(response) + "\n";
  const std::string key = base64 ? encode_base64(response.key()) : response.key();
  const std::string value = base64 ? encode_base64(response.value()) : response.value();
  if (format == Format::kTable) {
    if (value_only) return format_table({"VALUE"}, {{value}});
    return format_table({"KEY", "VALUE"}, {{key, value}});
  }
  return value_only ? value + "\n" : key + "\n" + value + "\n";
}

std::string format_delete(Format format, const v0::DeleteResponse& response) {
  if (format == Format::kJson) return to_json(response) + "\n";
  if (format == Format::kTable)
    return format_table({"DELETED"}, {{std::to_string(response.deleted())}});
  return std::to_string(response.deleted()) + "\n";
}

std::string format_member_list(Format format, const v0::MemberListResponse& response) {
  if (format == Format::kJson) return to_json(response) + "\n";
  return members_text(format, response.members());
}

std::string format_member_add(Format format, const v0::MemberAddResponse& response,
                              const std::string& node_id) {
  if (format == Format::kJson) return to_json(response) + "\n";
  const bool learner = response.member().id().empty() || response.member().is_learner();
  std::string out =
      "Member " + node_id + " added to the cluster as a " + (learner ? "learner" : "voter") + "\n";
  if (format == Format::kTable) return out + members_text(format, response.members());
  // The variables the new node starts with, as etcdctl prints ETCD_*.
  out += "\nDKV_NODE_ID=\"" + node_id + "\"\n";
  out += "DKV_CLUSTER=\"" + member_cluster(response.members()) + "\"\n";
  out += "DKV_CLUSTER_STATE=\"existing\"\n";
  return out;
}

std::string format_member_promote(Format format, const v0::MemberPromoteResponse& response,
                                  const std::string& node_id) {
  if (format == Format::kJson) return to_json(response) + "\n";
  std::string out = "Member " + node_id + " promoted to a voter\n";
  if (format == Format::kTable) out += members_text(format, response.members());
  return out;
}

std::string format_member_remove(Format format, const v0::MemberRemoveResponse& response,
                                 const std::string& node_id) {
  if (format == Format::kJson) return to_json(response) + "\n";
  std::string out = "Member " + node_id + " removed from the cluster\n";
  if (format == Format::kTable) out += members_text(format, response.members());
  return out;
}

std::string format_move_leader(Format format, const v0::MoveLeaderResponse& response) {
  if (format == Format::kJson) return to_json(response) + "\n";
  return "Leadership transferred to " + response.leader_id() + "\n";
}

std::string format_endpoint_status(Format format, const std::vector<EndpointStatus>& statuses) {
  if (format == Format::kJson) {
    std::string out = "[";
    for (const auto& e : statuses) {
      if (out.size() > 1) out += ",";
      out += "{\"endpoint\":" + json_string(e.endpoint);
      if (e.error.empty()) {
        out += ",\"status\":" + to_json(e.status) + "}";
      } else {
        if (!e.node_id.empty()) out += ",\"nodeId\":" + json_string(e.node_id);
        out += ",\"unreachable\":true,\"error\":" + json_string(e.error) + "}";
      }
    }
    return out + "]\n";
  }
  std::vector<std::vector<std::string>> rows;
  bool any_error = false;
  for (const auto& e : statuses) {
    const auto& s = e.status;
    if (!e.error.empty()) {
      any_error = true;
      rows.push_back({e.endpoint, e.node_id, "", "", "unreachable", "", "", "", "", "", e.error});
      continue;
    }
    rows.push_back({e.endpoint, s.node_id(), s.version(), human_bytes(s.db_size_bytes()), s.role(),
                    s.leader_id(), std::to_string(s.term()), std::to_string(s.commit_index()),
                    std::to_string(s.applied_index()), s.cluster_id(), ""});
  }
  if (format == Format::kTable) {
    std::vector<std::string> headers = {"ENDPOINT",      "ID",         "VERSION", "DB SIZE",
                                        "ROLE",          "LEADER",     "TERM",    "COMMIT INDEX",
                                        "APPLIED INDEX", "CLUSTER ID", "ERROR"};
    if (!any_error) {
      headers.pop_back();
      for (auto& r : rows) r.pop_back();
    }
    return format_table(headers, rows);
  }
  std::string out;
  for (const auto& e : statuses) {
    if (!e.error.empty()) {
      out += e.endpoint + ", " + (e.node_id.empty() ? "" : e.node_id + ", ") +
             "unreachable: " + e.error + "\n";
      continue;
    }
    const auto& s = e.status;
    out += e.endpoint + ", " + s.node_id() + ", " + s.version() + ", " +
           human_bytes(s.db_size_bytes()) + ", " + s.role() + ", " + s.leader_id() + ", " +
           std::to_string(s.term()) + ", " + std::to_string(s.commit_index()) + ", " +
           std::to_string(s.applied_index()) + ", " + s.cluster_id() + "\n";
  }
  return out;
}

std::string format_endpoint_health(Format format, const std::vector<EndpointHealth>& healths) {
  if (format == Format::kJson) {
    std::string out = "[";
    for (const auto& h : healths) {
      if (out.size() > 1) out += ",";
      out += "{\"endpoint\":" + json_string(h.endpoint) + ",\"health\":" + bool_text(h.healthy) +
             ",\"took\":" + json_string(took_text(h.took_ms));
      if (!h.healthy) out += ",\"error\":" + json_string(h.error);
      out += "}";
    }
    return out + "]\n";
  }
  if (format == Format::kTable) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& h : healths) {
      rows.push_back({h.endpoint, bool_text(h.healthy), took_text(h.took_ms), h.error});
    }
    return format_table({"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows);
  }
  std::string out;
  for (const auto& h : healths) {
    if (h.healthy) {
      out += h.endpoint +
             " is healthy: served a linearizable read: took = " + took_text(h.took_ms) + "\n";
    } else {
      out += h.endpoint + " is unhealthy: " + h.error + "\n";
    }
  }
  return out;
}

std::string format_snapshot_saved(Format format, const SnapshotSaved& saved) {
  if (format == Format::kJson) {
    return "{\"file\":" + json_string(saved.file) + ",\"endpoint\":" + json_string(saved.endpoint) +
           ",\"appliedIndex\":\"" + std::to_string(saved.applied_index) + "\",\"sizeBytes\":\"" +
           std::to_string(saved.size_bytes) + "\",\"crc32c\":" + json_string(hex32(saved.crc32c)) +
           "}\n";
  }
  if (format == Format::kTable) {
    return format_table({"FILE", "ENDPOINT", "APPLIED INDEX", "SIZE", "CRC32C"},
                        {{saved.file, saved.endpoint, std::to_string(saved.applied_index),
                          std::to_string(saved.size_bytes), hex32(saved.crc32c)}});
  }
  return "Snapshot saved at " + saved.file + " from " + saved.endpoint + ": applied index " +
         std::to_string(saved.applied_index) + ", " + std::to_string(saved.size_bytes) + " bytes\n";
}

std::string format_snapshot_status(Format format, const SnapshotFileStatus& status) {
  if (format == Format::kJson) {
    return "{\"crc32c\":" + json_string(hex32(status.crc32c)) + ",\"appliedIndex\":\"" +
           std::to_string(status.applied_index) + "\",\"sizeBytes\":\"" +
           std::to_string(status.size_bytes) + "\",\"members\":" + json_string(status.membership) +
           "}\n";
  }
  const std::vector<std::string> row = {hex32(status.crc32c), std::to_string(status.applied_index),
                                        human_bytes(status.size_bytes), status.membership};
  if (format == Format::kTable) {
    return format_table({"CRC32C", "APPLIED INDEX", "TOTAL SIZE", "MEMBERS"}, {row});
  }
  return row[0] + ", " + row[1] + ", " + row[2] + ", " + row[3] + "\n";
}

std::string format_snapshot_restored(Format format, const SnapshotRestored& r) {
  if (format == Format::kJson) {
    return "{\"dataDir\":" + json_string(r.data_dir) + ",\"name\":" + json_string(r.name) +
           ",\"index\":\"" + std::to_string(r.index) +
           "\",\"clusterId\":" + json_string(r.cluster_id) + "}\n";
  }
  if (format == Format::kTable) {
    return format_table({"DATA DIR", "NAME", "INDEX", "CLUSTER ID"},
                        {{r.data_dir, r.name, std::to_string(r.index), r.cluster_id}});
  }
  return "Restored member " + r.name + " of cluster " + r.cluster_id + " at index " +
         std::to_string(r.index) + " into " + r.data_dir + "\nStart it with DKV_NODE_ID=\"" +
         r.name + "\" DKV_DB_PATH=\"" + r.data_dir + "\" DKV_CLUSTER=\"" + r.initial_cluster +
         "\"\n";
}

std::string format_version(Format format) {
  const std::string v(util::version());
  if (format == Format::kJson) return "{\"dkvctl\":" + json_string(v) + ",\"api\":\"v0\"}\n";
  return "dkvctl version: " + v + "\nAPI version: v0\n";
}

}  // namespace dkv::ctl
