#include "api/gateway/route_table.h"

#include <google/api/annotations.pb.h>
#include <google/api/http.pb.h>
#include <google/protobuf/descriptor.h>

#include <algorithm>

namespace dkv::api::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Resolves a dotted field path of proto names in `type`; nullptr if some part
// is missing or a non-last part is not a singular message.
const FieldDescriptor* resolve(const Descriptor* type, std::string_view path) {
  const FieldDescriptor* field = nullptr;
  while (true) {
    const size_t dot = path.find('.');
    field = type->FindFieldByName(std::string(path.substr(0, dot)));
    if (field == nullptr) return nullptr;
    if (dot == std::string_view::npos) return field;
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || field->is_repeated()) {
      return nullptr;
    }
    type = field->message_type();
    path = path.substr(dot + 1);
  }
}

// The (method, path) pairs of one HttpRule, without its additional bindings.
bool rule_pattern(const google::api::HttpRule& rule, std::string* method, std::string* path) {
  using R = google::api::HttpRule;
  switch (rule.pattern_case()) {
    case R::kGet:
      *method = "GET", *path = rule.get();
      return true;
    case R::kPut:
      *method = "PUT", *path = rule.put();
      return true;
    case R::kPost:
      *method = "POST", *path = rule.post();
      return true;
    case R::kDelete:
      *method = "DELETE", *path = rule.delete_();
      return true;
    case R::kPatch:
      *method = "PATCH", *path = rule.patch();
      return true;
    case R::kCustom:
      *method = rule.custom().kind(), *path = rule.custom().path();
      return true;
    case R::PATTERN_NOT_SET:
      return false;
  }
  return false;
}

}  // namespace

util::Status RouteTable::add_registry(const MethodRegistry& registry) {
  for (const Method* m : registry.all()) {
    if (auto st = add_method(*m); !st.is_ok()) return st;
  }
  return {};
}

util::Status RouteTable::add_method(const Method& method) {
  const auto& options = method.descriptor->options();
  if (!options.HasExtension(google::api::http)) return {};
  const google::api::HttpRule& top = options.GetExtension(google::api::http);
  std::vector<const google::api::HttpRule*> rules = {&top};
  for (const auto& extra : top.additional_bindings()) rules.push_back(&extra);

  const std::string name = method.descriptor->full_name();
  const Descriptor* input = method.descriptor->input_type();
  for (const google::api::HttpRule* rule : rules) {
    Route route;
    std::string path;
    if (!rule_pattern(*rule, &route.http_method, &path)) {
      return util::invalid_argument(name + ": google.api.http rule without a pattern");
    }
    if (auto st = PathTemplate::parse(path, &route.path); !st.is_ok()) {
      return util::invalid_argument(name + ": " + st.message());
    }
    for (const auto& var : route.path.variables()) {
      const FieldDescriptor* f = resolve(input, var.field_path);
      if (f == nullptr || f->is_repeated() || f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
        return util::invalid_argument(name + ": path variable '" + var.field_path +
                                      "' is not a singular scalar field of " + input->full_name());
      }
    }
    // Not needed by our protos yet; refuse it rather than ignore it.
    if (!rule->response_body().empty()) {
      return util::invalid_argument(name + ": google.api.http response_body is not supported");
    }
    route.body = rule->body();
    if (!route.body.empty() && route.body != "*" && resolve(input, route.body) == nullptr) {
      return util::invalid_argument(name + ": body '" + route.body + "' is not a field of " +
                                    input->full_name());
    }
    route.method = &method;
    insert(std::move(route));
  }
  return {};
}

util::Status RouteTable::add_plain(std::string http_method, std::string_view path, int plain_id) {
  Route route;
  route.http_method = std::move(http_method);
  if (path == "/") {
    route.path = PathTemplate::root();
  } else if (auto st = PathTemplate::parse(path, &route.path); !st.is_ok()) {
    return st;
  }
  route.plain_id = plain_id;
  insert(std::move(route));
  return {};
}

void RouteTable::insert(Route route) {
  // Keep routes_ sorted, most specific first; equal ones keep insertion order.
  auto pos = std::upper_bound(
      routes_.begin(), routes_.end(), route,
      [](const Route& a, const Route& b) { return PathTemplate::more_specific(a.path, b.path); });
  routes_.insert(pos, std::move(route));
}

LookupResult RouteTable::lookup(std::string_view http_method, std::string_view path,
                                RouteMatch* match, std::vector<std::string>* allowed) const {
  const auto split = split_path(path);
  if (!split) return LookupResult::kBadPath;
  allowed->clear();
  std::vector<PathBinding> bindings;
  for (const Route& r : routes_) {
    if (!r.path.match(*split, &bindings)) continue;
    if (r.http_method == http_method) {
      match->route = &r;
      match->bindings = std::move(bindings);
      return LookupResult::kFound;
    }
    if (std::find(allowed->begin(), allowed->end(), r.http_method) == allowed->end()) {
      allowed->push_back(r.http_method);
    }
  }
  return allowed->empty() ? LookupResult::kNotFound : LookupResult::kMethodNotAllowed;
}

}  // namespace dkv::api::gateway
