#include "util/assert.h"

#include <cstdio>
#include <cstdlib>

namespace dkv::util {

void assert_fail(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "dkv: assertion failed: %s at %s:%d\n", condition, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace dkv::util
