// json_mapping: how the gateway speaks JSON, following grpc-gateway v2's
// defaults: protobuf's JSON mapping with lowerCamelCase names, unpopulated
// primitive fields emitted (an empty bytes value is "value":""), 64-bit
// integers as strings, bytes as standard base64; unknown fields in a request
// are ignored. Also the error side: a util::Status becomes grpc-gateway's
// HTTP status and body {"code": <int>, "message": "...", "details": []}.
// etcd's messages (packages etcdserverpb, mvccpb, authpb: uses_etcd_json)
// follow etcd's grpc-gateway instead: proto field names (create_revision,
// dbSize), defaults omitted, 64-bit integers as strings, bytes as standard
// base64, enums by name; errors {"error":msg,"code":n,"message":msg}.
// Pure: no I/O.
// Threading: stateless, callable from any thread.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "util/status.h"

namespace dkv::api::gateway {

// Parses JSON into `message` (clearing what was set). A syntax error, a
// wrong type or bad base64 is INVALID_ARGUMENT. Unknown fields are ignored.
util::Status json_to_message(std::string_view json, google::protobuf::Message* message);

// True for a message of etcd's API (its package is etcdserverpb, mvccpb or
// authpb): it is printed, and its method's errors written, etcd's way.
bool uses_etcd_json(const google::protobuf::Descriptor* descriptor);

// Prints `message` as grpc-gateway's response JSON into `out` (etcd's
// gateway JSON for etcd's messages). A failure
// (INTERNAL) means our own handler built a bad message, never bad input.
util::Status message_to_json(const google::protobuf::Message& message, std::string* out);

// grpc-gateway's HTTP status for a code (HTTPStatusFromCode): OK 200,
// CANCELLED 499, INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503, ...
unsigned http_status_for(util::Code code);

// {"code":3,"message":"...","details":[]}; the message is escaped (and any
// invalid UTF-8 replaced) so that the body is always valid JSON.
std::string error_json(const util::Status& status);
// etcd's gateway error body: {"error":"...","code":5,"message":"..."}.
std::string etcd_error_json(const util::Status& status);

// True if `s` is valid UTF-8 (no overlong forms, no surrogates).
bool valid_utf8(std::string_view s);

// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

}  // namespace dkv::api::gateway
