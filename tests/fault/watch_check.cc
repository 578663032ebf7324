#include "watch_check.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

namespace dkv::fault {
namespace {

constexpr int kViolationsPerRuleMax = 5;  // Per watcher: enough to read, not a flood.

// One delivered event, where it came from.
struct Delivered {
  int session = 0;
  int response = 0;  // Counted across the watcher's sessions.
  const WatchEvent* event = nullptr;
};

struct Progress {
  std::size_t delivered_before = 0;  // Events delivered before it.
  std::int64_t revision = 0;
  int session = 0;
};

struct Flat {
  std::vector<Delivered> events;
  std::vector<Progress> progress;
  // Per session: the last revision delivered before it started (0: none).
  std::vector<std::int64_t> last_before_session;
  std::vector<std::int64_t> first_in_session;  // 0: it delivered nothing.
};

Flat flatten(const Watcher& w) {
  Flat f;
  int response = 0;
  std::int64_t last = 0;
  for (int s = 0; s < static_cast<int>(w.sessions.size()); ++s) {
    f.last_before_session.push_back(last);
    f.first_in_session.push_back(0);
    for (const auto& r : w.sessions[s].responses) {
      if (r.is_progress_notify()) f.progress.push_back({f.events.size(), r.header_revision, s});
      for (const auto& e : r.events) {
        f.events.push_back({s, response, &e});
        if (f.first_in_session[s] == 0) f.first_in_session[s] = e.mod_revision;
        last = std::max(last, e.mod_revision);
      }
      ++response;
    }
  }
  return f;
}

std::string where(const std::string& key, std::int64_t rev) {
  return "\"" + key + "\"@" + std::to_string(rev);
}

std::string signature(const WatchEvent& e) {
  return e.is_delete ? "delete " + e.key : "put " + e.key + "=" + e.value;
}

class WatcherCheck {
 public:
  WatcherCheck(const Watcher& w, const std::map<std::int64_t, const WriteRecord*>& known,
               const std::set<std::string>& unknown_writes,
               std::map<std::int64_t, std::map<std::string, std::string>>& seen_by_all,
               WatchCheckResult& out)
      : w_(w),
        known_(known),
        unknown_writes_(unknown_writes),
        seen_by_all_(seen_by_all),
        out_(out),
        flat_(flatten(w)) {}

  void run() {
    ordered_and_unique();
    resume_starts();
    atomic_and_phantoms();
    gaps();
    progress();
    out_.events += static_cast<std::int64_t>(flat_.events.size());
    out_.resumes += static_cast<std::int64_t>(w_.sessions.empty() ? 0 : w_.sessions.size() - 1);
    out_.progress += static_cast<std::int64_t>(flat_.progress.size());
  }

 private:
  void flag(const std::string& rule, const std::string& detail) {
    if (++counts_[rule] > kViolationsPerRuleMax) return;
    out_.violations.push_back({rule, w_.id, detail});
  }

  bool in_range(const std::string& key) const { return in_watch_range(key, w_.key, w_.range_end); }

  // The session whose seam a revision falls into (its events would have
  // come first in session s), or -1.
  int seam_of(std::int64_t rev) const {
    for (std::size_t s = 1; s < w_.sessions.size(); ++s) {
      const std::int64_t first = flat_.first_in_session[s];
      if (rev > flat_.last_before_session[s] && (first == 0 || rev <= first)) {
        return static_cast<int>(s);
      }
    }
    return -1;
  }

  void ordered_and_unique() {
    std::map<std::pair<std::string, std::int64_t>, int> first_session;
    const Delivered* prev = nullptr;
    for (const auto& d : flat_.events) {
      const WatchEvent& e = *d.event;
      if (prev != nullptr && e.mod_revision < prev->event->mod_revision) {
        flag("ordered", where(e.key, e.mod_revision) + " after " +
                            where(prev->event->key, prev->event->mod_revision));
      } else if (prev != nullptr && e.mod_revision == prev->event->mod_revision &&
                 d.response != prev->response) {
        flag("atomic", "revision " + std::to_string(e.mod_revision) + " split across responses (" +
                           where(e.key, e.mod_revision) + ")");
      }
      const auto [it, fresh] = first_session.emplace(std::pair{e.key, e.mod_revision}, d.session);
      if (!fresh) {
        flag(it->second != d.session ? "resumable" : "unique",
             where(e.key, e.mod_revision) + " delivered twice (sessions " +
                 std::to_string(it->second) + " and " + std::to_string(d.session) + ")");
      }
      prev = &d;
    }
  }

