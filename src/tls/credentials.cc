#include "tls/credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace dkv::tls {
namespace {

util::Status bad(const std::string& var, const std::string& problem) {
  return util::invalid_argument(var + ": " + problem);
}

// The file opens for reading; else why not.
util::Status check_readable(const std::string& var, const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) return bad(var, "cannot read " + file + ": " + std::strerror(errno));
  std::fclose(f);
  return util::Status::ok();
}

struct CtxFree {
  void operator()(SSL_CTX* c) const { ::SSL_CTX_free(c); }
};

}  // namespace

util::Status check_key_pair(const std::string& cert_var, const std::string& cert_file,
                            const std::string& key_var, const std::string& key_file) {
  if (auto s = check_readable(cert_var, cert_file); !s.is_ok()) return s;
  if (auto s = check_readable(key_var, key_file); !s.is_ok()) return s;
  std::unique_ptr<SSL_CTX, CtxFree> ctx(::SSL_CTX_new(::TLS_server_method()));
  if (!ctx) return bad(cert_var, "OpenSSL: " + openssl_error());
  if (::SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    return bad(cert_var, "no PEM certificate in " + cert_file + " (" + openssl_error() + ")");
  }
  std::FILE* f = std::fopen(key_file.c_str(), "rb");
  if (f == nullptr) return bad(key_var, "cannot read " + key_file + ": " + std::strerror(errno));
  EVP_PKEY* key = ::PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) {
    return bad(key_var, "no PEM private key in " + key_file + " (" + openssl_error() + ")");
  }
  const bool matches =
      ::SSL_CTX_use_PrivateKey(ctx.get(), key) == 1 && ::SSL_CTX_check_private_key(ctx.get()) == 1;
  ::EVP_PKEY_free(key);
  if (!matches) {
    ::ERR_clear_error();
    return bad(key_var, key_file + " is not the key of " + cert_var + " " + cert_file);
  }
  return util::Status::ok();
}

util::Status check_ca_file(const std::string& var, const std::string& ca_file) {
  if (auto s = check_readable(var, ca_file); !s.is_ok()) return s;
  std::FILE* f = std::fopen(ca_file.c_str(), "rb");
  if (f == nullptr) return bad(var, "cannot read " + ca_file + ": " + std::strerror(errno));
  X509* cert = ::PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) {
    return bad(var, "no PEM certificate in " + ca_file + " (" + openssl_error() + ")");
  }
  ::X509_free(cert);
  return util::Status::ok();
}

std::string openssl_error() {
  const unsigned long e = ::ERR_get_error();
  ::ERR_clear_error();
  if (e == 0) return "no details";
  char text[256];
  ::ERR_error_string_n(e, text, sizeof(text));
  return text;
}

}  // namespace dkv::tls
