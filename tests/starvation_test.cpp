// A machine short of CPU: a timing bound missed while the harness's loop waited for a CPU is
// ERROR "cannot be judged", never the implementation's FAIL; what timing did not decide is
// still judged, and a loop its own handler held up is not starvation (runner/starvation.hpp).
// A real-time hog holds CPU 0 here, so ctest runs this binary alone (RUN_SERIAL).
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <optional>
#include <thread>

#include "runner/runner.hpp"
#include "runner/starvation.hpp"
#include "scenario/loader.hpp"

using namespace fh;
using scenario::Verdict;

namespace {

scenario::Scenario from_text(const std::string& yaml) {
  return scenario::load_text(yaml, "inline.yaml").at(0);
}

/// Holds one CPU for `spin` after `after`, at real-time priority, pinned with the calling
/// thread to that CPU: the thread (the harness's loop) then waits in the run queue the whole
/// time, as it does when other programs take every core. Reaped by the destructor.
class CpuHog {
 public:
  CpuHog(std::chrono::milliseconds after, std::chrono::milliseconds spin) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ::sched_getaffinity(0, sizeof saved_, &saved_);
    pinned_ = ::sched_setaffinity(0, sizeof one, &one) == 0;
    int ready[2];
    if (!pinned_ || ::pipe(ready) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      sched_param rt{};
      rt.sched_priority = 1;
      const char ok = ::sched_setscheduler(0, SCHED_FIFO, &rt) == 0 ? '1' : '0';
      (void)!::write(ready[1], &ok, 1);
      std::this_thread::sleep_for(after);
      const auto until = std::chrono::steady_clock::now() + spin;
      while (std::chrono::steady_clock::now() < until) {
      }
      ::_exit(0);
    }
    char ok = '0';
    ::close(ready[1]);
    if (pid_ > 0 && ::read(ready[0], &ok, 1) == 1) real_time_ = ok == '1';
    ::close(ready[0]);
  }
  ~CpuHog() {
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    if (pinned_) ::sched_setaffinity(0, sizeof saved_, &saved_);
  }
  bool holds() const { return pid_ > 0 && real_time_; }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
  bool real_time_ = false;
  pid_t pid_ = -1;
};

// About 300 ms of streaming (30 chunks, 10 ms apart), bounded at 600 ms twice over: by the
// response's last byte and by a check.
constexpr const char* kStreamedWithinBounds = R"(title: t
description: d
requests:
  - probe: {size: 3000, chunk: 100, delay_ms: 10}
expect:
  - {grade: PASS, status: 200, body: probe, last_byte_ms: {max: 600}}
checks:
  - {that: backend.end_request_sent, after: client.request_started, within_ms: 600}
)";

/// The scenario run while a CpuHog holds the harness's CPU for 700 ms, from 120 ms after the
/// start; nullopt when no hog could hold it.
std::optional<runner::RunResult> run_beside_a_hog(const std::string& yaml) {
  CpuHog hog(std::chrono::milliseconds(120), std::chrono::milliseconds(700));
  if (!hog.holds()) return std::nullopt;
  return runner::run_scenario(from_text(yaml));
}

bool has_event(const runner::RunResult& result, const std::string& name) {
  return std::any_of(result.events.begin(), result.events.end(),
                     [&](const auto& e) { return e.name == name; });
}

}  // namespace

// The timing bounds hold on a machine with CPU to spare, and nothing is said about starvation.
TEST(Starvation, TimingBoundsAreJudgedOnAnIdleLoop) {
  const auto result = runner::run_scenario(from_text(kStreamedWithinBounds));
  EXPECT_EQ(result.verdict, Verdict::pass) << result.reason;
  EXPECT_FALSE(has_event(result, "loop_starved"));
}

