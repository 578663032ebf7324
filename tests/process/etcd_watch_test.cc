// etcd's Watch service against a real 3-node dkv cluster, driven by
// Debian's etcdctl 3.4 (ETCDCTL_API=3) on the nodes' RPC ports: `watch
// --prefix` on one member while another writes; `watch --rev` replaying
// history on a member restarted in between; a start revision ahead of a
// member waiting for it; a compacted start revision cancelled with etcd's
// error. Skips if etcdctl is not installed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "harness.h"

namespace dkv::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kEtcdctl[] = "/usr/bin/etcdctl";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A program running in the background (etcdctl watch, curl), its output in
// files.
class Background {
 public:
  explicit Background(std::vector<std::string> argv_strings)
      : dir_("etcdctl_watch_" + std::to_string(next_dir_id_++)) {
    out_ = dir_.path() + "/out";
    err_ = dir_.path() + "/err";
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::string env_api = "ETCDCTL_API=3", env_path = "PATH=/usr/bin:/bin";
    char* envp[] = {env_api.data(), env_path.data(), nullptr};
    pid_ = ::fork();
    if (pid_ == 0) {
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(err, STDERR_FILENO);
      ::execve(argv[0], argv.data(), envp);
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && exit_code_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }
  // Waits until stdout contains `text`.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (out().find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // Waits for it to exit; its exit code, or -1.
  int wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exit_code_;
      }
      std::this_thread::sleep_for(50ms);
    }
    return -1;
  }

 private:
  static inline int next_dir_id_ = 0;  // TempDir names are per process: one each.
  TempDir dir_;
  std::string out_;
  std::string err_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

class Etcdctl : public Background {
 public:
  Etcdctl(std::uint16_t port, std::vector<std::string> args)
      : Background(argv_of(port, std::move(args))) {}

 private:
  static std::vector<std::string> argv_of(std::uint16_t port, std::vector<std::string> args) {
    std::vector<std::string> argv = {kEtcdctl, "--endpoints=127.0.0.1:" + std::to_string(port),
                                     "--dial-timeout=5s"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

// etcdctl to completion: its stdout.
std::string etcdctl(std::uint16_t port, std::vector<std::string> args) {
  Etcdctl run(port, std::move(args));
  EXPECT_EQ(run.wait_exit(30s), 0) << run.err();
  return run.out();
}

std::int64_t revision_of(const std::string& json) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"revision\":([0-9]+)"))) return 0;
  return std::stoll(m[1].str());
}

// What `etcdctl watch` prints for a put.
std::string put_lines(const std::string& key, const std::string& value) {
  return "PUT\n" + key + "\n" + value + "\n";
}

class EtcdWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kEtcdctl, X_OK) != 0) GTEST_SKIP() << "etcdctl (Debian's etcd-client) missing";
    cluster_ = std::make_unique<LocalCluster>("etcd_watch", 3);
    ASSERT_TRUE(cluster_->start_all(30s)) << cluster_->process(0).log();
    leader_ = cluster_->wait_for_leader({0, 1, 2}, 10s);
    ASSERT_GE(leader_, 0);
  }
  std::uint16_t port(int i) const { return cluster_->rpc_port(i); }
  std::int64_t put(int node, const std::string& key, const std::string& value) {
    return revision_of(etcdctl(port(node), {"put", "-w", "json", key, value}));
  }

  std::unique_ptr<LocalCluster> cluster_;
  int leader_ = -1;
};

TEST_F(EtcdWatchTest, PrefixWatchOnOneMemberSeesAnotherMembersWrites) {
  const int watcher = (leader_ + 1) % 3;
  const int writer = (leader_ + 2) % 3;
  const std::int64_t first = put(writer, "w/0", "v0");
  ASSERT_GT(first, 0);
  // From the next revision on: no race with the watch's registration.
  Etcdctl watch(port(watcher), {"watch", "--prefix", "w/", "--rev", std::to_string(first + 1)});
  std::string want;
  for (int i = 1; i <= 5; ++i) {
    put(writer, "w/" + std::to_string(i), "v" + std::to_string(i));
    put(writer, "other/" + std::to_string(i), "x");  // Not in the prefix.
    want += put_lines("w/" + std::to_string(i), "v" + std::to_string(i));
  }
  etcdctl(port(writer), {"del", "w/1"});
  want += "DELETE\nw/1\n\n";
  EXPECT_TRUE(watch.wait_for(want, 20s)) << watch.out() << watch.err();
  EXPECT_EQ(watch.out(), want);
}

