// Bug emulations: each a small unit in its own file (lighttpd_2796.cpp,
// fail_on_stdin_write_error.cpp, nginx_empty_200.cpp) that changes one decision of the
// exchange through these hooks. All off: the gateway behaves correctly.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fh::fake {

/// What an exchange looks like when a hook is asked.
struct ExchangeFacts {
  std::optional<std::uint64_t> content_length;  // of the request body
  bool request_out = false;                     // the empty STDIN is out (or deliberately withheld)
  bool head_sent = false;                       // the response head was committed to the client
  bool client_gone = false;
  bool stream_response_body_2 = false;
};

/// The gateway's own answer a bug chooses instead of the correct behaviour.
struct BugAnswer {
  enum class Kind { error_status, empty_200 } kind = Kind::error_status;
  int status = 503;
  std::string why;
};

class GatewayBug {
 public:
  virtual ~GatewayBug() = default;
  virtual std::string name() const = 0;
  /// A write of the request body to the backend failed (EPIPE/ECONNRESET) before the head:
  /// the correct gateway keeps reading the backend's answer.
  virtual std::optional<BugAnswer> on_stdin_write_error(const ExchangeFacts&,
                                                        const std::string& error) const {
    (void)error;
    return std::nullopt;
  }
  /// The backend failed before the head (a read error, a close, a bad record): the correct
  /// gateway answers 502.
  virtual std::optional<BugAnswer> on_backend_failure(const ExchangeFacts&) const {
    return std::nullopt;
  }
  /// stream_response_body 2 paused reading the backend: the correct gateway resumes once
  /// the client caught up.
  virtual bool resumes_reading() const { return true; }
};

using GatewayBugs = std::vector<std::shared_ptr<const GatewayBug>>;

}  // namespace fh::fake
