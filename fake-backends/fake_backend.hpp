// The embedded fake FastCGI backend: an application server on TCP or a unix socket that is
// correct by default (FastCGI 1.0) and serves the probe-app contract, with scripted faults
// that act at protocol events rather than after sleeps.
//
// Runs as C++20 coroutines on the caller's io_context (single thread): no locks, and the
// order of events is the order the protocol produced them.
//
// Its parts (docs/architecture.md "The fake backend"):
//   listener.cpp       accepting, the process lifetime (faults/lifetime.cpp decides exits)
//   reader.cpp         a connection's reader: records in, requests and management answers
//   record_writer.cpp  records out under one write lock, shaped by faults/record_shapes.cpp
//   responder.cpp      the probe app: what a request is answered with
//   triggers.cpp       when a fault acts (the one trigger grammar, language/trigger.hpp)
//   faults/            the fault families: each one's keys, verbs, events and behaviour
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "events/bus.hpp"
#include "fake-backends/faults/connection_policy.hpp"
#include "fake-backends/faults/family.hpp"
#include "fake-backends/faults/lifetime.hpp"
#include "fake-backends/faults/odd_records.hpp"
#include "fake-backends/faults/record_shapes.hpp"
#include "fake-backends/faults/response_end.hpp"
#include "fake-backends/faults/stalls.hpp"
#include "net/address.hpp"

namespace fh::fake {

using Clock = std::chrono::steady_clock;

/// The backend's configuration: where it listens, the faults, and one part per family of
/// keys (each defined in its family's header).
struct BackendConfig {
  net::Address listen = net::Address::tcp("127.0.0.1", 0);
  std::uint32_t max_conns = 64;  // FCGI_MAX_CONNS answered in GET_VALUES (§4.1)
  std::uint32_t max_reqs = 64;   // FCGI_MAX_REQS
  std::vector<BackendFault> faults;

  RecordShape shape;                   // faults/record_shapes.hpp
  StderrInterleave stderr_interleave;  // faults/odd_records.hpp
  ResponseEnd response_end;            // faults/response_end.hpp
  ConnectionPolicy policy;             // faults/connection_policy.hpp
  StallKeys stalls;                    // faults/stalls.hpp
  Lifetime lifetime;                   // faults/lifetime.hpp

  /// The run's event bus; every log entry is also published there, and faults on any
  /// party's event subscribe to it. Not owned; may be null (a private bus is used then);
  /// must outlive the backend.
  events::Bus* bus = nullptr;
};

/// Reads a fake backend's keys (topology.backend without `kind`/`transport`) from YAML text:
/// every family's keys and `faults:`. For tests and `serve`; throws ScenarioError.
BackendConfig backend_config_from_yaml(const std::string& yaml, const std::string& origin = "yaml");

/// What the backend saw and did, in order, for tests and the timeline.
struct BackendLogEntry {
  Clock::time_point at;
  std::uint32_t connection = 0;  // 1-based accept order
  std::uint16_t request_id = 0;  // 0 for connection-level entries
  std::string what;              // the event's name: "accepted", "fault:close", ...
  std::string detail;            // free text: flags, byte counts, errors
};

class FakeBackend {
 public:
  FakeBackend(boost::asio::io_context& io, BackendConfig config);
  ~FakeBackend();
  FakeBackend(const FakeBackend&) = delete;
  FakeBackend& operator=(const FakeBackend&) = delete;

  /// Binds and starts accepting. Throws boost::system::system_error if it cannot bind.
  void start();
  /// Where it listens (tcp port resolved). Valid after start().
  net::Address address() const;
  /// Closes the listener and every connection and cancels every timer, so that all of the
  /// backend's coroutines finish once the io_context runs again. Idempotent.
  void stop();

  /// Readiness: while a real gateway in front of it makes sure it is up, the backend answers
  /// but is not in the scenario yet: nothing is published, no fault is triggered, and the
  /// requests count neither for `request: N` nor for exit_after_requests. Call before start()
  /// with true; begin_scenario() ends it.
  void readiness_phase();
  void begin_scenario();
  /// Requests of the readiness phase still being answered.
  std::size_t readiness_requests_open() const;

  const std::vector<BackendLogEntry>& log() const;
  std::uint32_t requests_begun() const;
  std::uint32_t requests_completed() const;  // END_REQUEST sent

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace fh::fake