  void resume_starts() {
    for (std::size_t s = 1; s < w_.sessions.size(); ++s) {
      const std::int64_t last = flat_.last_before_session[s];
      const std::int64_t expected = last == 0 ? w_.sessions[0].start_revision : last + 1;
      if (w_.sessions[s].start_revision != expected) {
        flag("resumable", "session " + std::to_string(s) + " on " + w_.sessions[s].member +
                              " resumed from " + std::to_string(w_.sessions[s].start_revision) +
                              ", not " + std::to_string(expected));
      }
    }
    for (const auto& d : flat_.events) {
      if (d.event->mod_revision < w_.sessions[d.session].start_revision) {
        flag("resumable", where(d.event->key, d.event->mod_revision) + " before session " +
                              std::to_string(d.session) + "'s start revision");
      }
    }
  }

  // Each response's revisions hold every in-range key the write made; each
  // event matches the write known at its revision, and every watcher agrees.
  void atomic_and_phantoms() {
    std::map<std::pair<int, std::int64_t>, std::set<std::string>> keys_in_response;
    for (const auto& d : flat_.events) {
      keys_in_response[{d.response, d.event->mod_revision}].insert(d.event->key);
      phantom(*d.event);
    }
    for (const auto& [at, keys] : keys_in_response) {
      const auto k = known_.find(at.second);
      if (k == known_.end()) continue;
      for (const auto& write : k->second->keys) {
        if (in_range(write.key) && keys.count(write.key) == 0) {
          flag("atomic", "revision " + std::to_string(at.second) + "'s response lacks \"" +
                             write.key + "\" written in the same revision");
        }
      }
    }
  }

  void phantom(const WatchEvent& e) {
    const std::string sig = signature(e);
    auto& agreed = seen_by_all_[e.mod_revision];
    if (const auto a = agreed.find(e.key); a != agreed.end() && a->second != sig) {
      flag("reliable",
           where(e.key, e.mod_revision) + ": " + sig + ", another watcher saw " + a->second);
    }
    agreed.emplace(e.key, sig);
    const auto k = known_.find(e.mod_revision);
    if (k == known_.end()) {
      if (unknown_writes_.count(sig) == 0) {
        flag("reliable", where(e.key, e.mod_revision) + ": " + sig + " matches no write");
      }
      return;
    }
    for (const auto& write : k->second->keys) {
      if (write.key != e.key) continue;
      if (write.is_delete == e.is_delete && (e.is_delete || write.value == e.value)) return;
    }
    flag("reliable", where(e.key, e.mod_revision) + ": " + sig +
                         " is not the write acknowledged at that revision");
  }

  void gaps() {
    if (w_.sessions.empty() || flat_.events.empty()) return;
    std::int64_t last = 0;
    std::set<std::pair<std::string, std::int64_t>> got;
    for (const auto& d : flat_.events) {
      last = std::max(last, d.event->mod_revision);
      got.emplace(d.event->key, d.event->mod_revision);
    }
    const std::int64_t start = w_.sessions[0].start_revision;
    for (auto it = known_.lower_bound(start); it != known_.end() && it->first <= last; ++it) {
      for (const auto& write : it->second->keys) {
        if (!in_range(write.key) || got.count({write.key, it->first}) > 0) continue;
        const int seam = seam_of(it->first);
        flag(seam > 0 ? "resumable" : "reliable",
             where(write.key, it->first) + " (acknowledged) never delivered" +
                 (seam > 0 ? " across the resume to session " + std::to_string(seam) : ""));
      }
    }
  }

