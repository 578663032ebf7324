// grpc_noop_server: gRPC C++'s own ceiling on this machine for dkv's public
// gRPC path. The same server as dkv's (api::GrpcServer, its services and
// channel arguments, the transport's server settings), but every unary
// method of dkv.v0.KV, dkv.v0.Cluster and etcdserverpb.KV answers OK at
// once on the thread that runs it. Compare its CPU per call and calls per
// second (h2load, bench/grpc-cpu) with a dkv node's.
// Usage: grpc_noop_server PORT [ARG=VALUE...]   (listens on 127.0.0.1:PORT
// until SIGTERM; each ARG=VALUE is one more gRPC channel argument, an
// integer if VALUE is one, to try a setting before giving it to dkv),
// except these of its own:
//   dkv.style=dkv|callback|sync|async  the API style: dkv (the default)
//                  is dkv's own api::GrpcServer as above (callback API,
//                  through the MethodRegistry); the others are bare servers
//                  of one style (grpc_noop_styles.h)
//   dkv.cqs=N      async: completion queues, one polling thread each;
//                  sync: gRPC's NUM_CQS (default 2, the cores here)
//   dkv.slots=N    async: calls requested ahead per method and queue (8)
//   dkv.bare=1     callback, sync, async: no health or reflection service
// Threading: main waits for a signal; gRPC's threads (or, async, one
// polling thread per completion queue) run the handlers.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/grpc_server.h"
#include "api/method_registry.h"
#include "dkv/v0/cluster.pb.h"
#include "dkv/v0/kv.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "grpc_noop_styles.h"
#include "transport/transport.h"

namespace {

void add_noop_methods(const google::protobuf::ServiceDescriptor* service,
                      dkv::api::MethodRegistry* registry) {
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  for (int i = 0; i < service->method_count(); ++i) {
    const auto* method = service->method(i);
    if (method->client_streaming() || method->server_streaming()) continue;
    dkv::api::Method m;
    m.descriptor = method;
    m.request_prototype = factory->GetPrototype(method->input_type());
    m.response_prototype = factory->GetPrototype(method->output_type());
    m.handler = [](const dkv::api::CallContext&, const google::protobuf::Message&,
                   google::protobuf::Message*,
                   dkv::api::UnaryDone done) { done(dkv::util::Status::ok()); };
    registry->add_method(std::move(m));
  }
}

// "name=value": an integer argument if value is one, else a string.
void add_channel_argument(const std::string& arg, grpc::ServerBuilder* builder) {
  const auto eq = arg.find('=');
  const std::string name = arg.substr(0, eq);
  const std::string value = eq == std::string::npos ? "1" : arg.substr(eq + 1);
  char* end = nullptr;
  const long number = std::strtol(value.c_str(), &end, 10);
  if (!value.empty() && *end == '\0') {
    builder->AddChannelArgument(name, static_cast<int>(number));
  } else {
    builder->AddChannelArgument(name, value);
  }
  std::printf("grpc_noop_server: %s = %s\n", name.c_str(), value.c_str());
}

// dkv's own api::GrpcServer and its services.
int serve_dkv(std::uint16_t port, const std::vector<std::string>& channel_args,
              const std::function<void()>& wait) {
  dkv::api::MethodRegistry registry;
  add_noop_methods(dkv::v0::PutRequest::descriptor()->file()->FindServiceByName("KV"), &registry);
  add_noop_methods(dkv::v0::StatusRequest::descriptor()->file()->FindServiceByName("Cluster"),
                   &registry);
  add_noop_methods(etcdserverpb::RangeRequest::descriptor()->file()->FindServiceByName("KV"),
                   &registry);
  dkv::api::GrpcServerOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.configure_builder = [channel_args](grpc::ServerBuilder& b) {
    dkv::transport::Transport::configure_server(b);
    for (const std::string& arg : channel_args) add_channel_argument(arg, &b);
  };
  std::unique_ptr<dkv::api::GrpcServer> server;
  if (auto s = dkv::api::GrpcServer::start(registry, options, &server); !s.is_ok()) {
    std::fprintf(stderr, "grpc_noop_server: %s\n", s.message().c_str());
    return 1;
  }
  wait();
  server->shutdown(std::chrono::system_clock::now());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: grpc_noop_server PORT [ARG=VALUE...]\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Before gRPC starts its threads.

  const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
  std::string style = "dkv";
  dkv::bench::NoopStyleOptions options;
  options.address = "127.0.0.1:" + std::string(argv[1]);
  std::vector<std::string> channel_args;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::string value = arg.substr(arg.find('=') + 1);
    if (arg.rfind("dkv.style=", 0) == 0) {
      style = value;
    } else if (arg.rfind("dkv.cqs=", 0) == 0) {
      options.cqs = std::atoi(value.c_str());
    } else if (arg.rfind("dkv.bare=", 0) == 0) {
      options.bare = value == "1";
    } else if (arg.rfind("dkv.slots=", 0) == 0) {
      options.slots = std::atoi(value.c_str());
    } else {
      channel_args.push_back(arg);
    }
  }
  options.configure_builder = [channel_args](grpc::ServerBuilder& b) {
    dkv::transport::Transport::configure_server(b);
    for (const std::string& arg : channel_args) add_channel_argument(arg, &b);
  };
  const auto wait = [&] {
    std::printf("grpc_noop_server: %s, listening on 127.0.0.1:%s\n", style.c_str(), argv[1]);
    std::fflush(stdout);
    int signal = 0;
    sigwait(&signals, &signal);
  };
  if (style == "dkv") return serve_dkv(port, channel_args, wait);
  bool served = false;
  if (style == "callback") {
    served = dkv::bench::serve_callback(options, wait);
  } else if (style == "sync") {
    served = dkv::bench::serve_sync(options, wait);
  } else if (style == "async") {
    served = dkv::bench::serve_async(options, wait);
  } else {
    std::fprintf(stderr, "grpc_noop_server: dkv.style must be dkv, callback, sync or async\n");
    return 2;
  }
  if (!served) std::fprintf(stderr, "grpc_noop_server: cannot listen on %s\n", argv[1]);
  return served ? 0 : 1;
}
