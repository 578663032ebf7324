// RouteTable: the REST routes of the gateway, built once at start from every
// registered Method's google.api.http rule (get/post/put/delete/patch/custom
// and additional_bindings), plus plain (non-proto) routes such as /livez.
// lookup() finds the route for an HTTP method and path, or says 404 / 405.
// Pure: no I/O.
// Threading: filled before the server starts, then read-only (any thread).
// Lifetime: routes borrow the Methods of the MethodRegistry passed to
// add_registry(), which must outlive the table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/gateway/path_template.h"
#include "api/method_registry.h"
#include "util/status.h"

namespace dkv::api::gateway {

struct Route {
  std::string http_method;  // "GET", "POST", ... (upper case).
  PathTemplate path;
  // Proto routes: the RPC and its rule's body ("" none, "*" whole message,
  // else a field path of the request).
  const Method* method = nullptr;
  std::string body;
  // Plain routes (method == nullptr): an index chosen by the caller.
  int plain_id = -1;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::vector<PathBinding> bindings;
};

enum class LookupResult {
  kFound,
  kBadPath,           // Not a path, or a malformed percent escape: 400.
  kNotFound,          // No route has this path: 404.
  kMethodNotAllowed,  // Some route has this path, none with this method: 405.
};

class RouteTable {
 public:
  // Adds a route for every google.api.http binding of every method in
  // `registry`. Methods without a rule get no REST route. Fails (naming the
  // method) on a bad template, a path variable or body field that is not
  // a field of the request message fit for it, or a response_body (not
  // supported yet).
  util::Status add_registry(const MethodRegistry& registry);
  // Adds a route whose path is a template (usually all literals: "/livez"),
  // or the root "/".
  util::Status add_plain(std::string http_method, std::string_view path, int plain_id);

  // On kFound fills `match`; on kMethodNotAllowed fills `allowed` with the
  // methods that the path does accept (for the Allow header).
  LookupResult lookup(std::string_view http_method, std::string_view path, RouteMatch* match,
                      std::vector<std::string>* allowed) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  util::Status add_method(const Method& method);
  void insert(Route route);

  // Most specific first (PathTemplate::more_specific), then insertion order.
  std::vector<Route> routes_;
};

}  // namespace dkv::api::gateway
