// Helpers shared by the WAL tests: entry factories and a one-call open.
// Threading: test thread only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "raft/types.h"
#include "wal/format.h"
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

// The logical content of a WAL, as the tests model it: what open() should
// give back after the saves and markers applied to it.
struct ModelState {
  raft::HardState hard_state;
  SnapshotMarker marker;
  std::vector<raft::Entry> entries;  // Contiguous from marker.index + 1.
  // Entries a keep-entries marker covered, ending at marker.index (what
  // Recovered::entries_before_snapshot may return a suffix of). Not part of
  // equality: recovery returns only what compaction left.
  std::vector<raft::Entry> before;

  bool operator==(const ModelState& o) const {
    return hard_state == o.hard_state && marker == o.marker && entries == o.entries;
  }

  static ModelState from(const Recovered& r) {
    return {r.hard_state, r.snapshot, r.entries, r.entries_before_snapshot};
  }

  // True if r's entries_before_snapshot is a suffix of `before`.
  bool before_allows(const Recovered& r) const {
    const auto& got = r.entries_before_snapshot;
    if (got.size() > before.size()) return false;
    return std::equal(got.begin(), got.end(),
                      before.end() - static_cast<std::ptrdiff_t>(got.size()));
  }

  raft::Index last_index() const { return entries.empty() ? marker.index : entries.back().index; }
  raft::Term term_at(raft::Index i) const {
    if (i == marker.index) return marker.term;
    if (entries.empty() || i <= marker.index || i > entries.back().index) return 0;
    return entries[i - marker.index - 1].term;
  }
  raft::Term last_term() const { return term_at(last_index()); }

  void save(const raft::HardState* hs, std::span<const raft::Entry> es) {
    if (hs != nullptr) hard_state = *hs;
    if (es.empty()) return;
    while (!entries.empty() && entries.back().index >= es.front().index) entries.pop_back();
    entries.insert(entries.end(), es.begin(), es.end());
  }

  void mark(SnapshotMarker m) {
    if (m.index == marker.index) return;
    const bool keep = m.index <= last_index() && term_at(m.index) == m.term;
    if (keep) {
      const auto end = entries.begin() + static_cast<std::ptrdiff_t>(m.index - marker.index);
      before.insert(before.end(), entries.begin(), end);
      entries.erase(entries.begin(), end);
    } else {
      entries.clear();
      before.clear();
    }
    marker = m;
  }

  std::string describe() const {
    std::string s = "hs{" + std::to_string(hard_state.term) + "," +
                    std::to_string(hard_state.vote) + "," + std::to_string(hard_state.commit) +
                    "} marker{" + std::to_string(marker.index) + "/" + std::to_string(marker.term) +
                    "} entries[";
    if (!entries.empty()) {
      s += std::to_string(entries.front().index) + ".." + std::to_string(entries.back().index) +
           " last term " + std::to_string(entries.back().term);
    }
    return s + "]";
  }
};

// The states a crash may leave: every state reached by a save or marker
// since the last one known durable (sync() or a marker returned OK).
struct History {
  std::vector<ModelState> states{ModelState{}};
  std::size_t durable = 0;  // Index into states.

  const ModelState& current() const { return states.back(); }
  void saved(const raft::HardState* hs, std::span<const raft::Entry> es) {
    ModelState next = current();
    next.save(hs, es);
    states.push_back(std::move(next));
  }
  void marking(SnapshotMarker m) {
    ModelState next = current();
    next.mark(m);
    states.push_back(std::move(next));
  }
  void synced() { durable = states.size() - 1; }
  // The state `got` matches, if the log may legally recover to it.
  const ModelState* find(const ModelState& got) const {
    for (std::size_t j = durable; j < states.size(); ++j) {
      if (states[j] == got) return &states[j];
    }
    return nullptr;
  }
  bool allows(const ModelState& got) const { return find(got) != nullptr; }
  std::string describe_allowed() const {
    std::string s;
    for (std::size_t j = durable; j < states.size(); ++j)
      s += "\n  allowed: " + states[j].describe();
    return s;
  }
};

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

// A readable listing of every record in every segment, for failure messages.
inline std::string dump_wal(MemFileSystem& fs, const std::string& db = kDb) {
  std::string out;
  std::vector<std::string> names;
  if (!fs.list_dir(db + "/wal", &names).is_ok()) return "(no wal dir)";
  for (const std::string& n : names) {
    out += n + ":\n";
    std::string data;
    if (!fs.get_contents(db + "/wal/" + n, &data)) continue;
    std::size_t pos = 0;
    while (pos < data.size()) {
      const format::ParsedRecord r = format::parse_record(data, pos);
      if (r.outcome != format::ParseOutcome::kOk) {
        out += "  @" + std::to_string(pos) + " end (" +
               (r.outcome == format::ParseOutcome::kZero ? "zeros" : r.problem) + ")\n";
        break;
      }
      out += "  @" + std::to_string(pos) + " ";
      const char* problem = "";
      if (r.type == format::RecordType::kState) {
        format::StateRecord st;
        (void)format::decode_state(r.payload, &st, &problem);
        out += "state hs{" + std::to_string(st.hard_state.term) + "," +
               std::to_string(st.hard_state.vote) + "," + std::to_string(st.hard_state.commit) +
               "} marker " + std::to_string(st.marker.index) + "/" + std::to_string(st.marker.term);
      } else if (r.type == format::RecordType::kBatch) {
        format::Batch b;
        (void)format::decode_batch(r.payload, &b, &problem);
        out +=
            "batch" + std::string(b.hard_state ? " hs{" + std::to_string(b.hard_state->term) + "," +
                                                     std::to_string(b.hard_state->vote) + "," +
                                                     std::to_string(b.hard_state->commit) + "}"
                                               : "");
        if (!b.entries.empty()) {
          out += " entries " + std::to_string(b.entries.front().index) + ".." +
                 std::to_string(b.entries.back().index) + " term " +
                 std::to_string(b.entries.front().term) + ".." +
                 std::to_string(b.entries.back().term);
        }
      } else if (r.type == format::RecordType::kMarker) {
        SnapshotMarker m;
        bool keep = false;
        (void)format::decode_marker(r.payload, &m, &keep, &problem);
        out += "marker " + std::to_string(m.index) + "/" + std::to_string(m.term) +
               (keep ? " keep" : " reset");
      } else {
        out += "type " + std::to_string(static_cast<int>(r.type));
      }
      out += "\n";
      pos += r.size;
    }
  }
  return out;
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
