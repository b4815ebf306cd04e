#include "runner/load.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <cstdio>
#include <memory>

#include "client/client_events.hpp"
#include "runner/verdict.hpp"

namespace fh::runner {

namespace asio = boost::asio;
using scenario::Verdict;

double LoadResult::percentile(double p) const {
  if (latency_ms.empty()) return 0;
  auto sorted = latency_ms;
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest value with at least p of the values at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

std::string LoadResult::summary(const scenario::LoadDef& load) const {
  std::string out = std::to_string(load.count) + " requests, concurrency " +
                    std::to_string(load.concurrency) + ", " + std::to_string(load.per_connection) +
                    " per connection: ";
  bool first = true;
  for (const auto& [v, n] : verdicts) {
    out += (first ? "" : ", ") + std::to_string(n) + " " + std::string(scenario::verdict_name(v));
    first = false;
  }
  if (finished < load.count)
    out += (first ? "" : ", ") + std::to_string(load.count - finished) + " unfinished";
  if (retried > 0)
    out += " (" + std::to_string(retried) +
           " sent again after the server closed an idle kept-alive connection)";
  char latency[128];
  std::snprintf(latency, sizeof latency, "; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                percentile(0.50), percentile(0.99), percentile(1.0));
  return out + latency;
}

namespace {

/// The workers share this: the next request to send and the result.
struct LoadState {
  const scenario::RequestDef& request;
  net::Address gateway;
  std::uint32_t deadline_ms;
  LoadResult& result;
  std::uint32_t next = 0;  // requests handed out
};

void judge_one(LoadState& st, const client::Exchange& x, std::uint32_t number) {
  auto& r = st.result;
  const auto v = judge(st.request, x, false, st.deadline_ms);
  ++r.verdicts[v.verdict];
  ++r.finished;
  r.latency_ms.push_back(x.connect_ms.value_or(0) + x.last_byte_ms.value_or(0));
  if (!r.first_bad && v.verdict != Verdict::pass && v.verdict != Verdict::informational) {
    r.first_bad = number;
    r.first_bad_exchange = x;
    r.first_bad_reason = v.reason;
  }
  r.last_exchange = x;
  r.last_exchange.body_prefix.clear();
}

// Nothing came back on a connection that had already served a request: the server closed an
// idle kept-alive connection as the next request went out, which RFC 9112 §9.3.1 allows
// ("a client ... MAY automatically retry" an idempotent request then). Not a lost response.
bool closed_while_idle(const client::Exchange& x) {
  return x.outcome == client::Outcome::closed_before_response && !x.first_byte_ms;
}

// Requests first+1 .. first+n on kept-alive connections: the first request on a connection
// is always judged; one that the server's close of an idle connection cut off is sent again
// on a new connection, and counted as retried.
asio::awaitable<void> send_on_connections(std::shared_ptr<LoadState> st, std::uint32_t first,
                                          std::uint32_t n) {
  std::uint32_t judged = 0;
  while (judged < n) {
    const std::uint32_t left = n - judged;
    std::vector<client::Exchange> exchanges(left);
    if (left == 1) {
      co_await client::exchange(st->gateway, st->request.spec, exchanges[0]);
    } else {
      std::vector<client::ConnectionRequest> requests;
      for (std::uint32_t i = 0; i < left; ++i)
        requests.push_back({st->request.spec, &exchanges[i], first + judged + i + 1});
      co_await client::exchange_connection(st->gateway, std::move(requests));
    }
    std::uint32_t i = 0;
    for (; i < left; ++i) {
      if (i > 0 && closed_while_idle(exchanges[i])) break;
      judge_one(*st, exchanges[i], first + judged + i + 1);
    }
    if (i < left) ++st->result.retried;  // the one cut off; the rest had not gone out yet
    judged += i;
  }
}

// One worker: a connection's worth of requests at a time until none are left.
asio::awaitable<void> worker(std::shared_ptr<LoadState> st) {
  const auto& load = *st->request.load;
  while (st->next < load.count) {
    const auto first = st->next;
    const auto n = std::min(load.per_connection, load.count - first);
    st->next += n;
    st->result.started += n;
    co_await send_on_connections(st, first, n);
  }
}

}  // namespace

asio::awaitable<void> run_load(net::Address gateway, const scenario::RequestDef& request,
                               std::uint32_t number, std::uint32_t deadline_ms, LoadResult& result,
                               events::Bus& bus) {
  const auto& load = *request.load;
  bus.publish(client::client_events::request_started, number, 0, 0,
              request.name + ": " + request.spec.method + " " + request.spec.target + " x" +
                  std::to_string(load.count));
  auto st = std::make_shared<LoadState>(LoadState{request, gateway, deadline_ms, result});
  const auto executor = co_await asio::this_coro::executor;
  // The workers run side by side as one parallel group: cancelling the run (deadline,
  // teardown) cancels every worker's exchange with it.
  using Op = decltype(asio::co_spawn(executor, worker(st), asio::deferred));
  std::vector<Op> workers;
  for (std::uint32_t i = 0; i < std::min(load.concurrency, load.count); ++i)
    workers.push_back(asio::co_spawn(executor, worker(st), asio::deferred));
  auto group = asio::experimental::make_parallel_group(std::move(workers));
  auto [order, errors] =
      co_await group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);  // a harness defect: the run says so
  std::uint32_t lost = 0;
  for (const auto& [v, n] : result.verdicts)
    if (v != Verdict::pass && v != Verdict::informational) lost += n;
  bus.publish(client::client_events::load_finished, number, 0, lost, result.summary(load));
}

LoadVerdict judge_load(const scenario::RequestDef& request, const LoadResult& result) {
  const auto& load = *request.load;
  LoadVerdict out;
  std::string why;
  for (const auto& [v, n] : result.verdicts)
    if (n > 0) out.verdict = scenario::worst(out.verdict, v);
  if (result.finished < load.count) {
    out.verdict = Verdict::fail;
    why += "\n" + std::to_string(load.count - result.finished) +
           " request(s) unfinished at the deadline (lost, or stalled behind another)";
  }
  char line[160];
  if (load.max_latency_ms && result.percentile(1.0) > *load.max_latency_ms) {
    out.verdict = Verdict::fail;
    std::snprintf(line, sizeof line, "\nthe slowest request took %.1f ms (max_latency_ms %u)",
                  result.percentile(1.0), *load.max_latency_ms);
    why += line;
  }
  if (load.p99_latency_ms && result.percentile(0.99) > *load.p99_latency_ms) {
    out.verdict = Verdict::fail;
    std::snprintf(line, sizeof line, "\nthe 99th percentile is %.1f ms (p99_latency_ms %u)",
                  result.percentile(0.99), *load.p99_latency_ms);
    why += line;
  }
  if (result.first_bad)
    why += "\nthe first bad response, #" + std::to_string(*result.first_bad) + ": " +
           result.first_bad_reason;
  out.reason = request.name + ": load: " + result.summary(load) + why;
  return out;
}

}  // namespace fh::runner
