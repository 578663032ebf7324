// dkv's version string, set by CMake: the project version plus `git
// describe` at configure time ("0.2.0+4227fcb"). Reported by `dkv
// --version`, dkv.v0.Cluster/Status and `dkvctl version`.
#pragma once

#include <string_view>

namespace dkv::util {

std::string_view version();

}  // namespace dkv::util