TEST_F(EtcdWatchTest, RevReplaysHistoryOnAMemberRestartedInBetween) {
  const int member = (leader_ + 1) % 3;
  const std::int64_t start = put(leader_, "h/a", "1");
  ASSERT_GT(start, 0);
  cluster_->process(member).signal(SIGTERM);
  ASSERT_GE(cluster_->process(member).wait_exit(30s), 0);
  put(leader_, "h/b", "2");
  etcdctl(port(leader_), {"del", "h/a"});
  const std::int64_t last = put(leader_, "h/c", "3");
  ASSERT_TRUE(cluster_->start(member));
  // Ready: it knows a leader (etcdctl asks for one: "hasleader").
  ASSERT_TRUE(cluster_->wait_ready(member, 30s)) << cluster_->process(member).log();
  // A start revision ahead of the member: it waits, it does not fail.
  Etcdctl ahead(port(member), {"watch", "h/z", "--rev", std::to_string(last + 1)});
  Etcdctl replay(port(member), {"watch", "--prefix", "h/", "--rev", std::to_string(start)});
  const std::string want =
      put_lines("h/a", "1") + put_lines("h/b", "2") + "DELETE\nh/a\n\n" + put_lines("h/c", "3");
  EXPECT_TRUE(replay.wait_for(want, 20s)) << replay.out() << replay.err();
  EXPECT_EQ(replay.out(), want);
  put(leader_, "h/z", "later");
  EXPECT_TRUE(ahead.wait_for(put_lines("h/z", "later"), 20s)) << ahead.out() << ahead.err();
}

TEST_F(EtcdWatchTest, CompactedStartRevisionIsCancelled) {
  const std::int64_t first = put(leader_, "c/a", "1");
  put(leader_, "c/a", "2");
  const std::int64_t last = put(leader_, "c/a", "3");
  etcdctl(port(leader_), {"compact", std::to_string(last)});
  const int member = (leader_ + 1) % 3;
  Etcdctl watch(port(member), {"watch", "c/a", "--rev", std::to_string(first)});
  EXPECT_NE(watch.wait_exit(20s), -1);
  EXPECT_NE(watch.err().find("required revision has been compacted"), std::string::npos)
      << watch.err();
  EXPECT_EQ(watch.out(), "");
}

