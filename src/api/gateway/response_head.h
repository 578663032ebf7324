// response_head: the status line and header fields of the gateway's replies,
// written straight into a reused string. Beast's response object allocated
// every header field and ran a generic serializer for each reply; these
// replies only ever carry the same few fields, so they are printed here, in
// exactly the bytes (order, reason phrases, Connection tokens) that Beast
// writes for them (pinned by a test against Beast's own serializer).
// Pure: no I/O.
// Threading: stateless, callable from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dkv::api::gateway {

struct ResponseHead {
  unsigned status = 200;   // Not 1xx, 204 or 304: those have no body.
  unsigned version = 11;   // As the request had it: 10 * major + minor.
  bool keep_alive = true;  // Else the connection closes after the reply.
  std::string_view allow;  // The Allow field, if not empty (405 replies).
  std::string_view content_type;
  size_t content_length = 0;
};

// True if `status` can be written by append_response_head (it has a body).
bool has_body(unsigned status);

// Appends the status line and fields, through the empty line, to `out`, as
// Beast writes a response<string_body> whose fields were set in this order
// (Allow, Content-Type), then keep_alive(h.keep_alive), then prepare_payload().
void append_response_head(const ResponseHead& h, std::string* out);

}  // namespace dkv::api::gateway
