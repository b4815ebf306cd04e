// Process lifetime: the fake as a single-process app (workers) and as PHP_FCGI_MAX_REQUESTS
// (exit_after_requests, listener, respawn_after_ms). faults/lifetime.cpp holds the behaviour,
// acting on the listener through ListenerSeam.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "events/declaration.hpp"

namespace fh::fake {

struct Lifetime {
  /// Connections served at once; further ones wait in the listen backlog, unaccepted, as
  /// with a single-process app (php-cgi with PHP_FCGI_CHILDREN=0). 0: no limit.
  std::uint32_t workers = 0;
  std::uint32_t exit_after_requests = 0;          // 0: never exits
  bool keep_listener = false;                     // exit keeps the listening socket (php-fpm)
  std::optional<std::uint32_t> respawn_after_ms;  // serve again this long after exiting
};

/// What the lifetime may do to the listener.
class ListenerSeam {
 public:
  virtual ~ListenerSeam() = default;
  virtual void stop_accepting(std::string why) = 0;  // new connections wait in the backlog
  virtual void resume_accepting() = 0;
  virtual void close_listener() = 0;  // Linux resets the connections queued in its backlog
  /// Listens on the same address again (when closed); the error text, or "".
  virtual std::string listen_again() = 0;
  virtual void close_connections(std::string_view why) = 0;
  virtual void post(std::function<void()> action) = 0;
  /// `action` after `delay`, unless the backend stops first.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> action) = 0;
  virtual void publish(const events::EventDecl& event, std::string detail) = 0;
  virtual bool stopped() const = 0;
  virtual std::string address() const = 0;
};

/// The lifetime of one backend run.
class LifetimeRun {
 public:
  LifetimeRun(const Lifetime& keys, ListenerSeam& listener) : keys_(keys), listener_(listener) {}
  /// A BEGIN_REQUEST with arrival index `index` arrived.
  void on_begin_request(std::uint32_t index);
  /// Request `index` is over (answered, refused or its connection gone).
  void on_request_over(std::uint32_t index);
  /// Whether another connection may be accepted while `open` are being served.
  bool may_accept(std::size_t open) const { return !keys_.workers || open < keys_.workers; }

 private:
  void exit_now();
  void respawn();
  const Lifetime& keys_;
  ListenerSeam& listener_;
  std::uint32_t life_begun_ = 0;             // requests since start or the last respawn
  std::optional<std::uint32_t> exit_index_;  // exit once this request is over
};

}  // namespace fh::fake

namespace fh::fake::lifetime_events {
using events::EventDecl;
using events::Source;
inline constexpr EventDecl accepting_stopped{
    "backend",
    "accepting_stopped",
    Source::fake_backend,
    "exit_after_requests: the last request of this life arrived; no more connections accepted",
    "",
    "why"};
inline constexpr EventDecl exited{"backend",
                                  "exited",
                                  Source::fake_backend,
                                  "exit_after_requests: the last request is over; every "
                                  "connection closed (the listener too, unless listener: keep)",
                                  "",
                                  "after how many requests; listener kept or closed"};
inline constexpr EventDecl respawned{
    "backend", "respawned",  Source::fake_backend, "respawn_after_ms: serving again after the exit",
    "",        "the address"};
inline constexpr EventDecl respawn_failed{"backend",
                                          "respawn_failed",
                                          Source::fake_backend,
                                          "respawn_after_ms: the address could not be bound again",
                                          "",
                                          "the error"};
}  // namespace fh::fake::lifetime_events
