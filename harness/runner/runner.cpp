// One scenario run, in its phases: prepare (a private folder, the loop, the bus, the
// parties), start (backend, gateway, their faults, the observers), drive (the client's requests
// until they are done or the deadline), snapshot (what the client had then), tear down
// (observers off, client cancelled, parties stopped, the loop drained), judge (each request
// against its expectations, each check over the joined log) and keep the evidence.
#include "runner/runner.hpp"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>

#include "client/client_events.hpp"
#include "events/harness_events.hpp"
#include "peers/custody.hpp"
#include "runner/interrupt.hpp"
#include "runner/load.hpp"
#include "runner/run_observers.hpp"
#include "runner/starvation.hpp"
#include "runner/timeline.hpp"
#include "runner/topology.hpp"
#include "scenario/vocabulary.hpp"

namespace fh::runner {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// The steady and the system clock read together: the wire's packet stamps and strace's times
/// (system clock) are mapped onto the run's steady clock through such a pair. The best of three
/// readings, the one whose system read sits in the narrowest steady window (a preemption
/// between two reads would shift the pair).
struct ClockPair {
  Clock::time_point steady;
  std::chrono::system_clock::time_point system;
};
ClockPair read_clock_pair(const std::function<std::chrono::system_clock::time_point()>& now) {
  ClockPair best;
  auto narrowest = Clock::duration::max();
  for (int i = 0; i < 3; ++i) {
    const auto before = Clock::now();
    const auto system = now();
    const auto after = Clock::now();
    if (after - before < narrowest) {
      narrowest = after - before;
      best = {before + (after - before) / 2, system};
    }
  }
  return best;
}

/// How far the system clock moved against the steady clock from `from` to `to` (a step, or a
/// slew of one clock only): 0 when the two kept pace.
std::chrono::microseconds clock_moved(const ClockPair& from, const ClockPair& to) {
  return std::chrono::duration_cast<std::chrono::microseconds>((to.system - from.system) -
                                                               (to.steady - from.steady));
}

/// More than this and the wire's and strace's times no longer order with the parties' events
/// within a check's precision (a terminator and its receipt are about 0.4 ms apart on lo).
constexpr std::chrono::microseconds kClockStepTolerance{100};

std::string describe_clock_step(std::chrono::microseconds moved) {
  return "the system clock moved " + std::string(moved.count() > 0 ? "+" : "") +
         std::to_string(moved.count()) + " us against the steady clock during the run";
}

/// Whether a check orders or counts events stamped on the system clock (its `that`, `after`
/// or `before` selector names one).
bool joins_system_clock(const scenario::EventCheck& check) {
  const auto system = [](const events::Selector& selector) {
    const auto* decl = scenario::find_event(selector);
    return decl && events::on_system_clock(decl->source);
  };
  return system(check.that) || (check.after && system(*check.after)) ||
         (check.before && system(*check.before));
}

/// A private directory for the run's unix sockets, configs and logs, removed whatever happens.
class RunDirectory {
 public:
  RunDirectory() {
    path_ = peers::custody::make_run_folder();  // removed by the watchdog if the harness is killed
  }
  ~RunDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// Copies the real programs' configs and logs (files or folders in the run folder) under
/// `to`, keeping their paths relative to the run folder.
void copy_peer_artefacts(const std::vector<fs::path>& artefacts, const fs::path& run_dir,
                         const fs::path& to) {
  for (const auto& p : artefacts) {
    std::error_code ec;
    if (!fs::exists(p, ec)) continue;  // a log the program never wrote
    auto relative = p.lexically_relative(run_dir);
    if (relative.empty() || *relative.begin() == "..") relative = p.filename();
    const auto target = to / relative;
    fs::create_directories(target.parent_path());
    fs::copy(p, target,
             fs::copy_options::recursive | fs::copy_options::overwrite_existing |
                 fs::copy_options::copy_symlinks);
  }
}

/// The client side of a run. Its coroutines are members, not lambdas, so their state lives in
/// this object for the whole run rather than in a closure that may die before they finish.
struct ClientDriver {
  const scenario::Scenario& scenario;
  net::Address gateway;
  std::vector<client::Exchange> exchanges;
  std::vector<bool> finished;
  std::size_t remaining;
  events::Bus& bus;
  std::vector<LoadResult> loads;  // for each request with load: (others: empty)

