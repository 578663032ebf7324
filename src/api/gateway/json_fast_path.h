// json_fast_path: a quicker route through the common, simple cases of the
// JSON mapping (json_mapping.h), for the gateway's hot path. protobuf's
// util::JsonStringToMessage and MessageToJsonString transcode through a
// TypeResolver, an object-writer pipeline and a binary round trip: tens of
// microseconds for a two-field PutRequest. These functions walk the
// descriptors instead (generic: no per-message code) and produce exactly the
// bytes and messages protobuf does, but only for a subset they can be sure
// of; anything else (escapes, numbers with fractions, floats, enums, maps,
// oneofs, well-known types, unknown or repeated names, odd base64, ...) makes
// them give up, and the caller then runs protobuf's converter, which also
// writes every error message. So a client cannot tell which path served it.
// Pure: no I/O.
// Threading: stateless, callable from any thread.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

namespace dkv::api::gateway {

// Parses `json` into `message` (cleared first, as protobuf's parser does) if
// it is a JSON object this fast path handles. Returns false if it gave up;
// `message` may then hold part of the input: clear it before falling back.
// Never fails where protobuf's parser succeeds with a different result, and
// never succeeds where protobuf's parser fails.
bool try_json_to_message_fast(std::string_view json, google::protobuf::Message* message);

// Appends `message` as protobuf prints it with always_print_primitive_fields
// and lowerCamelCase names, if every field is of a kind this fast path
// handles. Returns false if it gave up; `out` is then unchanged.
bool try_message_to_json_fast(const google::protobuf::Message& message, std::string* out);

}  // namespace dkv::api::gateway
