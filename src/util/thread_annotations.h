// Clang thread-safety annotations (-Wthread-safety); no-ops under GCC.
// Use on members guarded by a mutex: `int x_ DKV_GUARDED_BY(mu_);`.
#pragma once

#if defined(__clang__)
#define DKV_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define DKV_THREAD_ANNOTATION(x)
#endif

#define DKV_GUARDED_BY(x) DKV_THREAD_ANNOTATION(guarded_by(x))
#define DKV_REQUIRES(...) DKV_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define DKV_EXCLUDES(...) DKV_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
