// Stalls: the stall verbs (stall, stall_reading, stall_writing) and the receive buffer that
// makes backpressure quick (receive_buffer). faults/stalls.cpp.
#pragma once

#include <cstdint>

namespace fh::fake {

struct StallKeys {
  std::uint32_t receive_buffer = 0;  // SO_RCVBUF of the listener and connections; 0: kernel's
};

}  // namespace fh::fake
