#include "transport/direct_write.h"

#include <utility>

#include "transport/codec.h"
#include "util/assert.h"

namespace dkv::transport {

std::size_t DirectWrite::prefix(const std::vector<raft::Message>& msgs) const {
  std::size_t n = 0;
  std::uint64_t bytes = 0;
  for (const raft::Message& m : msgs) {
    if (m.type == raft::MessageType::kSnap) break;
    const std::uint64_t size = message_size_bytes(m);
    if (!fits_wire(size) || (n > 0 && bytes + size > batch_bytes_max_)) break;
    bytes += size;
    ++n;
  }
  return n;
}

bool DirectWrite::open() const { return stream_ != nullptr && rest_.empty() && error_.is_ok(); }

bool DirectWrite::write(std::vector<raft::Message>& msgs, std::size_t n) {
  DKV_ASSERT(open() && n > 0 && n <= msgs.size());
  encode_frame(header_, msgs.begin(), msgs.begin() + static_cast<std::ptrdiff_t>(n), &batch_,
               &framed_);
  std::size_t written = 0;
  const util::Status s = stream_->try_write(framed_, &written);
  if (!s.is_ok()) {
    dropped_ += n;
    error_ = s;  // The sender ends the stream and reports the peer.
    return true;
  }
  direct_ += n;
  if (written == framed_.size()) {
    sent_ += n;
    return false;
  }
  rest_.assign(framed_, written);  // Under the write lock: nothing got in between.
  rest_msgs_ = n;
  ++rests_;
  return true;
}

void DirectWrite::attach(StreamWriter* stream) { stream_ = stream; }

util::Status DirectWrite::take_rest(std::string* rest, std::size_t* msgs) {
  if (!error_.is_ok()) return error_;
  rest->swap(rest_);
  rest_.clear();
  *msgs = std::exchange(rest_msgs_, 0);
  return util::Status::ok();
}

util::Status DirectWrite::detach() {
  stream_ = nullptr;
  dropped_ += rest_msgs_;
  rest_.clear();
  rest_msgs_ = 0;
  return std::exchange(error_, util::Status::ok());
}

DirectWrite::Counts DirectWrite::counts() const {
  return {sent_.load(), direct_.load(), rests_.load(), dropped_.load()};
}

}  // namespace dkv::transport
