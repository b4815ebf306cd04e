// Family "lifetime": the fake backend as a process that exits and comes back
// (PHP_FCGI_MAX_REQUESTS, php-fpm's pm.max_requests, a single-process app's backlog).
#include "fake-backends/faults/lifetime.hpp"

#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

void read_keys(MapReader& r, BackendConfig& config) {
  const auto& file = r.file();
  auto& keys = config.lifetime;
  if (r.has("workers"))
    keys.workers = static_cast<std::uint32_t>(as_uint(r.get("workers"), file, "workers", 1024));
  if (r.has("exit_after_requests")) {
    auto n = as_uint(r.get("exit_after_requests"), file, "exit_after_requests", UINT32_MAX);
    if (n == 0) bad_value(r.get("exit_after_requests"), file, "exit_after_requests", "at least 1");
    keys.exit_after_requests = static_cast<std::uint32_t>(n);
  }
  for (const char* key : {"listener", "respawn_after_ms"}) {
    if (r.has(key) && !keys.exit_after_requests)
      throw ScenarioError(mark_of(r.get(key), file),
                          std::string(key) + " needs exit_after_requests");
  }
  if (r.has("listener"))
    keys.keep_listener = one_of(r.get("listener"), file, "listener", {"close", "keep"}) == "keep";
  if (r.has("respawn_after_ms"))
    keys.respawn_after_ms = as_ms(r.get("respawn_after_ms"), file, "respawn_after_ms");
}

}  // namespace

const BackendFamily& lifetime_family() {
  static const BackendFamily family{
      "lifetime",
      "Process lifetime",
      "The backend as a process: `workers` serves that many connections at once and leaves the "
      "rest unaccepted in the backlog (php-cgi with PHP_FCGI_CHILDREN=0); "
      "`exit_after_requests: N` stops accepting at the Nth BEGIN_REQUEST, finishes it and exits "
      "(PHP_FCGI_MAX_REQUESTS), closing every connection; `listener: close` (default) lets Linux "
      "reset the connections queued in the backlog, `listener: keep` keeps them waiting (a "
      "php-fpm master); `respawn_after_ms` serves again after the gap.",
      {},
      {{"workers", shapes::integer(0, 1024), "connections served at once; 0: no limit"},
       {"exit_after_requests", shapes::integer(1, UINT32_MAX),
        "exit after the Nth BEGIN_REQUEST is answered"},
       {"listener", shapes::choice({"close", "keep"}),
        "on exit: close the listener (queued connections get RST) or keep it"},
       {"respawn_after_ms", shapes::ms(), "serve again this long after exiting"}},
      {&lifetime_events::accepting_stopped, &lifetime_events::exited, &lifetime_events::respawned,
       &lifetime_events::respawn_failed},
      &read_keys};
  return family;
}

void LifetimeRun::on_begin_request(std::uint32_t index) {
  if (!keys_.exit_after_requests || ++life_begun_ != keys_.exit_after_requests) return;
  // The last request of this life; accept no more connections.
  exit_index_ = index;
  listener_.stop_accepting("exit after request " + std::to_string(index));
}

void LifetimeRun::on_request_over(std::uint32_t index) {
  if (!exit_index_ || *exit_index_ != index || listener_.stopped()) return;
  exit_index_.reset();
  // Posted: the exit closes every connection, maybe including the caller's.
  listener_.post([this] { exit_now(); });
}

void LifetimeRun::exit_now() {
  // Linux resets the connections still queued in the backlog of a closed listener.
  if (!keys_.keep_listener) listener_.close_listener();
  listener_.publish(lifetime_events::exited, "after " + std::to_string(keys_.exit_after_requests) +
                                                 " requests; listener " +
                                                 (keys_.keep_listener ? "kept" : "closed"));
  listener_.close_connections("exited");
  if (keys_.respawn_after_ms)
    listener_.after(std::chrono::milliseconds(*keys_.respawn_after_ms), [this] { respawn(); });
}

void LifetimeRun::respawn() {
  if (const auto error = listener_.listen_again(); !error.empty()) {
    listener_.publish(lifetime_events::respawn_failed, error);
    return;
  }
  life_begun_ = 0;
  listener_.resume_accepting();
  listener_.publish(lifetime_events::respawned, listener_.address());
}

}  // namespace fh::fake
