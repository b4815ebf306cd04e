#include "runner/starvation.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>

namespace fh::runner {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::chrono::nanoseconds run_queue_wait() {
  // "<ns on a CPU> <ns waiting on a run queue> <time slices>" (Documentation/scheduler/
  // sched-stats.rst); the calling thread's, not the process's.
  std::ifstream in("/proc/thread-self/schedstat");
  long long on_cpu = 0, waiting = 0;
  if (!(in >> on_cpu >> waiting)) return std::chrono::nanoseconds{0};
  return std::chrono::nanoseconds{waiting};
}

LoopStarvation::LoopStarvation(asio::io_context& io, RunQueueWait wait)
    : io_(io), wait_(std::move(wait)) {}

void LoopStarvation::start() {
  if (state_->running) return;
  state_->running = true;
  timer_ = std::make_shared<asio::steady_timer>(io_);
  asio::co_spawn(io_, tick(state_, timer_, wait_), asio::detached);
}

void LoopStarvation::stop() {
  state_->running = false;
  if (timer_) timer_->cancel();
}

asio::awaitable<void> LoopStarvation::tick(std::shared_ptr<State> state,
                                           std::shared_ptr<asio::steady_timer> timer,
                                           RunQueueWait wait) {
  auto due = Clock::now() + kTick;
  auto waited = wait();
  while (state->running) {
    timer->expires_at(due);
    boost::system::error_code ec;
    co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!state->running) break;
    const auto now = Clock::now();
    const auto waited_now = wait();
    // Late by this much, of which the thread sat in the run queue this much: the smaller is
    // what the machine, not the harness, cost the loop.
    const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(now - due);
    const auto queued = std::chrono::duration_cast<std::chrono::milliseconds>(waited_now - waited);
    const auto starved = std::max(std::chrono::milliseconds{0}, std::min(late, queued));
    state->worst = std::max(state->worst, starved);
    state->total += starved;
    waited = waited_now;
    due = now + kTick;
  }
}

namespace {

void widen(std::optional<scenario::MsRange>& range, double slack) {
  if (!range) return;
  if (range->min) *range->min -= slack;
  if (range->max) *range->max += slack;
}

void widen(std::optional<std::uint32_t>& limit, std::chrono::milliseconds slack) {
  if (limit) *limit += static_cast<std::uint32_t>(slack.count());
}

}  // namespace

scenario::RequestDef with_timing_slack(scenario::RequestDef request,
                                       std::chrono::milliseconds slack) {
  const auto ms = static_cast<double>(slack.count());
  for (auto& e : request.expect) {
    widen(e.first_byte_ms, ms);
    widen(e.first_body_byte_ms, ms);
    widen(e.last_byte_ms, ms);
    widen(e.streamed_ms, ms);
  }
  if (request.load) {
    widen(request.load->max_latency_ms, slack);
    widen(request.load->p99_latency_ms, slack);
  }
  return request;
}

scenario::EventCheck with_timing_slack(scenario::EventCheck check,
                                       std::chrono::milliseconds slack) {
  if (check.within_ms) *check.within_ms += static_cast<double>(slack.count());
  return check;
}

std::string describe_starvation(std::chrono::milliseconds total, std::chrono::milliseconds worst) {
  return "the harness's loop waited " + std::to_string(total.count()) +
         " ms for a CPU during the run, " + std::to_string(worst.count()) +
         " ms at once (the machine was overloaded: timers ran late, the harness's and the "
         "programs')";
}

}  // namespace fh::runner
