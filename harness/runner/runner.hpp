// Runs one scenario: places the fakes, drives the client's requests, bounds everything by the
// scenario's deadline, tears everything down, and judges what was observed.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "client/http_client.hpp"
#include "events/bus.hpp"
#include "runner/verdict.hpp"
#include "scenario/model.hpp"

namespace fh::runner {

struct RequestResult {
  std::string name;
  client::Exchange exchange;  // as it stood when the request ended or the deadline hit
  bool hung = false;
  Verdict verdict = Verdict::fail;
  std::string reason;
};

struct RunResult {
  Verdict verdict = Verdict::error;
  std::string reason;  // one line for PASS; expected-vs-actual for FAIL; the failure for ERROR
  double duration_ms = 0;
  std::vector<RequestResult> requests;
  /// What client, gateway and backend did, in time order ("+12.3 ms backend  conn 1 ...").
  std::vector<std::string> timeline;
  /// Every event the parties published during the run (the timeline's source).
  std::vector<events::Event> events;
};

struct RunOptions {
  /// When set, the run's evidence is kept here (created if needed): timeline.json (every bus
  /// event), capture.pcapng (with observe: {wire: true}), and the real programs' configs and
  /// logs under peers/. Empty: nothing is kept (the run's folder is removed).
  std::filesystem::path artifacts_dir;
};

RunResult run_scenario(const scenario::Scenario& scenario, const RunOptions& options = {});

}  // namespace fh::runner
