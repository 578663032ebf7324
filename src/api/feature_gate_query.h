// The feature gate's question to a member (node/feature_gate.h): its
// dkv.v0.Cluster/Status, over the forwarder's channels (the dashboard asks
// the same way), reduced to the two levels the gate reads. A member built
// before the gate answers without the fields: level 0.
// Threading: the query blocks its caller (the gate's own thread) until the
// answer or the timeout; the call completes on gRPC's threads.
#pragma once

#include "api/kv_service.h"
#include "node/feature_gate.h"

namespace dkv::api {

// `forward`: ServiceOptions::forward (must be set).
node::FeatureLevelQuery make_feature_level_query(decltype(ServiceOptions::forward) forward);

}  // namespace dkv::api
