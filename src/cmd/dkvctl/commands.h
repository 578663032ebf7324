// dkvctl's commands: each runs one parsed Invocation (cli.h) and writes its
// result (output.h) to `out`, and errors as one "Error: ..." line to `err`.
// Returns the exit code (cli.h). Server commands talk through a Client
// (client.h); `snapshot restore` and `snapshot status` work offline on files.
#pragma once

#include <iosfwd>

#include "cli.h"

namespace dkv::ctl {

int run_command(const Invocation& invocation, std::ostream& out, std::ostream& err);

}  // namespace dkv::ctl
