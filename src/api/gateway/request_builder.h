// request_builder: turns an HTTP request that matched a proto route into the
// RPC's request message, as grpc-gateway does:
//   1. the body, if the rule has one: body "*" parses the whole JSON body
//      into the message (an empty body is {}); body "f" parses it into field
//      f only; without a body rule the body is ignored;
//   2. path variables, percent-decoded per segment, override the body;
//   3. query parameters set the fields bound by neither path nor body
//      ("?serializable=true"); with body "*" they are ignored, as are names
//      that are no field. Repeated fields take repeated parameters.
// A field's text form: strings as-is (valid UTF-8), bytes in standard or
// URL-safe base64 with or without padding, numbers in decimal, bools as
// true/false (or 1/0, t/f), enums by name or number. Anything else is
// INVALID_ARGUMENT (HTTP 400), never a crash.
// Pure: no I/O.
// Threading: stateless, callable from any thread.
#pragma once

#include <google/protobuf/message.h>

#include <string_view>
#include <vector>

#include "api/gateway/path_template.h"
#include "api/gateway/route_table.h"
#include "util/status.h"

namespace dkv::api::gateway {

// Fills `request` (a fresh message of the route's input type) from the body,
// the path `bindings` of a match of `route`, and the raw `query` string
// (without '?').
util::Status build_request(const Route& route, const std::vector<PathBinding>& bindings,
                           std::string_view query, std::string_view body,
                           google::protobuf::Message* request);

// Sets the scalar field at `field_path` (dotted proto names; with
// `accept_json_names` also lowerCamelCase names) from its text form,
// creating parent messages on the way. Appends if the field is repeated.
util::Status set_field_from_text(google::protobuf::Message* message, std::string_view field_path,
                                 std::string_view text, bool accept_json_names);

}  // namespace dkv::api::gateway
