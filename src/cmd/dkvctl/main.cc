// dkvctl: the operator's command line for dkv, in the spirit of etcdctl.
// `dkvctl [--endpoints a,b,c] [-w simple|table|json] <command>`; see
// `dkvctl --help` and the README. Wiring only: parsing in cli.cc, the
// commands in commands.cc, gRPC with endpoint failover in client.cc, the
// output formats in output.cc.
#include <signal.h>

#include <iostream>

#include "cli.h"
#include "commands.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // `dkvctl ... | head` must not die mid-write of a backup.
  dkv::ctl::Invocation invocation;
  const int rc = dkv::ctl::parse_args(argc, argv, &invocation, std::cout, std::cerr);
  if (rc >= 0) return rc;
  return dkv::ctl::run_command(invocation, std::cout, std::cerr);
}
