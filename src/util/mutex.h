// Mutex, MutexLock and CondVar: std::mutex, a scoped lock and
// std::condition_variable with clang's thread-safety annotations, so that
// DKV_GUARDED_BY(mu_) on a member is checked at compile time (the
// thread-safety check in `make test`, scripts/check_thread_safety.sh).
// Same cost as the std types they wrap (everything is inline).
// Threading: what a mutex is for. Lifetime: a MutexLock must not outlive
// its Mutex.
//
//   util::Mutex mu_;
//   int count_ DKV_GUARDED_BY(mu_) = 0;
//   util::CondVar changed_;
//   ...
//   util::MutexLock lock(mu_);
//   while (count_ == 0) changed_.wait(mu_);
//
// CondVar waits take the Mutex, not a predicate: a predicate lambda reads
// guarded members where clang cannot see the lock, so callers loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "util/thread_annotations.h"

namespace dkv::util {

class DKV_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() DKV_ACQUIRE() { mu_.lock(); }
  void unlock() DKV_RELEASE() { mu_.unlock(); }
  bool try_lock() DKV_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // Tells the analysis that the caller holds this mutex (no run-time check).
  void assert_held() const DKV_ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` from construction to destruction, with unlock()/lock() in
// between for a stretch that must run without it (I/O, a callback).
class DKV_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) DKV_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() DKV_RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() DKV_RELEASE() {
    held_ = false;
    mu_.unlock();
  }
  void lock() DKV_ACQUIRE() {
    mu_.lock();
    held_ = true;
  }

 private:
  Mutex& mu_;
  bool held_ = true;
};

// A condition variable bound to a util::Mutex at each wait. Waits may wake
// spuriously: callers re-check their condition in a loop.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

  // Releases `mu` while waiting; holds it again on return.
  void wait(Mutex& mu) DKV_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();  // Still held; the caller's MutexLock owns it.
  }

  // As wait(), for at most `timeout`. Returns false if it timed out.
  template <typename Rep, typename Period>
  bool wait_for(Mutex& mu, std::chrono::duration<Rep, Period> timeout) DKV_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool woken = cv_.wait_for(lock, timeout) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }

  // As wait(), until `deadline`. Returns false if it timed out.
  template <typename Clock, typename Duration>
  bool wait_until(Mutex& mu, std::chrono::time_point<Clock, Duration> deadline) DKV_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return woken;
  }

 private:
  std::condition_variable cv_;
};

}  // namespace dkv::util
