#include "node/restore.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "kv/store.h"
#include "node/membership.h"
#include "node/snapshots.h"
#include "util/crc32c.h"
#include "util/varint.h"
#include "wal/file.h"
#include "wal/log.h"

namespace dkv::node {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kImageMagic = "DKVSNAP1";  // kv/store.cc's image format.
constexpr raft::Term kRestoredTerm = 1;

// True if `bytes` ends with the SHA-256 of what precedes it: a file that
// etcdctl's `snapshot save` wrote from etcd's Maintenance.Snapshot
// (api/etcd_grpc_services.h), which appends that hash instead of our CRC.
bool ends_with_sha256(std::string_view bytes) {
  constexpr std::size_t kSha256Bytes = 32;
  if (bytes.size() < kImageMagic.size() + kSha256Bytes) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  const std::string_view image = bytes.substr(0, bytes.size() - kSha256Bytes);
  if (EVP_Digest(image.data(), image.size(), digest, &length, EVP_sha256(), nullptr) != 1 ||
      length != kSha256Bytes) {
    return false;
  }
  return bytes.substr(image.size()) ==
         std::string_view(reinterpret_cast<const char*>(digest), kSha256Bytes);
}

// etcdctl's file is image | zeros | image length (u64 LE) | SHA-256, 512 * n
// + 32 bytes (api/etcd_grpc_services.h); leaves the image in `bytes`.
util::Status strip_etcd_tail(const std::string& path, std::string* bytes) {
  constexpr std::size_t kTailBytes = 32 + 8;
  if (bytes->size() < kTailBytes) return {util::Code::kDataLoss, path + ": too short"};
  std::uint64_t image_bytes = 0;
  for (int i = 0; i < 8; ++i) {
    image_bytes |= static_cast<std::uint64_t>(static_cast<unsigned char>(
                       (*bytes)[bytes->size() - kTailBytes + static_cast<std::size_t>(i)]))
                   << (8 * i);
  }
  if (image_bytes > bytes->size() - kTailBytes ||
      bytes->find_first_not_of('\0', image_bytes) < bytes->size() - kTailBytes) {
    return {util::Code::kDataLoss, path + ": bad padding after the image"};
  }
  bytes->resize(image_bytes);
  return util::Status::ok();
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The image header kv::Store writes: magic, applied index, membership.
std::string image_header(std::uint64_t applied_index, const std::string& membership) {
  std::string h(kImageMagic);
  util::put_varint(&h, applied_index);
  util::put_varint(&h, membership.size());
  h.append(membership);
  return h;
}

util::Status check_options(const RestoreOptions& options) {
  if (options.data_dir.empty()) return util::invalid_argument("no data directory given");
  if (options.cluster.empty()) return util::invalid_argument("the initial cluster is empty");
  const bool member = std::any_of(options.cluster.begin(), options.cluster.end(),
                                  [&](const MemberAddress& m) { return m.id == options.node_id; });
  if (!member) {
    return util::invalid_argument("member '" + options.node_id +
                                  "' is not in the initial cluster " +
                                  Membership(options.cluster).encode());
  }
  std::error_code ec;
  if (fs::exists(options.data_dir, ec) &&
      (!fs::is_directory(options.data_dir, ec) || !fs::is_empty(options.data_dir, ec))) {
    return {util::Code::kFailedPrecondition,
            "data directory " + options.data_dir + " already exists and is not empty"};
  }
  return util::Status::ok();
}

// Writes the snapshot file, LMDB and the WAL of a restored node into `dir`.
util::Status build_data_dir(const std::string& dir, const RestoreOptions& options,
                            const std::string& image, std::uint64_t index,
                            const std::string& membership, const std::string& cluster_id) {
  const wal::SnapshotMarker marker{index, kRestoredTerm};
  {
    kv::StoreOptions store_options;
    store_options.dir = dir + "/kv";
    // Room for the image whatever DKV_QUOTA_BYTES the node will run with.
    store_options.quota_bytes =
        std::max<std::uint64_t>(store_options.quota_bytes, 2 * image.size());
    store_options.durability = kv::StoreOptions::Durability::kSyncEachCommit;
    std::unique_ptr<kv::Store> store;
    if (auto s = kv::Store::open(store_options, &store); !s.is_ok()) return s;
    if (auto s = store->restore(image); !s.is_ok()) return s;
    // The node's snapshot file, streamed from the restored store.
    std::unique_ptr<kv::Store::ReadView> view;
    if (auto s = store->open_view(&view); !s.is_ok()) return s;
    std::uint64_t image_bytes = 0;
    if (auto s = write_snapshot_file(wal::posix_file_system(), dir, marker, membership, *store,
                                     *view, &image_bytes);
        !s.is_ok()) {
      return s;
    }
  }
  wal::Options wal_options;
  wal_options.cluster_id = cluster_id;
  wal_options.node_id = options.node_id;
  std::unique_ptr<wal::Log> log;
  wal::Recovered recovered;
  if (auto s = wal::Log::open(dir, wal_options, &log, &recovered); !s.is_ok()) return s;
  if (!recovered.created) return util::internal_error(dir + "/wal already existed");
  if (auto s = log->save_snapshot_marker(marker); !s.is_ok()) return s;
  raft::HardState hs;
  hs.term = kRestoredTerm;
  hs.commit = index;
  if (auto s = log->save(&hs, {}); !s.is_ok()) return s;
  return log->sync();
}

}  // namespace

std::string encode_backup_trailer(std::uint32_t image_crc32c) {
  std::string t(kBackupTrailerBytes, '\0');
  for (std::size_t i = 0; i < kBackupTrailerBytes; ++i) {
    t[i] = static_cast<char>((image_crc32c >> (8 * i)) & 0xff);
  }
  return t;
}

util::Status read_backup_file(const std::string& path, std::string* image, BackupInfo* info) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::not_found("cannot open " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return util::internal_error("cannot read " + path);
  if (bytes.size() < kImageMagic.size() + kBackupTrailerBytes) {
    return {util::Code::kDataLoss, path + " is too short to be a dkv backup"};
  }
  if (ends_with_sha256(bytes)) {  // etcdctl's file (restore.h).
    if (auto s = strip_etcd_tail(path, &bytes); !s.is_ok()) return s;
    bytes += encode_backup_trailer(util::crc32c::value(bytes));
  }
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < kBackupTrailerBytes; ++i) {
    stored |= static_cast<std::uint32_t>(
                  static_cast<unsigned char>(bytes[bytes.size() - kBackupTrailerBytes + i]))
              << (8 * i);
  }
  bytes.resize(bytes.size() - kBackupTrailerBytes);
  const std::uint32_t actual = util::crc32c::value(bytes);
  if (actual != stored) {
    return {util::Code::kDataLoss, path + ": checksum mismatch (stored " + hex64(stored).substr(8) +
                                       ", computed " + hex64(actual).substr(8) +
                                       "): the file is damaged or not a dkv backup"};
  }
  BackupInfo i;
  if (auto s = kv::Store::peek_image(bytes, &i.applied_index, &i.membership); !s.is_ok()) {
    return {util::Code::kDataLoss, path + ": " + s.message()};
  }
  i.image_bytes = bytes.size();
  i.crc32c = actual;
  *image = std::move(bytes);
  *info = std::move(i);
  return util::Status::ok();
}

