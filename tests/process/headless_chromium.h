// HeadlessChromium: Debian's chromium, headless, driven over the DevTools
// protocol (CDP) on a WebSocket (Boost.Beast): open a page, evaluate
// JavaScript in it, resize the viewport, take screenshots. For process
// tests of the dashboard (what a browser sees, without a reload).
// Why CDP from C++ rather than puppeteer-core: the process tests are
// GoogleTest binaries on the harness already; this needs no Node.js at
// test time and no second npm package, and the few commands used here
// (Target.*, Runtime.evaluate, Emulation.*, Page.captureScreenshot) are
// stable.
// Threading: one test thread. Every call waits at most `timeout` for its
// answer, so a hung browser fails the test instead of hanging it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "harness.h"

namespace dkv::testing {

class HeadlessChromium {
 public:
  // The browser binary: $DKV_CHROMIUM, else /usr/bin/chromium.
  static std::string binary();

  HeadlessChromium();
  ~HeadlessChromium();  // Kills the browser's process group.
  HeadlessChromium(const HeadlessChromium&) = delete;
  HeadlessChromium& operator=(const HeadlessChromium&) = delete;

  // Starts the browser and opens one page (a tab) at `url`, `width` x
  // `height` CSS pixels. An error message on failure, "" on success.
  std::string open(const std::string& url, int width, int height);

  // The value of `expression` (which must evaluate to a string, or a
  // promise of one) in the page; "" with *error set if it threw.
  std::string eval(const std::string& expression, std::string* error = nullptr);
  // Polls eval(expression) every 100 ms until it returns `want` or
  // `timeout` passes; returns the last value seen.
  std::string wait_for(const std::string& expression, const std::string& want,
                       std::chrono::milliseconds timeout);
  // Sets the viewport to width x height CSS pixels.
  bool resize(int width, int height);
  // Writes a PNG of the viewport to `path`; false on failure.
  bool screenshot(const std::string& path);

  std::string log() const;  // The browser's stderr.

 private:
  struct Cdp;
  // Starts the browser with its DevTools port at `port`; "" or an error.
  std::string launch(std::uint16_t port);
  // Connects to the browser's DevTools WebSocket; "" or an error.
  std::string connect(std::uint16_t port);
  // Sends one command (params: a JSON object) and returns its "result"
  // as JSON text, or "" with *error set.
  std::string call(const std::string& method, const std::string& params_json, std::string* error,
                   bool to_page = true);

  std::unique_ptr<TempDir> dir_;
  pid_t pid_ = -1;
  std::unique_ptr<Cdp> cdp_;
  std::string session_id_;
  std::chrono::milliseconds timeout_{30'000};
};

}  // namespace dkv::testing
