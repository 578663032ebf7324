#include "node/node_metrics.h"

namespace dkv::node {

// Called several times per Ready on the raft thread: everything but the
// reference to the static is built once, inside its initializer.
NodeMetrics& node_metrics() {
  static NodeMetrics metrics = [] {
    auto& m = util::metrics();
    const auto seconds = util::exponential_buckets(0.0001, 2, 16);
    return NodeMetrics{
        m.gauge("dkv_server_has_leader", "1 if a leader is known, else 0."),
        m.gauge("dkv_server_is_leader", "1 if this node leads, else 0."),
        m.counter("dkv_server_leader_changes_seen_total", "Leader changes seen."),
        m.gauge("dkv_server_proposals_committed_total", "Committed log index."),
        m.gauge("dkv_server_proposals_applied_total", "Applied log index."),
        m.gauge("dkv_server_proposals_pending", "Writes queued or proposed, not yet applied."),
        m.counter("dkv_server_proposals_failed_total", "Writes that failed after queueing."),
        m.histogram("dkv_disk_wal_fsync_duration_seconds", "WAL fdatasync latency.", seconds),
        m.histogram("dkv_disk_backend_commit_duration_seconds",
                    "Latency of applying a batch of entries to LMDB.", seconds),
        m.gauge("dkv_mvcc_db_total_size_in_bytes", "Bytes of the LMDB file in use."),
        m.gauge("dkv_mvcc_current_revision", "The store's current revision (etcd's)."),
        m.gauge("dkv_mvcc_compact_revision",
                "The store's compact revision: reads below it are refused."),
    };
  }();
  return metrics;
}

}  // namespace dkv::node