util::Status restore_data_dir(const RestoreOptions& options, std::string_view image,
                              RestoreResult* result) {
  if (auto s = check_options(options); !s.is_ok()) return s;
  std::uint64_t old_index = 0;
  std::string old_membership;
  if (auto s = kv::Store::peek_image(image, &old_index, &old_membership); !s.is_ok()) return s;
  // Same data, new header: the new cluster's membership and an index >= 1
  // (raft's snapshot index 0 means "no snapshot").
  const std::uint64_t index = std::max<std::uint64_t>(old_index, 1);
  const std::string membership = Membership(options.cluster).encode();
  std::string new_image = image_header(index, membership);
  new_image.append(image.substr(image_header(old_index, old_membership).size()));
  const std::string cluster_id =
      hex64(node_id_of(membership + "#restored-from:" + hex64(util::crc32c::value(image))));

  const fs::path target = fs::absolute(options.data_dir).lexically_normal();
  const fs::path tmp = target.string() + ".restoring";
  std::error_code ec;
  fs::remove_all(tmp, ec);  // A previous restore that was interrupted.
  if (ec) return util::internal_error("remove " + tmp.string() + ": " + ec.message());
  if (auto s = build_data_dir(tmp.string(), options, new_image, index, membership, cluster_id);
      !s.is_ok()) {
    fs::remove_all(tmp, ec);
    return s;
  }
  if (fs::exists(target, ec)) fs::remove(target, ec);  // Empty, checked above.
  // build_data_dir made its content durable: now the name.
  if (auto s = wal::rename_durably(wal::posix_file_system(), tmp.string(), target.string());
      !s.is_ok()) {
    return s;
  }
  result->index = index;
  result->cluster_id = cluster_id;
  return util::Status::ok();
}

}  // namespace dkv::node