  void progress() {
    const std::int64_t start = w_.sessions.empty() ? 0 : w_.sessions[0].start_revision;
    for (const auto& p : flat_.progress) {
      std::set<std::pair<std::string, std::int64_t>> before;
      for (std::size_t i = 0; i < p.delivered_before; ++i) {
        before.emplace(flat_.events[i].event->key, flat_.events[i].event->mod_revision);
      }
      for (auto it = known_.lower_bound(start); it != known_.end() && it->first <= p.revision;
           ++it) {
        for (const auto& write : it->second->keys) {
          if (in_range(write.key) && before.count({write.key, it->first}) == 0) {
            flag("progress", "notification at " + std::to_string(p.revision) + " before " +
                                 where(write.key, it->first) + " was delivered");
          }
        }
      }
      for (std::size_t i = p.delivered_before; i < flat_.events.size(); ++i) {
        const WatchEvent& e = *flat_.events[i].event;
        if (e.mod_revision <= p.revision) {
          flag("progress", where(e.key, e.mod_revision) + " delivered after a notification at " +
                               std::to_string(p.revision));
        }
      }
    }
  }

  const Watcher& w_;
  const std::map<std::int64_t, const WriteRecord*>& known_;
  const std::set<std::string>& unknown_writes_;
  std::map<std::int64_t, std::map<std::string, std::string>>& seen_by_all_;
  WatchCheckResult& out_;
  const Flat flat_;
  std::map<std::string, int> counts_;
};

}  // namespace

bool WatchResponseRecord::is_progress_notify() const {
  return events.empty() && !created && !canceled && compact_revision == 0 && header_revision != 0;
}

std::string describe_watch_history(const std::vector<Watcher>& watchers,
                                   const std::vector<WriteRecord>& writes) {
  std::string out;
  for (const auto& w : writes) {
    out += "w rev=" + std::to_string(w.revision) + (w.acknowledged ? " ack" : " unknown");
    for (const auto& k : w.keys) out += " " + signature({k.key, 0, k.is_delete, k.value});
    out += "\n";
  }
  for (const auto& w : watchers) {
    for (std::size_t s = 0; s < w.sessions.size(); ++s) {
      const WatchSession& session = w.sessions[s];
      out += "watcher " + std::to_string(w.id) + " session " + std::to_string(s) + " on " +
             session.member + " from " + std::to_string(session.start_revision) + " (" +
             session.end + ")\n";
      for (const auto& r : session.responses) {
        out += "  @" + std::to_string(r.received_ns / 1'000'000) +
               "ms rev=" + std::to_string(r.header_revision) + (r.created ? " created" : "") +
               (r.canceled ? " canceled" : "") + (r.is_progress_notify() ? " progress" : "") + " [";
        for (std::size_t i = 0; i < r.events.size(); ++i) {
          out += (i > 0 ? ", " : "") + signature(r.events[i]) + "@" +
                 std::to_string(r.events[i].mod_revision);
        }
        out += "]\n";
      }
    }
  }
  return out;
}

bool in_watch_range(const std::string& key, const std::string& start, const std::string& end) {
  if (end.empty()) return key == start;
  if (end == std::string(1, '\0')) return key >= start;
  return key >= start && key < end;
}

WatchCheckResult check_watch(const std::vector<Watcher>& watchers,
                             const std::vector<WriteRecord>& writes) {
  std::map<std::int64_t, const WriteRecord*> known;
  std::set<std::string> unknown_writes;
  WatchCheckResult out;
  for (const auto& w : writes) {
    if (w.acknowledged && w.revision > 0) {
      if (!known.emplace(w.revision, &w).second) {
        out.violations.push_back(
            {"reliable", -1,
             "two acknowledged writes report revision " + std::to_string(w.revision)});
      }
      continue;
    }
    for (const auto& k : w.keys) {
      unknown_writes.insert(signature({k.key, 0, k.is_delete, k.value}));
    }
  }
  std::map<std::int64_t, std::map<std::string, std::string>> seen_by_all;
  for (const auto& w : watchers) {
    WatcherCheck(w, known, unknown_writes, seen_by_all, out).run();
  }
  return out;
}

}  // namespace dkv::fault