  // One client connection: a request of its own, or every request sharing client.connection
  // (keep-alive, pipelined where client.pipeline says so).
  asio::awaitable<void> one(std::vector<std::size_t> group) {
    if (const auto& load_request = scenario.requests[group[0]]; load_request.load) {
      // A load request has its connections to itself (the loader sees to it).
      const auto i = group[0];
      co_await run_load(gateway, load_request, static_cast<std::uint32_t>(i + 1),
                        scenario.deadline_ms, loads[i], bus);
      finished[i] = true;
      remaining -= 1;
      co_return;
    }
    std::vector<client::ConnectionRequest> requests;
    for (const auto i : group) {
      bus.publish(client::client_events::request_started, static_cast<std::uint32_t>(i + 1), 0, 0,
                  scenario.requests[i].name + ": " + scenario.requests[i].spec.method + " " +
                      scenario.requests[i].spec.target);
      requests.push_back(client::ConnectionRequest{scenario.requests[i].spec, &exchanges[i],
                                                   static_cast<std::uint32_t>(i + 1)});
    }
    co_await client::exchange_connection(gateway, std::move(requests), &bus);
    for (const auto i : group) finished[i] = true;
    remaining -= group.size();
  }
  std::vector<std::vector<std::size_t>> connections() const {
    std::vector<std::string> names;
    for (const auto& r : scenario.requests) names.push_back(r.spec.client.connection);
    return client::connection_groups(names);
  }
  asio::awaitable<void> in_turn() {
    for (auto& group : connections()) co_await one(group);
  }
};

/// True for the exception a coroutine ends with when it was cancelled.
bool is_cancellation(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& error) {
    return error.code() == asio::error::operation_aborted;
  } catch (...) {
    return false;
  }
}

/// One scenario run; its member functions are the phases, called in order by run_scenario.
class Run {
 public:
  Run(const scenario::Scenario& s, const RunOptions& options, Clock::time_point started)
      : s_(s),
        options_(options),
        started_(started),
        origin_(read_clock_pair(options.system_clock)),
        bus_(started),
        topology_(s, io_, bus_, dir_.path()),
        observers_(s, bus_, dir_.path()),
        client_{s,
                {},
                std::vector<client::Exchange>(s.requests.size()),
                std::vector<bool>(s.requests.size(), false),
                s.requests.size(),
                bus_,
                std::vector<LoadResult>(s.requests.size())},
        cancel_(s.requests.size()) {}

  ~Run() {
    if (started_parties_ && !evidence_kept_ && !options_.artifacts_dir.empty() &&
        options_.keep != KeepEvidence::none) {
      // A run that stopped early (setup, harness failure, interrupt) keeps what there is.
      try {
        keep_evidence("ERROR", "the run stopped early (setup, harness failure or interrupt)",
                      bus_.log());
      } catch (const std::exception& e) {
        spdlog::warn("could not keep the evidence of a failed run: {}", e.what());
      }
    }
    // Members tear down in reverse: the client is cancelled with the loop, then the
    // observers, then the parties (stopped and reaped), then the folder.
  }

  /// Why the scenario cannot run here; nullopt when it can.
  std::optional<std::string> missing() const {
    std::string reasons;
    if (auto why = topology_.missing()) reasons = *why;
    if (auto why = observers_.missing()) reasons += (reasons.empty() ? "" : "; ") + *why;
    if (reasons.empty()) return std::nullopt;
    return reasons;
  }

  void start() {
    started_parties_ = true;
    topology_.start();
    lanes_ = observers_.lanes(topology_.gateway(), topology_.backend());
    observers_.start(topology_.gateway(), topology_.backend(), topology_.pump());
    client_.gateway = topology_.gateway().address();
  }

