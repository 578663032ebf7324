// The etcd model of the linearizability checker (checker.h): a group of keys
// checked together because ranges cover them, with CAS transactions and the
// revisions etcd reports. Internal to tests/fault (checker.cc calls it).
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "checker.h"

namespace dkv::fault::group_detail {

// Checks the ops `indexes` of `history` (none kFailed, no unknown read) over
// the keys `keys` (every key they name or read). `name` labels the result.
KeyResult check_group(const std::string& name, const std::vector<std::string>& keys,
                      const std::vector<Op>& history, std::vector<std::size_t> indexes,
                      const CheckOptions& options);

// True if `key` is in the range [begin, end) of etcd's form ("" end: the
// one key `begin`; "\0": every key from `begin` on).
bool in_range(const std::string& key, const std::string& begin, const std::string& end);

}  // namespace dkv::fault::group_detail
