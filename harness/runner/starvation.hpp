// A run's loop, watched for CPU starvation, and what that means for its timing bounds.
//
// On a machine short of CPU (three harnesses and their programs on two cores, a busy CI
// runner) a timer fires late: the harness's own (a thaw due after 700 ms came after 1,053 ms
// in a soak) or a real program's (nginx's 500 ms read timeout answered at 1,266 ms). A timing
// bound that fails then says nothing about the implementation. The run ticks every 10 ms while
// the client works and notes how late each tick ran and how much of that lateness the harness's
// thread spent waiting for a CPU (the kernel's run-queue time, /proc/thread-self/schedstat):
// only that share counts, so a handler that blocks the loop itself is not called starvation.
// In a starved run every timing bound gets the run's whole starvation as slack: a request or
// check whose verdict that slack changes missed its bound by no more than the machine may have
// cost it, and is ERROR "cannot be judged", like a run whose system clock stepped. One that
// missed by more (a 4 s stall against a 2 s bound) is judged as usual.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "scenario/model.hpp"

namespace fh::runner {

/// A run whose loop waited longer than this at once is starved: the scenarios' bounds leave at
/// least 100 ms for scheduling, so shorter waits are within them.
inline constexpr std::chrono::milliseconds kStarvationTolerance{50};

/// How long the calling thread has waited for a CPU in its life (schedstat's second field);
/// zero where the kernel does not say.
std::chrono::nanoseconds run_queue_wait();

/// Ticks on the run's loop from start() to stop(), adding up its starvation: each tick's
/// lateness, capped by the run-queue time that grew during it.
class LoopStarvation {
 public:
  using RunQueueWait = std::function<std::chrono::nanoseconds()>;
  explicit LoopStarvation(boost::asio::io_context& io, RunQueueWait wait = run_queue_wait);

  void start();
  void stop();
  std::chrono::milliseconds worst() const { return state_->worst; }  // the longest at once
  std::chrono::milliseconds total() const { return state_->total; }  // all of it, added up

  static constexpr std::chrono::milliseconds kTick{10};

 private:
  struct State {
    std::chrono::milliseconds worst{0};
    std::chrono::milliseconds total{0};
    bool running = false;
  };
  static boost::asio::awaitable<void> tick(std::shared_ptr<State> state,
                                           std::shared_ptr<boost::asio::steady_timer> timer,
                                           RunQueueWait wait);

  boost::asio::io_context& io_;
  RunQueueWait wait_;
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::shared_ptr<boost::asio::steady_timer> timer_;
};

/// The same request with `slack` more room in every timing bound (first_byte_ms,
/// first_body_byte_ms, last_byte_ms and streamed_ms both ways; a load's latency limits).
scenario::RequestDef with_timing_slack(scenario::RequestDef request,
                                       std::chrono::milliseconds slack);
/// The same check with `slack` more in its `within_ms`.
scenario::EventCheck with_timing_slack(scenario::EventCheck check, std::chrono::milliseconds slack);

/// "the harness's loop waited 915 ms for a CPU during the run, 640 ms at once (...)"
std::string describe_starvation(std::chrono::milliseconds total, std::chrono::milliseconds worst);

}  // namespace fh::runner
