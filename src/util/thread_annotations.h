// Clang thread-safety annotations (-Wthread-safety); no-ops under GCC.
// Use on members guarded by a mutex: `int x_ DKV_GUARDED_BY(mu_);`. The
// mutex must be a util::Mutex (util/mutex.h): std::mutex carries no
// annotations, so clang would check nothing. `make test` runs
// scripts/check_thread_safety.sh, which compiles src/ with clang and
// -Wthread-safety -Werror.
#pragma once

#if defined(__clang__)
#define DKV_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DKV_THREAD_ANNOTATION(x)
#endif

#define DKV_CAPABILITY(x) DKV_THREAD_ANNOTATION(capability(x))
#define DKV_SCOPED_CAPABILITY DKV_THREAD_ANNOTATION(scoped_lockable)
#define DKV_GUARDED_BY(x) DKV_THREAD_ANNOTATION(guarded_by(x))
#define DKV_PT_GUARDED_BY(x) DKV_THREAD_ANNOTATION(pt_guarded_by(x))
#define DKV_REQUIRES(...) DKV_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define DKV_EXCLUDES(...) DKV_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define DKV_ACQUIRE(...) DKV_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define DKV_RELEASE(...) DKV_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define DKV_TRY_ACQUIRE(...) DKV_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define DKV_ASSERT_CAPABILITY(x) DKV_THREAD_ANNOTATION(assert_capability(x))
#define DKV_RETURN_CAPABILITY(x) DKV_THREAD_ANNOTATION(lock_returned(x))
#define DKV_NO_THREAD_SAFETY_ANALYSIS DKV_THREAD_ANNOTATION(no_thread_safety_analysis)
