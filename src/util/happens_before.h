// happens_before / happens_after: tell ThreadSanitizer about an ordering
// that a library it cannot see provides (Abseil's and Chromium's
// ANNOTATE_HAPPENS_BEFORE/AFTER). Everything a thread did before
// happens_before(p) is visible, for TSan, to a thread after its
// happens_after(p) on the same address, if that one came later.
//
// For gRPC's callback reactors: gRPC hands a new reactor from the thread
// that built it to the threads that run its reactions, and orders the
// reactions, with its own synchronisation, which TSan does not see (libgrpc
// is not instrumented). A reactor's util::Mutex orders its reactions for
// TSan; the hand-off of the constructed object (its mutex included, whose
// first lock TSan checks against the allocation) needs these: the
// constructor ends with happens_before(this), each reaction starts with
// happens_after(this).
//
// Free outside TSan builds (empty inline functions). Threading: any thread.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define DKV_TSAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define DKV_TSAN_BUILD 1
#endif
#endif

#ifdef DKV_TSAN_BUILD
#include <sanitizer/tsan_interface.h>
#endif

namespace dkv::util {

inline void happens_before([[maybe_unused]] const void* p) {
#ifdef DKV_TSAN_BUILD
  __tsan_release(const_cast<void*>(p));
#endif
}

inline void happens_after([[maybe_unused]] const void* p) {
#ifdef DKV_TSAN_BUILD
  __tsan_acquire(const_cast<void*>(p));
#endif
}

}  // namespace dkv::util
