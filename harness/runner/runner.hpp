// Runs one scenario: places the fakes, drives the client's requests, bounds everything by the
// scenario's deadline, tears everything down, and judges what was observed.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "client/http_client.hpp"
#include "events/bus.hpp"
#include "runner/load.hpp"
#include "runner/verdict.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

struct RequestResult {
  std::string name;
  client::Exchange exchange;  // as it stood when the request ended or the deadline hit
  bool hung = false;
  std::optional<LoadResult> load;  // a load request: its counts and latencies
  Verdict verdict = Verdict::fail;
  std::string reason;
};

struct RunResult {
  Verdict verdict = Verdict::error;
  std::string reason;  // one line for PASS; expected-vs-actual for FAIL; the failure for ERROR
  double duration_ms = 0;
  std::vector<RequestResult> requests;
  /// The joined timeline as text: a legend naming the lanes, then every event in time order
  /// ("+12.3 ms  backend  conn 1 ...").
  std::vector<std::string> timeline;
  /// Every event the parties published during the run (the timeline's source).
  std::vector<events::Event> events;
  /// Where this run's evidence was kept; empty when it was not.
  std::filesystem::path evidence_dir;
};

/// Which runs keep their evidence.
enum class KeepEvidence { none, failures, all };  // failures: FAIL or ERROR

struct RunOptions {
  /// Where the run's evidence goes (created if needed): timeline.json (the joined timeline),
  /// capture.pcapng (observe: {wire: true}), and the real programs' configs, logs and strace
  /// logs under peers/. Empty: nothing is kept (the run's folder is removed).
  std::filesystem::path artifacts_dir;
  KeepEvidence keep = KeepEvidence::all;
  /// "backend" or "gateway" when that party is the implementation under test (certify): its
  /// failure to answer a readiness request is then a FAIL of it, not a setup ERROR.
  std::string under_test{};
  /// The system clock, against which the wire's and strace's times are mapped; tests step it.
  std::function<std::chrono::system_clock::time_point()> system_clock = [] {
    return std::chrono::system_clock::now();
  };
};

RunResult run_scenario(const scenario::Scenario& scenario, const RunOptions& options = {});

}  // namespace fh::runner
