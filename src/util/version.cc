#include "util/version.h"

#ifndef DKV_VERSION_STRING
#error "DKV_VERSION_STRING is set by src/util/CMakeLists.txt"
#endif

namespace dkv::util {

std::string_view version() { return DKV_VERSION_STRING; }

}  // namespace dkv::util
