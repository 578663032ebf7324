// RawH2Client: a minimal HTTP/2 client over one TCP connection, for tests
// that must control the frames themselves (issue 18's idle-stream test).
// gRPC C++'s own client decides when it pings (keepalive timers, its
// minimum sent-ping interval, backoff after a GOAWAY), so a test cannot
// make it ping at a given rate; this client sends a PING whenever asked.
//
// It speaks just enough HTTP/2 for gRPC streams: the preface, SETTINGS (and
// their ACKs), PING and its ACK, WINDOW_UPDATE (it returns every byte it
// receives, so flow control never stalls), HEADERS without HPACK's tables
// (literal fields, no Huffman coding: what every decoder accepts), DATA
// carrying length-prefixed gRPC messages, and it records RST_STREAM,
// end-of-stream trailers and GOAWAY. Response headers are not decoded.
//
// Threading: one thread at a time (test code; not thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace dkv::testing {

class RawH2Client {
 public:
  RawH2Client() = default;
  RawH2Client(const RawH2Client&) = delete;
  RawH2Client& operator=(const RawH2Client&) = delete;
  ~RawH2Client();

  // Connects to 127.0.0.1:port and sends the preface and its SETTINGS.
  bool connect(std::uint16_t port);
  // Opens a gRPC stream for `path` ("/etcdserverpb.Watch/Watch"); its id.
  std::uint32_t open_grpc_stream(const std::string& path);
  // Sends one gRPC message (uncompressed) on the stream.
  bool send_message(std::uint32_t stream, const std::string& message);
  // Sends a PING frame (not an ACK).
  bool ping();
  // Reads frames (answering SETTINGS and PINGs) until the stream has a
  // whole message, the stream or connection ends, or `timeout` passes.
  bool next_message(std::uint32_t stream, std::string* message, std::chrono::milliseconds timeout);
  // Reads and handles whatever frames arrive within `timeout`.
  void pump(std::chrono::milliseconds timeout);

  int pings_sent() const { return pings_sent_; }
  int ping_acks() const { return ping_acks_; }
  bool goaway() const { return goaway_; }
  // GOAWAY's error code and debug data (gRPC's "too_many_pings").
  std::string goaway_reason() const { return goaway_reason_; }
  bool closed() const { return fd_ < 0 || eof_; }
  bool stream_ended(std::uint32_t stream) const;

 private:
  struct Stream {
    std::string data;  // DATA payload not yet taken as messages.
    bool ended = false;
  };
  bool write_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                   const std::string& payload);
  // Reads one frame if one arrives before `deadline`; false otherwise.
  bool read_frame(std::chrono::steady_clock::time_point deadline);
  bool read_exactly(char* out, std::size_t n, std::chrono::steady_clock::time_point deadline);
  void handle_frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                    const std::string& payload);
  static bool take_message(Stream* s, std::string* message);

  int fd_ = -1;
  bool eof_ = false;
  std::uint32_t next_stream_ = 1;
  std::map<std::uint32_t, Stream> streams_;
  int pings_sent_ = 0;
  int ping_acks_ = 0;
  bool goaway_ = false;
  std::string goaway_reason_;
  std::uint16_t port_ = 0;
};

}  // namespace dkv::testing
