// etcd's Watch over REST: POST /v3/watch as etcd's grpc-gateway serves it.
// The body is one WatchRequest in etcd's gateway JSON; the answer is a
// stream of newline-delimited JSON objects {"result": WatchResponse}, one
// per response of the stream's WatchSession (etcd_watch_session.h), until
// the client closes the connection.
// Threading: the gateway's I/O threads and the WatchSender's.
// Lifetime: `node` must outlive the gateway.
#pragma once

#include <memory>

#include "api/etcd_watch_session.h"
#include "api/gateway/gateway.h"
#include "node/node.h"

namespace dkv::api {

StreamHandler etcd_watch_rest_handler(node::Node* node, const WatchOptions& options);

}  // namespace dkv::api
