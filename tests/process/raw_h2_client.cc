#include "raw_h2_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace dkv::testing {
namespace {

// HTTP/2 frame types and flags (RFC 9113 §6).
constexpr std::uint8_t kData = 0x0, kHeaders = 0x1, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                       kGoaway = 0x7, kWindowUpdate = 0x8;
constexpr std::uint8_t kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4, kPadded = 0x8;

void put_u32(std::string* out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

std::uint32_t get_u32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}

// HPACK integer with an n-bit prefix (RFC 7541 §5.1).
void put_hpack_int(std::string* out, std::uint8_t first, int prefix_bits, std::size_t v) {
  const std::size_t max = (1u << prefix_bits) - 1;
  if (v < max) {
    out->push_back(static_cast<char>(first | v));
    return;
  }
  out->push_back(static_cast<char>(first | max));
  v -= max;
  while (v >= 128) {
    out->push_back(static_cast<char>((v % 128) | 128));
    v /= 128;
  }
  out->push_back(static_cast<char>(v));
}

// "Literal header field without indexing, new name" (RFC 7541 §6.2.2).
void put_literal(std::string* out, const std::string& name, const std::string& value) {
  out->push_back(0x00);
  put_hpack_int(out, 0, 7, name.size());
  out->append(name);
  put_hpack_int(out, 0, 7, value.size());
  out->append(value);
}

}  // namespace

RawH2Client::~RawH2Client() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawH2Client::connect(std::uint16_t port) {
  port_ = port;
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  if (::send(fd_, preface.data(), preface.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(preface.size())) {
    return false;
  }
  return write_frame(kSettings, 0, 0, "");
}

bool RawH2Client::write_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                              const std::string& payload) {
  if (fd_ < 0) return false;
  std::string frame;
  const auto length = static_cast<std::uint32_t>(payload.size());
  frame.push_back(static_cast<char>(length >> 16));
  frame.push_back(static_cast<char>(length >> 8));
  frame.push_back(static_cast<char>(length));
  frame.push_back(static_cast<char>(type));
  frame.push_back(static_cast<char>(flags));
  put_u32(&frame, stream & 0x7fffffffu);
  frame += payload;
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const ssize_t n = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::uint32_t RawH2Client::open_grpc_stream(const std::string& path) {
  const std::uint32_t id = next_stream_;
  next_stream_ += 2;
  std::string block;
  put_literal(&block, ":method", "POST");
  put_literal(&block, ":scheme", "http");
  put_literal(&block, ":path", path);
  put_literal(&block, ":authority", "127.0.0.1:" + std::to_string(port_));
  put_literal(&block, "content-type", "application/grpc");
  put_literal(&block, "te", "trailers");
  streams_[id];
  return write_frame(kHeaders, kEndHeaders, id, block) ? id : 0;
}

bool RawH2Client::send_message(std::uint32_t stream, const std::string& message) {
  std::string payload(1, '\0');  // Not compressed.
  put_u32(&payload, static_cast<std::uint32_t>(message.size()));
  payload += message;
  return write_frame(kData, 0, stream, payload);
}

bool RawH2Client::ping() {
  std::string opaque(8, '\0');
  std::memcpy(opaque.data(), &pings_sent_, sizeof pings_sent_);
  if (!write_frame(kPing, 0, 0, opaque)) return false;
  ++pings_sent_;
  return true;
}

bool RawH2Client::stream_ended(std::uint32_t stream) const {
  auto it = streams_.find(stream);
  return it == streams_.end() || it->second.ended;
}

bool RawH2Client::read_exactly(char* out, std::size_t n,
                               std::chrono::steady_clock::time_point deadline) {
  std::size_t got = 0;
  while (got < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    // Once a frame has begun, finish it (its bytes are on their way).
    const int wait_ms = got > 0 ? 5000 : static_cast<int>(std::max<std::int64_t>(0, left.count()));
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, wait_ms) <= 0) return false;
    const ssize_t r = ::recv(fd_, out + got, n - got, 0);
    if (r <= 0) {
      eof_ = true;
      return false;
    }
    got += static_cast<std::size_t>(r);
  }
  return true;
}

bool RawH2Client::read_frame(std::chrono::steady_clock::time_point deadline) {
  if (closed()) return false;
  char header[9];
  if (!read_exactly(header, sizeof header, deadline)) return false;
  const std::string h(header, sizeof header);
  const std::uint32_t length = get_u32(h, 0) >> 8;
  const auto type = static_cast<std::uint8_t>(h[3]);
  const auto flags = static_cast<std::uint8_t>(h[4]);
  const std::uint32_t stream = get_u32(h, 5) & 0x7fffffffu;
  std::string payload(length, '\0');
  if (length > 0 && !read_exactly(payload.data(), length, deadline)) return false;
  handle_frame(type, flags, stream, payload);
  return true;
}

void RawH2Client::handle_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                               const std::string& payload) {
  switch (type) {
    case kSettings:
      if (!(flags & kAck)) write_frame(kSettings, kAck, 0, "");
      break;
    case kPing:
      if (flags & kAck) {
        ++ping_acks_;
      } else {
        write_frame(kPing, kAck, 0, payload);
      }
      break;
    case kGoaway:
      goaway_ = true;
      if (payload.size() >= 8) {
        goaway_reason_ = "error " + std::to_string(get_u32(payload, 4)) + ": " + payload.substr(8);
      }
      break;
    case kData: {
      std::string data = payload;
      if ((flags & kPadded) && !data.empty()) {
        const std::size_t pad = static_cast<std::uint8_t>(data[0]);
        data = data.substr(1, data.size() - 1 - std::min(pad, data.size() - 1));
      }
      streams_[stream].data += data;
      if (flags & kEndStream) streams_[stream].ended = true;
      if (!payload.empty()) {  // Give the bytes back: flow control never stalls.
        std::string increment;
        put_u32(&increment, static_cast<std::uint32_t>(payload.size()));
        write_frame(kWindowUpdate, 0, 0, increment);
        if (!(flags & kEndStream)) write_frame(kWindowUpdate, 0, stream, increment);
      }
      break;
    }
    case kHeaders:
      if (flags & kEndStream) streams_[stream].ended = true;  // Trailers.
      break;
    case kRstStream:
      streams_[stream].ended = true;
      break;
    default:
      break;  // WINDOW_UPDATE, PRIORITY, CONTINUATION (of headers we do not decode).
  }
}

bool RawH2Client::take_message(Stream* s, std::string* message) {
  if (s->data.size() < 5) return false;
  const std::uint32_t length = get_u32(s->data, 1);
  if (s->data.size() < 5 + static_cast<std::size_t>(length)) return false;
  *message = s->data.substr(5, length);
  s->data.erase(0, 5 + static_cast<std::size_t>(length));
  return true;
}

bool RawH2Client::next_message(std::uint32_t stream, std::string* message,
                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (take_message(&streams_[stream], message)) return true;
    if (streams_[stream].ended || goaway_ || closed()) return false;
    if (!read_frame(deadline)) return false;
  }
}

void RawH2Client::pump(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && read_frame(deadline)) {
  }
}

}  // namespace dkv::testing
