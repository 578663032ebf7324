// accept_encoding: reads a request's Accept-Encoding field (RFC 9110
// 12.5.3) for the dashboard's static routes. Pure.
// Threading: stateless, callable from any thread.
#pragma once

#include <string_view>

namespace dkv::api::dashboard {

// True if an Accept-Encoding value lets the reply be gzip: "gzip",
// "gzip;q=0.5", "*" (unless "gzip;q=0" says otherwise); not "identity",
// "gzip;q=0", "br", or an empty value.
bool accepts_gzip(std::string_view accept_encoding);

}  // namespace dkv::api::dashboard
