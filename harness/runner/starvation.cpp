#include "runner/starvation.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <limits>

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
    state->worst = std::max(state->worst, std::min(late, queued));
    waited = waited_now;
    due = now + kTick;
  }
}

scenario::RequestDef without_timing(scenario::RequestDef request) {
  for (auto& e : request.expect) {
    e.first_byte_ms.reset();
    e.first_body_byte_ms.reset();
    e.last_byte_ms.reset();
    e.streamed_ms.reset();
  }
  if (request.load) {
    request.load->max_latency_ms.reset();
    request.load->p99_latency_ms.reset();
  }
  return request;
}

scenario::EventCheck without_timing(scenario::EventCheck check) {
  if (check.within_ms) check.within_ms = std::numeric_limits<double>::infinity();
  return check;
}

std::string describe_starvation(std::chrono::milliseconds starved) {
  return "the harness's loop waited " + std::to_string(starved.count()) +
         " ms at once for a CPU during the run (the machine was overloaded: timers ran late, "
         "the harness's and the programs')";
}

}  // namespace fh::runner
