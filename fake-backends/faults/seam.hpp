// The narrow seam the fake backend's fault verbs act on: what a fault may do to the
// connection its trigger chose. Connection (fake-backends/backend.hpp) implements it; a verb
// (faults/<family>.cpp) sees nothing else of the backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "codec/fcgi.hpp"
#include "events/bus.hpp"

namespace fh::fake {

class FaultSeam {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~FaultSeam() = default;

  /// close(): FIN, or RST when input is still unread (Linux tcp_close).
  virtual void close(std::string_view why) = 0;
  /// RST: SO_LINGER {1, 0}, then close().
  virtual void reset(std::string_view why) = 0;
  /// FIN only: shutdown(SHUT_WR); no more writes, reading goes on.
  virtual void shutdown_write() = 0;

  /// Stops reading and/or writing until `until` (time_point::max(): until end_stall or the
  /// end of the connection).
  virtual void stall(bool reading, bool writing, Clock::time_point until) = 0;
  /// Ends a stall early; false when none was in force.
  virtual bool end_stall(bool reading, bool writing) = 0;
  /// Calls `on_event` for each `selector` event while the connection is open.
  virtual void subscribe_while_open(const events::Selector& selector,
                                    std::function<void(const events::Event&)> on_event) = 0;

  /// Queues `record`, written before the next record of the connection (never inside one);
  /// `when_written` is published with `detail` once it is on the wire.
  virtual void queue_record(fcgi::Record record, const events::EventDecl& when_written,
                            std::string detail) = 0;
  /// The request's END_REQUEST is taken: true once, then false (it is sent at most once).
  virtual bool claim_end_request(std::uint16_t request_id) = 0;
  /// §3.3 paddingLength the backend uses for a record of `content` bytes.
  virtual std::uint8_t padding_for(std::size_t content) const = 0;
  /// A request id that is not active on this connection.
  virtual std::uint16_t inactive_request_id(std::uint16_t current) const = 0;

  /// Publishes one of the family's events as this connection's.
  virtual void publish(const events::EventDecl& event, std::uint16_t request_id,
                       std::string detail) = 0;
};

}  // namespace fh::fake
