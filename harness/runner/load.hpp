// Load checks: one request of the scenario sent `load.count` times, `load.concurrency` at once,
// `load.per_connection` to a kept-alive client connection. Every response is judged by the
// request's expectations as it arrives (then dropped: nothing of a body is kept), and the
// latencies make a distribution. A 5 s stall behind a kept connection is a finding, not a PASS:
// that is what max_latency_ms / p99_latency_ms are for.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/http_client.hpp"
#include "events/bus.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

struct LoadResult {
  std::uint32_t started = 0;   // requests written (or being written)
  std::uint32_t finished = 0;  // responses judged
  /// Requests sent again on a new connection because the server closed an idle kept-alive
  /// connection as they went out (RFC 9112 §9.3.1): not lost, but shown.
  std::uint32_t retried = 0;
  std::map<scenario::Verdict, std::uint32_t> verdicts;
  std::vector<double> latency_ms;  // per finished request: connect (when new) to last byte
  /// The first response that was not PASS or INFORMATIONAL: its number (1-based), the
  /// exchange and why.
  std::optional<std::uint32_t> first_bad;
  client::Exchange first_bad_exchange;
  std::string first_bad_reason;
  client::Exchange last_exchange;  // the last one finished (what the row shows when all passed)

  double percentile(double p) const;  // of latency_ms; 0 when none
  /// "1000 requests, concurrency 8, 10 per connection: 1000 PASS; latency p50 1.2 ms, ..."
  std::string summary(const scenario::LoadDef& load) const;
};

/// Sends the load; `result` is updated as responses arrive (a deadline leaves it partial).
/// Quiet on the bus except for request_started and load_finished: thousands of exchanges
/// would bury the timeline.
boost::asio::awaitable<void> run_load(net::Address gateway, const scenario::RequestDef& request,
                                      std::uint32_t number, std::uint32_t deadline_ms,
                                      LoadResult& result, events::Bus& bus);

/// The load's grade: the worst response's, FAIL for requests unfinished at the deadline and
/// for latencies over the limits. `reason` is the summary, then the first failure.
struct LoadVerdict {
  scenario::Verdict verdict = scenario::Verdict::pass;
  std::string reason;
};
LoadVerdict judge_load(const scenario::RequestDef& request, const LoadResult& result);

}  // namespace fh::runner
