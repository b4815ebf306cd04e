// Probes: management and odd requests the gateway sends on connections of their own before
// the first client request is forwarded (GET_VALUES, an unknown type, a role, multiplexing);
// what comes back is published on the bus. faults/probes.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "codec/fcgi.hpp"

namespace fh::fake {

/// The variable a get_values probe asks for that FastCGI 1.0 does not define.
inline constexpr std::string_view kUnknownValue = "FCGI_HARNESS_UNKNOWN";

struct GatewayProbe {
  enum class Kind { get_values, unknown_type, role, multiplex, malformed };
  /// What a malformed probe sends (its bytes: GatewayProbe::request()).
  enum class Malformed {
    bad_version,           // a BEGIN_REQUEST with version 2
    truncated_header,      // 5 bytes of a header, then the gateway's FIN
    length_beyond_stream,  // a PARAMS header promising 1000 bytes, 10 sent, then FIN
    stray_request_id,      // STDIN and ABORT_REQUEST for ids never begun, then a request
  };
  Kind kind = Kind::get_values;
  std::uint32_t value = 0;  // unknown_type: the type; role: the role; multiplex: request count
  Malformed malformed = Malformed::bad_version;

  std::string name() const;  // "get_values", "role 2", ...
  /// The bytes of the probe and how many answers end it.
  std::pair<fcgi::Bytes, std::uint32_t> request() const;
  /// The gateway half-closes after writing: the stream ends inside a record.
  bool ends_with_fin() const;
};

}  // namespace fh::fake
