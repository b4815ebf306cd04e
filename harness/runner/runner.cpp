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

#include "observers/pcap_capture.hpp"
#include "observers/tcp_reassembly.hpp"
#include "observers/wire_decoder.hpp"
#include "runner/interrupt.hpp"
#include "runner/timeline.hpp"
#include "runner/topology.hpp"

namespace fh::runner {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

/// A private directory for the run's unix sockets, removed whatever happens.
class RunDirectory {
 public:
  RunDirectory() {
    std::string templ = (std::filesystem::temp_directory_path() / "fcgi-harness-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~RunDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Copies the real programs' configs and logs (files or folders in the run folder) under
/// `to`, keeping their paths relative to the run folder.
void copy_peer_artefacts(const std::vector<std::filesystem::path>& artefacts,
                         const std::filesystem::path& run_dir, const std::filesystem::path& to) {
  namespace fs = std::filesystem;
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
  std::vector<Clock::time_point> started;
  std::size_t remaining;

  events::Bus& bus;

  // One client connection: a request of its own, or every request sharing client.connection
  // (keep-alive, pipelined where client.pipeline says so).
  asio::awaitable<void> one(std::vector<std::size_t> group) {
    std::vector<client::ConnectionRequest> requests;
    for (const auto i : group) {
      started[i] = Clock::now();
      bus.publish("client", "request_started", static_cast<std::uint32_t>(i + 1), 0, 0,
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

}  // namespace

RunResult run_scenario(const scenario::Scenario& s, const RunOptions& options) {
  RunResult result;
  const auto started = Clock::now();
  // The wire's packet times are system-clock; both origins taken together line them up.
  const auto started_system = std::chrono::system_clock::now();
  if (s.skip) {
    result.verdict = Verdict::skip;
    result.reason = *s.skip;
    return result;
  }
  try {
    RunDirectory dir;
    asio::io_context io;
    events::Bus bus(started);

    Topology topology(s, io, bus, dir.path());
    if (auto missing = topology.missing()) {
      result.verdict = Verdict::skip;
      result.reason = "not installed here: " + *missing;
      result.duration_ms = ms_between(started, Clock::now());
      return result;
    }
    // The wire observer: every TCP leg of the run (pcap cannot see unix-socket legs), from
    // before the client's first SYN until the client is done.
    std::unique_ptr<observers::PcapCapture> capture;

    // The lanes of the joined timeline and who is behind each in this run.
    std::vector<Lane> lanes = {{"client", "the harness's HTTP/1.1 client"},
                               {"gateway", topology.describe_role("gateway")},
                               {"backend", topology.describe_role("backend")},
                               {"harness", "readiness, faults fired, observers"}};
    if (s.observe.wire)
      lanes.push_back({"wire", "pcap on lo: the TCP legs, FastCGI and HTTP decoded"});

    // The evidence is copied out before the run folder goes. A run that throws keeps what
    // there is (the destructor runs before the topology's and the folder's).
    const auto keep_evidence = [&](const std::string& verdict, const std::string& reason,
                                   const std::vector<events::Event>& log) {
      namespace fs = std::filesystem;
      const auto& to = options.artifacts_dir;
      fs::create_directories(to);
      write_timeline_json(to / "timeline.json", {s.display_name(), s.file, verdict, reason}, lanes,
                          bus, log);
      if (capture) {
        if (capture->running()) capture->stop();
        capture->save_pcapng((to / "capture.pcapng").string());
      }
      topology.stop_syscall_observers();  // strace flushes its log when it detaches
      copy_peer_artefacts(topology.artefacts(), dir.path(), to / "peers");
      result.evidence_dir = to;
    };
    struct EvidenceOnThrow {
      std::function<void()> keep;
      bool done = false;
      ~EvidenceOnThrow() {
        if (done || !keep) return;
        try {
          keep();
        } catch (const std::exception& e) {
          spdlog::warn("could not keep the evidence of a failed run: {}", e.what());
        }
      }
    } evidence_on_throw;
    if (!options.artifacts_dir.empty() && options.keep != KeepEvidence::none)
      evidence_on_throw.keep = [&] {
        keep_evidence("ERROR", "the run stopped early (setup, harness failure or interrupt)",
                      bus.log());
      };

    topology.start();

    observers::WireRoles wire_roles;
    std::vector<std::uint16_t> wire_ports;
    if (s.observe.wire) {
      wire_roles.gateway_port = topology.gateway_address().port;
      wire_ports.push_back(wire_roles.gateway_port);
      if (topology.backend_address().is_tcp()) {
        wire_roles.backend_port = topology.backend_address().port;
        wire_ports.push_back(wire_roles.backend_port);
      }
      capture = std::make_unique<observers::PcapCapture>();
      try {
        capture->start(wire_ports);
      } catch (const observers::CaptureError& e) {
        throw std::runtime_error(std::string("observe: {wire: true}: the capture on lo could not "
                                             "start (it needs root or CAP_NET_RAW): ") +
                                 e.what());
      }
    }

    const std::size_t n = s.requests.size();
    ClientDriver client{s,
                        topology.gateway_address(),
                        std::vector<client::Exchange>(n),
                        std::vector<bool>(n, false),
                        std::vector<Clock::time_point>(n, started),
                        n,
                        bus};
    std::vector<asio::cancellation_signal> cancel(n);
    std::exception_ptr harness_failure;
    bool tearing_down = false;
    auto on_done = [&](std::exception_ptr e) {
      // An exception from a coroutine the teardown cancelled is the cancellation itself.
      if (e && !harness_failure && !tearing_down) harness_failure = e;
    };
    if (s.parallel) {
      for (auto& group : client.connections())
        asio::co_spawn(io, client.one(group),
                       asio::bind_cancellation_slot(cancel[group[0]].slot(), on_done));
    } else {
      asio::co_spawn(io, client.in_turn(), asio::bind_cancellation_slot(cancel[0].slot(), on_done));
    }

    // Every wait of the run is bounded by the scenario's deadline, counted from when the
    // topology is ready: a real program's start (a first Go build takes seconds) is not the
    // scenario's time.
    const auto deadline = Clock::now() + std::chrono::milliseconds(s.deadline_ms);
    // Short slices so a Ctrl-C is noticed within 50 ms even while nothing happens.
    while (client.remaining > 0 && !harness_failure && !io.stopped() && !interrupted() &&
           Clock::now() < deadline)
      io.run_one_until(std::min(deadline, Clock::now() + std::chrono::milliseconds(50)));
    // What had arrived when the deadline hit; requests unfinished by then are hung, whatever
    // the teardown below makes of them.
    const auto snapshot = client.exchanges;
    const auto finished_in_time = client.finished;

    // The capture ends before the teardown, so the teardown's closes are not the run's.
    std::optional<observers::CaptureStats> wire_stats;
    if (capture) {
      // A moment for the segments the client's last read raced with (the backend's FIN).
      const auto settle = Clock::now() + std::chrono::milliseconds(20);
      while (!harness_failure && !io.stopped() && Clock::now() < settle) io.run_one_until(settle);
      wire_stats = capture->stop();
    }
    topology.stop_syscall_observers();

    // Teardown: cancel the client, close both fakes, let every coroutine finish.
    tearing_down = true;
    for (auto& c : cancel) c.emit(asio::cancellation_type::terminal);
    topology.stop();
    io.restart();
    io.run_for(std::chrono::seconds(2));
    const bool drained = io.stopped();
    if (harness_failure) std::rethrow_exception(harness_failure);
    throw_if_interrupted();  // after the teardown above: nothing is left behind

    for (std::size_t i = 0; i < n; ++i) {
      RequestResult r;
      r.name = s.requests[i].name;
      r.exchange = snapshot[i];
      // A response read in time is not hung while its shared connection still waits.
      r.hung = !finished_in_time[i] && snapshot[i].outcome == client::Outcome::pending;
      auto v = judge(s.requests[i], r.exchange, r.hung, s.deadline_ms);
      r.verdict = v.verdict;
      r.reason = v.reason;
      result.requests.push_back(std::move(r));
    }

    // The wire's and the kernel's events join the bus before any check is judged.
    std::vector<events::Event> log = bus.log();
    if (capture) {
      observers::Reassembler tcp(wire_ports);
      tcp.add_all(capture->packets(), capture->linktype());
      observers::WireDecoder decoder(wire_roles);
      decoder.decode(tcp);
      decoder.publish_to(bus, started, started_system);
      observers::publish_capture_stats(bus, *wire_stats);
    }
    topology.publish_syscalls(started, started_system);
    if (capture || s.observe.gateway_syscalls || s.observe.backend_syscalls) {
      // Packet and syscall times are interleaved with the parties' by time (a stable sort
      // keeps each party's own order).
      log = bus.log();
      std::stable_sort(log.begin(), log.end(),
                       [](const events::Event& a, const events::Event& b) { return a.at < b.at; });
    }
    result.timeline = timeline_text(lanes, bus, log);
    result.events = log;

    // The scenario's verdict is the worst of its requests' and its checks'.
    std::vector<std::pair<Verdict, std::string>> verdicts;
    for (const auto& r : result.requests) verdicts.emplace_back(r.verdict, r.reason);
    for (const auto& check : s.checks) {
      auto v = judge_check(check, result.events);
      verdicts.emplace_back(v.verdict, v.reason);
    }
    result.verdict = Verdict::pass;
    for (const auto& [v, _] : verdicts) result.verdict = scenario::worst(result.verdict, v);
    std::string reasons;
    for (const auto& [v, reason] : verdicts)
      if (v == result.verdict) reasons += (reasons.empty() ? "" : "\n") + reason;
    result.reason = reasons;
    if (wire_stats && wire_stats->lost_packets()) {
      result.verdict = Verdict::error;
      result.reason = "the wire capture lost packets (" + wire_stats->to_string() +
                      "): the wire events have holes, nothing can be judged from them\n" +
                      result.reason;
    }
    if (!drained) {
      result.verdict = Verdict::error;
      result.reason =
          "harness defect: the fakes did not shut down within 2 s after the run\n" + result.reason;
    }
    evidence_on_throw.done = true;
    const bool failed = result.verdict == Verdict::fail || result.verdict == Verdict::error;
    if (!options.artifacts_dir.empty() &&
        (options.keep == KeepEvidence::all || (options.keep == KeepEvidence::failures && failed))) {
      try {
        keep_evidence(std::string(scenario::verdict_name(result.verdict)), result.reason, log);
      } catch (const std::exception& e) {
        result.verdict = Verdict::error;
        result.reason = std::string("could not keep the run's evidence under ") +
                        options.artifacts_dir.string() + ": " + e.what() + "\n" + result.reason;
      }
    }
  } catch (const Interrupted&) {
    // Unwinding stopped every program and removed the run's folder.
    result.verdict = Verdict::error;
    result.reason = "interrupted by a signal; the run was stopped and cleaned up";
    result.requests.clear();
  } catch (const std::exception& e) {
    result.verdict = Verdict::error;
    result.reason = std::string("harness or setup failure: ") + e.what();
    result.requests.clear();
  }
  result.duration_ms = ms_between(started, Clock::now());
  return result;
}

}  // namespace fh::runner
