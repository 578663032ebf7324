// Helpers shared by the WAL tests: entry factories and a one-call open.
// Threading: test thread only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "raft/types.h"
#include "wal/log.h"
#include "wal/mem_file_system.h"

namespace dkv::wal::testing {

inline constexpr const char* kDb = "/db";

// Entries first..first+count-1 of `term`, each with data naming it.
inline std::vector<raft::Entry> make_entries(raft::Index first, std::size_t count, raft::Term term,
                                             std::size_t data_bytes = 16) {
  std::vector<raft::Entry> out;
  for (std::size_t i = 0; i < count; ++i) {
    raft::Entry e;
    e.index = first + i;
    e.term = term;
    e.type = (e.index % 7 == 0) ? raft::EntryType::kConfChange : raft::EntryType::kNormal;
    std::string d = std::to_string(e.index) + "@" + std::to_string(term) + ":";
    while (d.size() < data_bytes) d += static_cast<char>('a' + (d.size() + e.index) % 26);
    e.data = d;
    out.push_back(std::move(e));
  }
  return out;
}

inline Options mem_options(MemFileSystem& fs, std::uint64_t segment_size_bytes = 4096) {
  Options o;
  o.cluster_id = "cluster-1";
  o.node_id = "a";
  o.segment_size_bytes = segment_size_bytes;
  o.fs = &fs;
  return o;
}

inline util::Status open_log(const Options& o, std::unique_ptr<Log>* log, Recovered* rec) {
  return Log::open(kDb, o, log, rec);
}

}  // namespace dkv::wal::testing

namespace dkv::raft {
// Readable gtest output for entries and hard states.
inline void PrintTo(const Entry& e, std::ostream* os) {
  *os << "{" << e.index << "/" << e.term << (e.type == EntryType::kConfChange ? " conf" : "")
      << " '" << e.data.substr(0, 24) << "'}";
}
inline void PrintTo(const HardState& h, std::ostream* os) {
  *os << "{term " << h.term << " vote " << h.vote << " commit " << h.commit << "}";
}
}  // namespace dkv::raft
