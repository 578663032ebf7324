// Relay: moves bytes between one TLS connection (OpenSSL) and one plain
// connection (a socketpair end or a loopback TCP socket), both ways, until
// either side closes or fails. Used by the terminator for gRPC and REST
// connections (raft streams read their session themselves).
// Threading: blocks the calling thread for the connection's life.
// No gRPC here.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace dkv::tls {

// Relays between the TLS side `ssl` on `tls_fd` and `plain_fd`; both fds
// are made non-blocking. Returns when either closes or fails (a plain EOF
// is passed on as a TLS close_notify). Closes neither fd.
void relay(SSL* ssl, int tls_fd, int plain_fd);

// Sets `fd` blocking or not; false on failure.
bool set_blocking(int fd, bool blocking);

// A file's modification time, size and inode: what tells a replaced file
// ("" for an empty path, "missing" if it cannot be stat'ed).
std::string file_version(const std::string& path);

}  // namespace dkv::tls
