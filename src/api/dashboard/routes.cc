#include "api/dashboard/routes.h"

#include <string>

#include "api/dashboard/accept_encoding.h"
#include "api/dashboard/assets.h"

namespace dkv::api::dashboard {

namespace {

PlainResponse serve(const Asset& a, const PlainRequest& req) {
  PlainResponse res;
  res.content_type = std::string(a.content_type);
  const bool gzip = accepts_gzip(req.accept_encoding);
  res.body = std::string(gzip ? a.gzip : a.identity);
  if (gzip) res.headers.emplace_back("Content-Encoding", "gzip");
  res.headers.emplace_back("Vary", "Accept-Encoding");
  // Small enough to fetch again: a restarted node may be a newer version.
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // Everything comes from this node; nothing from elsewhere may run.
  res.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  return res;
}

}  // namespace

void add_dashboard_routes(Gateway* gateway) {
  for (const Asset& a : dashboard_assets()) {
    gateway->add_plain_route("GET", std::string(a.path),
                             [&a](const PlainRequest& req) { return serve(a, req); });
  }
}

}  // namespace dkv::api::dashboard
