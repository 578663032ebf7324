#include "transport/message_frame.h"

#include "transport/codec.h"
#include "transport/tcp_stream.h"

namespace dkv::transport {

void fill_header(const FrameHeader& h, raftpb::Header* out) {
  out->set_cluster_id(h.cluster_id);
  out->set_from(h.from);
  out->set_to(h.to);
}

void encode_frame(const FrameHeader& h, std::vector<raft::Message>::iterator first,
                  std::vector<raft::Message>::iterator last, raftpb::MessageBatch* batch,
                  std::string* framed) {
  batch->Clear();
  fill_header(h, batch->mutable_header());
  batch->mutable_messages()->Reserve(static_cast<int>(last - first));
  for (auto it = first; it != last; ++it) encode(std::move(*it), batch->add_messages());
  const std::size_t body = batch->ByteSizeLong();
  framed->resize(StreamWriter::kFrameHeaderBytes + body);
  batch->SerializeWithCachedSizesToArray(
      reinterpret_cast<std::uint8_t*>(framed->data() + StreamWriter::kFrameHeaderBytes));
  StreamWriter::seal_frame(framed);
}

}  // namespace dkv::transport
