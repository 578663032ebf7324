#include "api/method_registry.h"

#include "util/assert.h"

namespace dkv::api {

void MethodRegistry::add_method(Method method) {
  DKV_ASSERT(method.descriptor != nullptr);
  DKV_ASSERT(method.handler != nullptr);
  DKV_ASSERT(method.request_prototype->GetDescriptor() == method.descriptor->input_type());
  DKV_ASSERT(method.response_prototype->GetDescriptor() == method.descriptor->output_type());
  const std::string name =
      method.descriptor->service()->full_name() + "/" + method.descriptor->name();
  const bool inserted = methods_.emplace(name, std::move(method)).second;
  DKV_ASSERT(inserted);
}

const Method* MethodRegistry::find(const std::string& full_name) const {
  auto it = methods_.find(full_name);
  return it == methods_.end() ? nullptr : &it->second;
}

std::vector<const Method*> MethodRegistry::all() const {
  std::vector<const Method*> out;
  out.reserve(methods_.size());
  for (const auto& [name, m] : methods_) out.push_back(&m);
  return out;
}

}  // namespace dkv::api
