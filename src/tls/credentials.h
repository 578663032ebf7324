// Credentials: reads and checks the PEM files of the TLS settings (etcd's
// names, node/config.h TlsConfig) with OpenSSL, so that a bad file stops the
// node at start with one line naming its variable: a missing or unreadable
// file, a file without a certificate, a key that does not match its
// certificate.
// Threading: pure functions (OpenSSL's error queue is per thread).
// No gRPC here; OpenSSL stays out of src/raft and src/wal.
#pragma once

#include <string>

#include "util/status.h"

namespace dkv::tls {

// The certificate chain in `cert_file` and the private key in `key_file`
// load and belong together. INVALID_ARGUMENT "<var>: <problem>" naming the
// variable at fault (cert_var or key_var).
util::Status check_key_pair(const std::string& cert_var, const std::string& cert_file,
                            const std::string& key_var, const std::string& key_file);

// `ca_file` holds at least one PEM certificate. INVALID_ARGUMENT "<var>: ...".
util::Status check_ca_file(const std::string& var, const std::string& ca_file);

// The oldest OpenSSL error of the calling thread as text ("no details" if
// none), clearing the thread's error queue.
std::string openssl_error();

}  // namespace dkv::tls
