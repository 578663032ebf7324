#include "api/etcd_watch_rest.h"

#include <utility>

#include "api/etcd_watch_sender.h"
#include "api/gateway/json_mapping.h"

namespace dkv::api {
namespace {

namespace pb = etcdserverpb;

// Writes a session's responses as JSON lines to the HTTP stream.
class RestWatchWriter final : public WatchWriter {
 public:
  RestWatchWriter(std::shared_ptr<StreamOut> out, std::weak_ptr<WatchSession> session)
      : out_(std::move(out)), session_(std::move(session)) {}

  void start_write(const pb::WatchResponse& response) override {
    std::string json;
    if (!gateway::message_to_json(response, &json).is_ok()) json = "{}";
    out_->write("{\"result\":" + json + "}\n", [session = session_](bool ok) {
      if (auto s = session.lock()) s->write_done(ok);
    });
  }
  void finish(const util::Status& status) override {
    if (!status.is_ok()) {
      out_->write("{\"error\":" + gateway::etcd_error_json(status) + "}\n", nullptr);
    }
    out_->finish();
  }

 private:
  std::shared_ptr<StreamOut> out_;
  std::weak_ptr<WatchSession> session_;
};

}  // namespace

StreamHandler etcd_watch_rest_handler(node::Node* node, const WatchOptions& options) {
  auto sender = std::make_shared<WatchSender>();
  return [node, options, sender](std::string body,
                                 std::shared_ptr<StreamOut> out) -> std::function<void()> {
    auto session = std::make_shared<WatchSession>(*node, *sender, options,
                                                  /*require_leader=*/false);
    auto writer = std::make_shared<RestWatchWriter>(std::move(out), session);
    session->attach(writer.get());
    pb::WatchRequest request;
    if (auto s = gateway::json_to_message(body, &request); !s.is_ok()) {
      session->end(s);
    } else {
      session->handle(request);
    }
    return [session, writer] {
      session->end(util::Status::ok());
      session->close();
    };
  };
}

}  // namespace dkv::api
