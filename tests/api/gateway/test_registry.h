// Helpers for the gateway tests: a MethodRegistry holding methods of the
// test-only dkv.gwtest.Test service with handlers that echo their request.
#pragma once

#include <initializer_list>
#include <string>

#include "api/method_registry.h"
#include "gateway_test.pb.h"

namespace dkv::api::gateway::testing {

inline void add_echo_methods(MethodRegistry* registry, std::initializer_list<const char*> names) {
  const auto* service = dkv::gwtest::EchoRequest::descriptor()->file()->FindServiceByName("Test");
  for (const char* name : names) {
    registry->add<dkv::gwtest::EchoRequest, dkv::gwtest::EchoRequest>(
        service, name,
        [](const CallContext&, const dkv::gwtest::EchoRequest& req, dkv::gwtest::EchoRequest* resp,
           UnaryDone done) {
          *resp = req;
          done(util::Status());
        });
  }
}

}  // namespace dkv::api::gateway::testing
