// Incremental SHA-256 (OpenSSL libcrypto), for body digests that compare without storing.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace fh::util {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  void update(std::string_view bytes);
  /// Lower-case hex of the digest. The object can't be updated afterwards.
  std::string hex_digest();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// One-shot lower-case hex SHA-256.
std::string sha256_hex(std::string_view bytes);

}  // namespace fh::util
