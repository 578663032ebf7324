// The node's Prometheus metrics: etcd's server and disk metrics under dkv_
// names, registered once in util::metrics().
// Threading: the metrics are thread-safe (util/metrics.h).
#pragma once

#include <chrono>

#include "util/metrics.h"

namespace dkv::node {

struct NodeMetrics {
  util::Gauge& has_leader;
  util::Gauge& is_leader;
  util::Counter& leader_changes;
  util::Gauge& committed;
  util::Gauge& applied;
  util::Gauge& pending;
  util::Counter& failed;
  util::Histogram& wal_fsync;
  util::Histogram& apply;
  util::Gauge& db_size;
  util::Gauge& current_revision;
  util::Gauge& compact_revision;
};

NodeMetrics& node_metrics();

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace dkv::node
