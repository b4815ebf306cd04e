// A run's loop, watched for CPU starvation, and what that means for its timing bounds.
//
// On a machine short of CPU (three harnesses and their programs on two cores, a busy CI
// runner) a timer fires late: the harness's own (a thaw due after 700 ms came after 1,053 ms
// in a soak) or a real program's (nginx's 500 ms read timeout answered at 1,266 ms). A timing
// bound that fails then says nothing about the implementation. The run ticks every 10 ms while
// the client works and notes how late each tick ran and how much of that lateness the harness's
// thread spent waiting for a CPU (the kernel's run-queue time, /proc/thread-self/schedstat):
// only that share counts, so a handler that blocks the loop itself is not called starvation.
// A check or request that fails only on its timing in a starved run is ERROR "cannot be
// judged", like a run whose system clock stepped.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "scenario/model.hpp"

namespace fh::runner {

/// More starvation than this and a timing bound can no longer be judged: the scenarios' bounds
/// leave at least 100 ms for scheduling.
inline constexpr std::chrono::milliseconds kStarvationTolerance{50};

/// How long the calling thread has waited for a CPU in its life (schedstat's second field);
/// zero where the kernel does not say.
std::chrono::nanoseconds run_queue_wait();

/// Ticks on the run's loop from start() to stop(), keeping the worst starvation seen: a tick's
/// lateness, capped by the run-queue time that grew during it.
class LoopStarvation {
 public:
  using RunQueueWait = std::function<std::chrono::nanoseconds()>;
  explicit LoopStarvation(boost::asio::io_context& io, RunQueueWait wait = run_queue_wait);

  void start();
  void stop();
  std::chrono::milliseconds worst() const { return state_->worst; }

  static constexpr std::chrono::milliseconds kTick{10};

 private:
  struct State {
    std::chrono::milliseconds worst{0};
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

/// The same request without its timing bounds (first_byte_ms, first_body_byte_ms,
/// last_byte_ms, streamed_ms; a load's latency limits): what it is judged by when the timing
/// cannot be.
scenario::RequestDef without_timing(scenario::RequestDef request);
/// The same check without its `within_ms`: its `that` need only come after its `after`.
scenario::EventCheck without_timing(scenario::EventCheck check);

/// "the harness's loop waited 353 ms for a CPU during the run (the machine was overloaded)"
std::string describe_starvation(std::chrono::milliseconds starved);

}  // namespace fh::runner
