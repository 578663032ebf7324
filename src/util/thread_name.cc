#include "util/thread_name.h"

#include <pthread.h>

#include <cstring>
#include <string>

namespace dkv::util {

void set_thread_name(const char* name) {
  // The kernel keeps 15 characters and a NUL; longer names are refused.
  const std::string truncated(name, strnlen(name, 15));
  pthread_setname_np(pthread_self(), truncated.c_str());
}

}  // namespace dkv::util