  /// The client's requests until they are all done, a harness failure, or the deadline,
  /// counted from now: a real program's start (a first Go build takes seconds) is not the
  /// scenario's time.
  void drive() {
    auto on_done = [this](std::exception_ptr e) {
      // The teardown cancels the client: its exception then is the cancellation itself.
      if (e && !harness_failure_ && !tearing_down_ && !is_cancellation(e)) harness_failure_ = e;
    };
    if (s_.parallel) {
      for (auto& group : client_.connections())
        asio::co_spawn(io_, client_.one(group),
                       asio::bind_cancellation_slot(cancel_[group[0]].slot(), on_done));
    } else {
      asio::co_spawn(io_, client_.in_turn(),
                     asio::bind_cancellation_slot(cancel_[0].slot(), on_done));
    }
    starvation_.start();
    const auto deadline = Clock::now() + std::chrono::milliseconds(s_.deadline_ms);
    // Short slices so a Ctrl-C is noticed within 50 ms even while nothing happens.
    while (client_.remaining > 0 && !harness_failure_ && !io_.stopped() && !interrupted() &&
           Clock::now() < deadline)
      run_one(std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
    // A timing check ("X within N ms after Y") whose Y came but whose X and N ms have not yet:
    // the run goes on until it is decided, so the end of the client's work does not cut it
    // short (a wait that returns a result, not a sleep).
    while (client_.remaining == 0 && !harness_failure_ && !io_.stopped() && !interrupted() &&
           Clock::now() < deadline) {
      const auto until = undecided_timing_check();
      if (!until) break;
      run_one(std::min({deadline, *until, Clock::now() + std::chrono::milliseconds(50)}));
    }
    starvation_.stop();
  }

  /// When the first undecided timing check is decided at the latest; nullopt when none is
  /// open. Only checks on the parties' own events: wire and syscall events are published
  /// after the run, so waiting for them would only delay it.
  std::optional<Clock::time_point> undecided_timing_check() const {
    std::optional<Clock::time_point> latest;
    const auto now = Clock::now();
    for (const auto& c : s_.checks) {
      const auto* decl = scenario::find_event(c.that);
      if (!decl || events::on_system_clock(decl->source)) continue;
      const auto closes = open_until(c, bus_.log(), now);
      if (closes && (!latest || *closes > *latest)) latest = closes;
    }
    return latest;
  }

  /// What had arrived when the deadline hit; requests unfinished by then are hung, whatever
  /// the teardown makes of them.
  struct Snapshot {
    std::vector<client::Exchange> exchanges;
    std::vector<bool> finished;
    std::vector<LoadResult> loads;
  };
  Snapshot snapshot() const { return {client_.exchanges, client_.finished, client_.loads}; }

  /// Observers off first (the teardown's closes are not the run's), then the client is
  /// cancelled, the parties stopped and every coroutine let finish (2 s at most).
  void tear_down() {
    observers_.stop([this](Clock::time_point until) {
      while (!harness_failure_ && !io_.stopped() && Clock::now() < until) run_one(until);
    });
    tearing_down_ = true;
    for (auto& c : cancel_) c.emit(asio::cancellation_type::terminal);
    topology_.stop();
    io_.restart();
    try {
      io_.run_for(std::chrono::seconds(2));
    } catch (const std::exception& e) {
      note_internal_error("the loop, while tearing down", e.what());
    }
    drained_ = io_.stopped();
    if (harness_failure_) std::rethrow_exception(harness_failure_);
    throw_if_interrupted();  // after the teardown above: nothing is left behind
  }

  RunResult judge(const Snapshot& snapshot) {
    RunResult result;
    if (starvation_.worst() > kStarvationTolerance) {
      starved_ = starvation_.total();
      bus_.publish(events::harness_events::loop_starved, 0, 0,
                   static_cast<std::uint64_t>(starved_->count()),
                   describe_starvation(*starved_, starvation_.worst()));
    }
    for (std::size_t i = 0; i < s_.requests.size(); ++i) {
      RequestResult r;
      r.name = s_.requests[i].name;
      r.exchange = snapshot.exchanges[i];
      // A response read in time is not hung while its shared connection still waits.
      r.hung = !snapshot.finished[i] && snapshot.exchanges[i].outcome == client::Outcome::pending;
      if (s_.requests[i].load) {
        // The row shows the first bad response, or the last one; the verdict is the load's.
        const auto& load = snapshot.loads[i];
        r.exchange = load.first_bad ? load.first_bad_exchange : load.last_exchange;
        r.hung = false;
        r.load = load;
        auto v = judge_load(s_.requests[i], load);
        if (starved_ &&
            judge_load(with_timing_slack(s_.requests[i], *starved_), load).verdict != v.verdict)
          v = {Verdict::error, timing_unjudgeable("request " + r.name, v.reason)};
        r.verdict = v.verdict;
        r.reason = v.reason;
        result.requests.push_back(std::move(r));
        continue;
      }
      auto v = runner::judge(s_.requests[i], r.exchange, r.hung, s_.deadline_ms);
      if (starved_ && runner::judge(with_timing_slack(s_.requests[i], *starved_), r.exchange,
                                    r.hung, s_.deadline_ms)
                              .verdict != v.verdict)
        v = {Verdict::error, timing_unjudgeable("request " + r.name, v.reason)};
      r.verdict = v.verdict;
      r.reason = v.reason;
      result.requests.push_back(std::move(r));
    }
    // The wire's and the kernel's events join the bus before any check is judged; they are
    // interleaved with the parties' by time (a stable sort keeps each party's own order).
    log_ = bus_.log();
    const auto moved = clock_moved(origin_, read_clock_pair(options_.system_clock));
    if (observers_.publish(topology_.gateway(), topology_.backend(), origin_.steady,
                           origin_.system)) {
      if (std::chrono::abs(moved) > kClockStepTolerance) {
        clock_step_ = moved;
        bus_.publish(events::harness_events::clock_stepped, 0, 0,
                     static_cast<std::uint64_t>(std::chrono::abs(moved).count()),
                     describe_clock_step(moved));
      }
      log_ = bus_.log();
      std::stable_sort(log_.begin(), log_.end(),
                       [](const events::Event& a, const events::Event& b) { return a.at < b.at; });
    }
    result.timeline = timeline_text(lanes_, bus_, log_);
    result.events = log_;

    // The scenario's verdict is the worst of its requests' and its checks'.
    std::vector<std::pair<Verdict, std::string>> verdicts;
    for (const auto& r : result.requests) verdicts.emplace_back(r.verdict, r.reason);
    for (const auto& check : s_.checks) {
      auto v = judge_check(check, result.events);
      if (clock_step_ && v.verdict != Verdict::pass && joins_system_clock(check)) {
        v.verdict = Verdict::error;
        v.reason = "cannot be judged: " + describe_clock_step(*clock_step_) + "; " +
                   check.describe() + " orders wire or syscall events, on that clock (" + v.reason +
                   ")";
      }
      if (starved_ && v.verdict != Verdict::error &&
          judge_check(with_timing_slack(check, *starved_), result.events).verdict != v.verdict)
        v = {Verdict::error, timing_unjudgeable("check " + check.describe(), v.reason)};
      verdicts.emplace_back(v.verdict, v.reason);
    }
    result.verdict = Verdict::pass;
    for (const auto& [v, _] : verdicts) result.verdict = scenario::worst(result.verdict, v);
    std::string reasons;
    for (const auto& [v, reason] : verdicts)
      if (v == result.verdict) reasons += (reasons.empty() ? "" : "\n") + reason;
    result.reason = reasons;
    if (!bus_.overflow().empty()) flooded(result);
    // What makes the run unjudgeable, worst last.
    if (auto losses = observers_.capture_losses()) {
      result.verdict = Verdict::error;
      result.reason = "the wire capture lost packets (" + *losses +
                      "): the wire events have holes, nothing can be judged from them\n" +
                      result.reason;
    }
    for (const auto& e : log_)
      if (e.decl == &events::harness_events::internal_error) {
        result.verdict = Verdict::error;
        result.reason = "harness defect: " + e.detail + "\n" + result.reason;
      }
    if (!drained_) {
      result.verdict = Verdict::error;
      result.reason =
          "harness defect: the fakes did not shut down within 2 s after the run\n" + result.reason;
    }
    return result;
  }

  /// The reason of a request or check whose verdict the starvation's slack changes, in a run
  /// whose loop was starved (see starvation.hpp).
  std::string timing_unjudgeable(const std::string& what, const std::string& reason) const {
    return "cannot be judged: " + describe_starvation(*starved_, starvation_.worst()) + "; " +
           what + " missed a timing bound by less than that (" + reason + ")";
  }

  /// A peer published more events than the log keeps (events::Bus::kLogLimit): a flood of
  /// records, requests or bytes. That is the peer's doing, a FAIL saying what came, most first.
  void flooded(RunResult& result) const {
    std::vector<std::pair<std::uint64_t, std::string>> counted;
    for (const auto& [name, times] : bus_.overflow()) counted.emplace_back(times, name);
    std::sort(counted.rbegin(), counted.rend());
    std::string what;
    for (std::size_t i = 0; i < counted.size() && i < 3; ++i)
      what += (i ? ", " : "") + counted[i].second + " x " + std::to_string(counted[i].first);
    result.verdict = scenario::worst(result.verdict, Verdict::fail);
    result.reason = "flooded: more than " + std::to_string(events::Bus::kLogLimit) +
                    " events in the run; after those, only counted (the checks saw the first " +
                    std::to_string(events::Bus::kLogLimit) + "): " + what + "\n" + result.reason;
  }

  void keep_evidence(RunResult& result) {
    evidence_kept_ = true;
    const bool failed = result.verdict == Verdict::fail || result.verdict == Verdict::error;
    if (options_.artifacts_dir.empty() || !(options_.keep == KeepEvidence::all ||
                                            (options_.keep == KeepEvidence::failures && failed)))
      return;
    try {
      keep_evidence(std::string(scenario::verdict_name(result.verdict)), result.reason, log_);
      result.evidence_dir = options_.artifacts_dir;
    } catch (const std::exception& e) {
      result.verdict = Verdict::error;
      result.reason = std::string("could not keep the run's evidence under ") +
                      options_.artifacts_dir.string() + ": " + e.what() + "\n" + result.reason;
    }
  }

 private:
  void run_one(Clock::time_point until) {
    try {
      io_.run_one_until(until);
    } catch (const std::exception& e) {
      // A coroutine of a fake or the client ended with an exception nobody caught: never
      // silently (issue: errors never vanish).
      note_internal_error("a coroutine of the run", e.what());
    }
  }

  void note_internal_error(const std::string& where, const std::string& what) {
    bus_.publish(events::harness_events::internal_error, 0, 0, 0, where + ": " + what);
  }

  void keep_evidence(const std::string& verdict, const std::string& reason,
                     const std::vector<events::Event>& log) {
    const auto& to = options_.artifacts_dir;
    fs::create_directories(to);
    write_timeline_json(to / "timeline.json", {s_.display_name(), s_.file, verdict, reason}, lanes_,
                        bus_, log);
    observers_.save_capture(to / "capture.pcapng");
    observers_.stop({});  // strace flushes its log when it detaches
    auto artefacts = topology_.artefacts();
    for (auto& p : observers_.artefacts()) artefacts.push_back(p);
    copy_peer_artefacts(artefacts, dir_.path(), to / "peers");
  }

  const scenario::Scenario& s_;
  const RunOptions& options_;
  Clock::time_point started_;
  ClockPair origin_;  // where the wire's and strace's times line up with the parties'
  std::optional<std::chrono::microseconds> clock_step_;  // how far the system clock moved
  std::optional<std::chrono::milliseconds> starved_;     // the loop's waits for a CPU, added up
  RunDirectory dir_;
  asio::io_context io_;
  LoopStarvation starvation_{io_};
  events::Bus bus_;
  Topology topology_;
  RunObservers observers_;
  std::vector<Lane> lanes_ = {{"client", "the harness's HTTP/1.1 client"}};
  ClientDriver client_;
  std::vector<asio::cancellation_signal> cancel_;
  std::exception_ptr harness_failure_;
  bool tearing_down_ = false;
  bool drained_ = true;
  bool started_parties_ = false;
  bool evidence_kept_ = false;
  std::vector<events::Event> log_;
};

}  // namespace

RunResult run_scenario(const scenario::Scenario& s, const RunOptions& options) {
  RunResult result;
  const auto started = Clock::now();
  if (s.skip) {
    result.verdict = Verdict::skip;
    result.reason = *s.skip;
    return result;
  }
  try {
    Run run(s, options, started);  // prepare
    if (auto missing = run.missing()) {
      result.verdict = Verdict::skip;
      result.reason = "not installed here: " + *missing;
      result.duration_ms = ms_between(started, Clock::now());
      return result;
    }
    run.start();
    run.drive();
    const auto snapshot = run.snapshot();
    run.tear_down();
    result = run.judge(snapshot);
    run.keep_evidence(result);
  } catch (const PartyNotReady& e) {
    result = RunResult{};
    const bool under_test = e.role() == options.under_test;
    result.verdict = under_test ? Verdict::fail : Verdict::error;
    result.reason = std::string(under_test ? "the implementation under test"
                                           : "setup failure: the " + e.role()) +
                    " did not answer a plain request correctly: " + e.what();
  } catch (const Interrupted&) {
    // Unwinding stopped every program and removed the run's folder.
    result = RunResult{};
    result.verdict = Verdict::error;
    result.reason = "interrupted by a signal; the run was stopped and cleaned up";
  } catch (const std::exception& e) {
    result = RunResult{};
    result.verdict = Verdict::error;
    result.reason = std::string("harness or setup failure: ") + e.what();
  }
  result.duration_ms = ms_between(started, Clock::now());
  return result;
}

}  // namespace fh::runner
