// Once: a client's completion callback that must run exactly once.
// Every waiter of the node (a write waiting to be applied, a read waiting
// for its read index) holds one. Calling it twice, or destroying it armed
// (a waiter dropped without an answer), is our bug: both assert.
// Threading: not thread-safe; one owner at a time (moved between threads
// only through a queue under a lock).
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

#include "util/assert.h"

namespace dkv::node {

template <typename... Args>
class Once {
 public:
  Once() = default;
  // Implicit on purpose: callers pass a lambda or std::function.
  template <typename F>
  requires(!std::is_same_v<std::decay_t<F>, Once>) Once(F&& fn)
      : fn_(std::forward<F>(fn)) {  // NOLINT(google-explicit-constructor)
    DKV_ASSERT(fn_ != nullptr);
  }
  Once(Once&& other) noexcept : fn_(std::exchange(other.fn_, nullptr)) {}
  Once& operator=(Once&& other) noexcept {
    DKV_ASSERT(fn_ == nullptr);  // Overwriting an armed waiter would drop it.
    fn_ = std::exchange(other.fn_, nullptr);
    return *this;
  }
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;
  // Invariant: every waiter completes (exactly once: see operator()).
  ~Once() { DKV_ASSERT(fn_ == nullptr); }

  void operator()(Args... args) {
    DKV_ASSERT(fn_ != nullptr);  // Completed once already.
    auto fn = std::exchange(fn_, nullptr);
    fn(std::forward<Args>(args)...);
  }
  bool armed() const { return fn_ != nullptr; }

 private:
  std::function<void(Args...)> fn_;
};

}  // namespace dkv::node
