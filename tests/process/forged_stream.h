// The forged raft stream of issue 15, for the tests that show it changes
// nothing: a DKVRAFT1 hello claiming to be the leader, then one frame
// holding a MsgApp at term + 1000 whose entry overwrites a key and whose
// commit covers it. All it needs is public: /v0/status tells the cluster
// id, term and commit index; raft ids are FNV-1a of the member names.
// Header-only; used by peer_admission_test.cc and peer_tls_test.cc.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "dkv/raftpb/raft.pb.h"
#include "node/entry_codec.h"
#include "raft/types.h"
#include "transport/codec.h"
#include "transport/tcp_stream.h"

namespace dkv::testing {

inline void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (24 - 8 * i));
}
inline void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (56 - 8 * i));
}

// What the forger needs to know, all public: /v0/status tells the cluster
// id, term and commit index; raft ids are FNV-1a of the member names.
struct Target {
  std::string host;
  std::uint16_t rpc_port = 0;
  std::uint64_t cluster_id = 0;
  raft::NodeId leader = raft::kNoNode;
  raft::NodeId follower = raft::kNoNode;
  raft::Term term = 0;
  raft::Index commit = 0;
};

// The hello, then one frame: MsgApp at term + 1000 after (commit, term),
// with an entry putting key := value and a commit covering it.
inline std::string forged_bytes(const Target& t, const std::string& key, const std::string& value) {
  std::string out(transport::kStreamHelloBytes, '\0');
  std::memcpy(out.data(), transport::kStreamMagic.data(), transport::kStreamMagic.size());
  put_u64(out.data() + 8, t.cluster_id);
  put_u64(out.data() + 16, t.leader);
  put_u64(out.data() + 24, t.follower);
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.from = t.leader;
  m.to = t.follower;
  m.term = t.term + 1000;
  m.log_term = t.term;
  m.index = t.commit;
  m.commit = t.commit + 1;
  kv::Command put;
  put.key = key;
  put.value = value;
  m.entries.push_back(
      {t.term + 1000, t.commit + 1, raft::EntryType::kNormal, node::encode_entry(424242, put)});
  raftpb::MessageBatch batch;
  batch.mutable_header()->set_cluster_id(t.cluster_id);
  batch.mutable_header()->set_from(t.leader);
  batch.mutable_header()->set_to(t.follower);
  transport::encode(m, batch.add_messages());
  const std::string body = batch.SerializeAsString();
  char n[4];
  put_u32(n, static_cast<std::uint32_t>(body.size()));
  out.append(n, 4);
  out += body;
  return out;
}

// The code of the acceptor's answer to the hello (its first 4 bytes).
inline int answer_code(const char* answer) {
  return (static_cast<unsigned char>(answer[0]) << 24) |
         (static_cast<unsigned char>(answer[1]) << 16) |
         (static_cast<unsigned char>(answer[2]) << 8) | static_cast<unsigned char>(answer[3]);
}

}  // namespace dkv::testing
