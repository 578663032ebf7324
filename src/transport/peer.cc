#include "transport/peer.h"

#include "transport/peer_channel.h"

namespace dkv::transport {

std::string peer_label(const TransportOptions& o, raft::NodeId id) {
  std::string name = o.peer_name ? o.peer_name(id) : std::string();
  return name.empty() ? std::to_string(id) : name;
}

Peer::Peer(const TransportOptions& o, const StreamOptions& stream_options,
           const SnapshotSourceFactory& source, Notifier& notifier, raft::NodeId id,
           std::string address)
    : address_(std::move(address)),
      direct_(FrameHeader{o.cluster_id, o.local_id, id}, o.batch_bytes_max),
      stream_(o, stream_options, notifier, direct_, id, peer_label(o, id), address_),
      snapshots_(o, source, notifier, id, peer_label(o, id), make_channel(address_, o)) {}

Peer::~Peer() { stop(); }  // The lanes join their threads.

void Peer::stop() {
  stream_.stop();
  snapshots_.stop();
}

bool Peer::deliver(std::vector<raft::Message>& msgs) {
  std::size_t direct = 0;  // msgs[0, direct) go out directly.
  bool news = false;
  if (direct_.write_lock().try_lock()) {  // Only tried: a write in progress means "enqueue".
    // Under the write lock the sender takes nothing off the queue, and only
    // this caller adds to it: idle() stays true until the write is done.
    if (direct_.open() && stream_.idle()) {
      direct = direct_.prefix(msgs);
      if (direct > 0) news = direct_.write(msgs, direct);
    }
    direct_.write_lock().unlock();
  }
  for (std::size_t i = direct; i < msgs.size(); ++i) news |= enqueue(std::move(msgs[i]));
  return news;
}

bool Peer::enqueue(raft::Message&& m) {
  if (m.type == raft::MessageType::kSnap) {
    snapshots_.offer(std::move(m));
    return false;
  }
  return stream_.enqueue(std::move(m));
}

PeerStats Peer::stats() const {
  const MessageStreamLane::Counts s = stream_.counts();
  const DirectWrite::Counts d = direct_.counts();
  const SnapshotLane::Counts snap = snapshots_.counts();
  PeerStats out;
  out.sent_msgs = s.sent + d.sent;
  out.direct_msgs = d.direct;
  out.direct_rests = d.rests;
  out.dropped_msgs = s.dropped + d.dropped;
  out.queued_msgs = s.queued_msgs;
  out.queued_bytes = s.queued_bytes;
  out.connects = s.connects;
  out.snapshots_sent = snap.sent;
  out.snapshots_failed = snap.failed;
  out.connected = s.connected;
  return out;
}

}  // namespace dkv::transport