// One gRPC stream with several watchers: creates answered in order with
// their ids, prev_kv, the NODELETE filter, cancel, RequestProgress (watch id
// -1) and progress_notify (DKV_WATCH_PROGRESS_NOTIFY_MS lowered).
TEST(EtcdWatchStreamTest, SeveralWatchersOnOneStream) {
  LocalCluster cluster("etcd_watch_stream", 1, {{"DKV_WATCH_PROGRESS_NOTIFY_MS", "200"}});
  ASSERT_TRUE(cluster.start_all(30s)) << cluster.process(0).log();
  ASSERT_GE(cluster.wait_for_leader({0}, 10s), 0);
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(cluster.rpc_port(0)),
                                     grpc::InsecureChannelCredentials());
  auto kv = etcdserverpb::KV::NewStub(channel);
  auto put = [&](const std::string& key, const std::string& value) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key(key);
    req.set_value(value);
    etcdserverpb::PutResponse resp;
    EXPECT_TRUE(kv->Put(&ctx, req, &resp).ok());
    return resp.header().revision();
  };
  put("s/a", "old");
  auto watch = etcdserverpb::Watch::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  auto stream = watch->Watch(&ctx);
  etcdserverpb::WatchRequest create;
  auto* c = create.mutable_create_request();
  c->set_key("s/a");
  c->set_prev_kv(true);
  c->add_filters(etcdserverpb::WatchCreateRequest::NODELETE);
  ASSERT_TRUE(stream->Write(create));
  c->Clear();
  c->set_key("s/");
  c->set_range_end("s0");
  c->set_watch_id(7);
  c->set_progress_notify(true);
  ASSERT_TRUE(stream->Write(create));
  etcdserverpb::WatchResponse r;
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_TRUE(r.created());
  EXPECT_EQ(r.watch_id(), 0);  // etcd's first server-chosen id.
  ASSERT_TRUE(stream->Read(&r));
  EXPECT_TRUE(r.created());
  EXPECT_EQ(r.watch_id(), 7);
  const std::int64_t rev = put("s/a", "new");
  std::map<std::int64_t, etcdserverpb::WatchResponse> by_id;
  while (by_id.size() < 2 && stream->Read(&r)) {
    if (r.events_size() > 0) by_id[r.watch_id()] = r;
  }
  ASSERT_EQ(by_id.size(), 2u);
  EXPECT_EQ(by_id[0].events(0).kv().value(), "new");
  EXPECT_EQ(by_id[0].events(0).prev_kv().value(), "old");
  EXPECT_FALSE(by_id[7].events(0).has_prev_kv());
  EXPECT_EQ(by_id[7].header().revision(), rev);
  // RequestProgress: every watcher is synced, so it is answered.
  etcdserverpb::WatchRequest progress;
  progress.mutable_progress_request();
  ASSERT_TRUE(stream->Write(progress));
  bool answered = false;
  bool notified = false;  // progress_notify of watcher 7: no events, a revision.
  while ((!answered || !notified) && stream->Read(&r)) {
    ASSERT_EQ(r.events_size(), 0);
    if (r.watch_id() == -1) answered = true;
    if (r.watch_id() == 7) notified = true;
    EXPECT_EQ(r.header().revision(), rev);
  }
  EXPECT_TRUE(answered);
  EXPECT_TRUE(notified);
  // Cancel watcher 0; a delete then reaches only 7 (0 filters deletes anyway).
  etcdserverpb::WatchRequest cancel;
  cancel.mutable_cancel_request()->set_watch_id(0);
  ASSERT_TRUE(stream->Write(cancel));
  do {
    ASSERT_TRUE(stream->Read(&r));
  } while (!r.canceled());
  EXPECT_EQ(r.watch_id(), 0);
  ctx.TryCancel();
}

// grpc-gateway's stream: one WatchRequest in, newline-delimited
// {"result": WatchResponse} out, etcd's JSON (bytes as base64).
TEST_F(EtcdWatchTest, RestWatchStreamsJsonLines) {
  if (::access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl missing";
  const std::int64_t rev = put(leader_, "r/a", "hello");
  const int member = (leader_ + 1) % 3;
  const std::string body = "{\"create_request\":{\"key\":\"" + base64("r/") +
                           "\",\"range_end\":\"" + base64("r0") + "\",\"start_revision\":\"" +
                           std::to_string(rev) + "\"}}";
  Background curl({"/usr/bin/curl", "-sN", "--max-time", "20", "-X", "POST",
                   "http://127.0.0.1:" + std::to_string(cluster_->rest_port(member)) + "/v3/watch",
                   "-d", body});
  EXPECT_TRUE(curl.wait_for("\"value\":\"" + base64("hello") + "\"", 20s)) << curl.out();
  put(leader_, "r/b", "more");
  EXPECT_TRUE(curl.wait_for("\"value\":\"" + base64("more") + "\"", 20s)) << curl.out();
  const std::string out = curl.out();
  EXPECT_EQ(out.rfind("{\"result\":{\"header\":", 0), 0u) << out;
  EXPECT_NE(out.find("\"created\":true"), std::string::npos) << out;
  EXPECT_NE(out.find("}\n{\"result\":"), std::string::npos) << out;  // One object per line.
}

}  // namespace
}  // namespace dkv::testing
