// Names the calling thread (at most 15 characters shown), so that top -H,
// perf and /proc/<pid>/task/*/comm tell the raft thread from the REST ones.
#pragma once

namespace dkv::util {

void set_thread_name(const char* name);

}  // namespace dkv::util
