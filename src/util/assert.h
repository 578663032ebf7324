// DKV_ASSERT: checks an invariant of our own code, in every build type.
// Assertions are for programmer errors (a broken invariant); errors from the
// world (bad input, disk errors) are util::Status values instead. A failed
// assertion prints the condition and location to stderr and aborts: a crash
// beats serving wrong data. One condition per assertion, so the message names it.
#pragma once

namespace dkv::util {
[[noreturn]] void assert_fail(const char* condition, const char* file, int line);
}  // namespace dkv::util

#define DKV_ASSERT(cond)                                   \
  do {                                                     \
    if (!(cond)) [[unlikely]]                              \
      ::dkv::util::assert_fail(#cond, __FILE__, __LINE__); \
  } while (0)
