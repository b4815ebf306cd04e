// Probes: management and odd requests the gateway sends on connections of their own before
// the first client request is forwarded (GET_VALUES, an unknown type, a role, multiplexing);
// what comes back is published on the bus. faults/probes.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "codec/fcgi.hpp"

namespace fh::fake {

struct GatewayProbe {
  enum class Kind { get_values, unknown_type, role, multiplex };
  Kind kind = Kind::get_values;
  std::uint32_t value = 0;  // unknown_type: the type; role: the role; multiplex: request count

  std::string name() const;  // "get_values", "role 2", ...
  /// The bytes of the probe and how many answers end it.
  std::pair<fcgi::Bytes, std::uint32_t> request() const;
};

}  // namespace fh::fake