// A real-time hog takes the harness's CPU for 700 ms in the middle of the stream: the last
// byte comes about 400 ms after the bound, through no fault of the implementation. The run
// says how long it waited for a CPU, and a bound missed by less than that is ERROR "cannot be
// judged", not FAIL.
TEST(Starvation, ABoundMissedWhileTheLoopWaitedForACpuIsError) {
  if (::geteuid() != 0) GTEST_SKIP() << "a real-time priority (SCHED_FIFO) needs root";
  const auto starved_run = run_beside_a_hog(kStreamedWithinBounds);
  if (!starved_run) GTEST_SKIP() << "could not pin to CPU 0 at real-time priority";
  const auto& result = *starved_run;
  EXPECT_EQ(result.verdict, Verdict::error) << result.reason;
  const auto starved = std::find_if(result.events.begin(), result.events.end(),
                                    [](const auto& e) { return e.name == "loop_starved"; });
  ASSERT_NE(starved, result.events.end()) << result.reason;
  EXPECT_GE(starved->value, 400u);  // most of the 700 ms
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_EQ(result.requests[0].verdict, Verdict::error);
  EXPECT_NE(result.requests[0].reason.find("cannot be judged: the harness's loop waited"),
            std::string::npos)
      << result.requests[0].reason;
  EXPECT_NE(result.reason.find("check backend.end_request_sent within 600 ms after "
                               "client.request_started missed a timing bound by less than that"),
            std::string::npos)
      << result.reason;
}

// The same hog, but the stream itself takes 1.8 s against the 600 ms bound: a miss by far more
// than the 700 ms the machine cost is the implementation's, FAIL as on an idle machine (a 4 s
// stall against a 2 s bound stays the finding it is).
TEST(Starvation, ABoundMissedByMoreThanTheStarvationIsStillFail) {
  if (::geteuid() != 0) GTEST_SKIP() << "a real-time priority (SCHED_FIFO) needs root";
  std::string yaml = kStreamedWithinBounds;
  yaml.replace(yaml.find("delay_ms: 10"), 12, "delay_ms: 60");
  const auto starved_run = run_beside_a_hog(yaml);
  if (!starved_run) GTEST_SKIP() << "could not pin to CPU 0 at real-time priority";
  const auto& result = *starved_run;
  EXPECT_TRUE(has_event(result, "loop_starved")) << result.reason;
  EXPECT_EQ(result.verdict, Verdict::fail) << result.reason;
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_NE(result.requests[0].reason.find("last_byte_ms: expected <= 600"), std::string::npos)
      << result.requests[0].reason;
}

// Starvation excuses only timing: a request that fails on its status in a starved run is
// still FAIL.
TEST(Starvation, AStarvedRunStillFailsWhatTimingDidNotDecide) {
  if (::geteuid() != 0) GTEST_SKIP() << "a real-time priority (SCHED_FIFO) needs root";
  std::string yaml = kStreamedWithinBounds;
  yaml.replace(yaml.find("status: 200"), 11, "status: 404");
  const auto starved_run = run_beside_a_hog(yaml);
  if (!starved_run) GTEST_SKIP() << "could not pin to CPU 0 at real-time priority";
  const auto& result = *starved_run;
  EXPECT_TRUE(has_event(result, "loop_starved")) << result.reason;
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_EQ(result.requests[0].verdict, Verdict::fail) << result.requests[0].reason;
  EXPECT_NE(result.requests[0].reason.find("status: expected 404, got 200"), std::string::npos);
}

// A loop that its own handler holds up (a blocking call, the harness's doing) is late, but it
// did not wait for a CPU: that is not starvation, and must never excuse a bound.
TEST(Starvation, ALoopHeldUpByItsOwnHandlerIsNotStarved) {
  boost::asio::io_context io;
  runner::LoopStarvation starvation(io);
  starvation.start();
  boost::asio::steady_timer block(io, std::chrono::milliseconds(30));
  block.async_wait([](auto) { std::this_thread::sleep_for(std::chrono::milliseconds(300)); });
  boost::asio::steady_timer done(io, std::chrono::milliseconds(400));
  done.async_wait([&](auto) { starvation.stop(); });
  io.run_for(std::chrono::seconds(3));
  EXPECT_TRUE(io.stopped());  // stop() ends the ticks: nothing is left on the loop
  EXPECT_LT(starvation.worst(), runner::kStarvationTolerance);
}
