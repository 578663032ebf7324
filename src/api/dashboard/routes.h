// The dashboard's static routes on the REST gateway: GET / (the page) and
// GET /dashboard/assets/<file>, from the embedded assets (assets.h), gzip
// when the client accepts it. The data route is an annotated RPC
// (dashboard_service.h) that the gateway routes like the public API.
// Unknown paths still get the gateway's JSON 404.
// Threading: call before Gateway::start(), from its owner thread.
#pragma once

#include <string_view>

#include "api/gateway/gateway.h"

namespace dkv::api::dashboard {

void add_dashboard_routes(Gateway* gateway);

}  // namespace dkv::api::dashboard
