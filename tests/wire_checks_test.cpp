// Scenarios that judge what the observers saw (observe: wire and syscalls, checks over wire.*
// and syscall: events): each passes on the fakes as they are, and each check FAILs once the
// behaviour it looks for is removed by flipping the fake (an override, like --set). Needs root
// for the capture on lo and strace.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "runner/runner.hpp"
#include "runner/suite.hpp"
#include "runner/timeline.hpp"
#include "runner/verdict.hpp"
#include "scenario/loader.hpp"

using namespace fh;
using scenario::Verdict;

namespace {

scenario::Scenario load(const std::string& file, const std::string& flip = {}) {
  scenario::LoadOptions options;
  if (!flip.empty()) options.set.push_back(flip);
  return scenario::load_file(std::string(FH_SOURCE_DIR) + "/scenarios/wire/" + file, options).at(0);
}

struct WireCase {
  const char* file;
  const char* flip;  // YAML merged into the scenario: removes the behaviour checked
  std::vector<std::size_t> flipped_checks;  // the checks that must then FAIL
};

const WireCase kCases[] = {
    {"no-backend-rst.yaml",
     "topology: {backend: {faults: [{at: params_complete, do: reset}]}}",
     {0}},
    {"stdout-bytes-delivered.yaml",
     "topology: {backend: {faults: [{at: {body_bytes: 100000}, do: close}]}}",
     {0, 3}},
    {"nginx-stdin-same-segment.yaml", "topology: {gateway: {personality: apache}}", {0}},
    {"apache-stdin-separate-segment.yaml", "topology: {gateway: {personality: nginx}}", {0}},
    {"stdin-terminator-once.yaml", "topology: {gateway: {stdin_terminator: doubled}}", {0}},
    // A backend that never closes by itself: the gateway's own close after its timeout is
    // not the backend's FIN (the check once passed on the backend's FIN in reply to it).
    {"backend-fin-after-end-request.yaml", "topology: {backend: {keep_conn: ignore_clear}}", {1}},
    {"apache-stdin-own-send-syscalls.yaml", "topology: {gateway: {personality: nginx}}", {0}},
    // The completeness oracle names the seed 001 bugs when the fake gateway emulates them.
    {"no-error-after-complete-response.yaml",
     "topology: {gateway: {bug: fail_on_stdin_write_error}}",
     {0, 1}},
    {"no-silent-truncation.yaml", "topology: {gateway: {bug: nginx_empty_200}}", {0, 1}},
};

// The file name in test names and messages, not the struct's bytes.
void PrintTo(const WireCase& c, std::ostream* os) {
  *os << c.file;
}

class WireChecks : public ::testing::TestWithParam<WireCase> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the capture on lo needs root";
  }
};

std::string timeline_of(const runner::RunResult& r) {
  std::string out;
  for (const auto& line : r.timeline) out += line + "\n";
  return out;
}

}  // namespace

TEST_P(WireChecks, PassesAsIs) {
  const auto s = load(GetParam().file);
  ASSERT_TRUE(s.observe.wire || s.observe.gateway_syscalls || s.observe.backend_syscalls);
  ASSERT_FALSE(s.checks.empty());
  const auto result = runner::run_scenario(s);
  EXPECT_EQ(result.verdict, Verdict::pass) << result.reason << "\n" << timeline_of(result);
  // What the observers saw is on the timeline: the wire lane, the traced fakes' syscalls.
  bool observed = false;
  for (const auto& e : result.events) observed |= runner::event_source(e) != "party";
  EXPECT_TRUE(observed);
}

TEST_P(WireChecks, FailsWhenTheBehaviourIsFlipped) {
  const auto s = load(GetParam().file, GetParam().flip);
  const auto result = runner::run_scenario(s);
  ASSERT_NE(result.verdict, Verdict::error) << result.reason;
  for (const std::size_t i : GetParam().flipped_checks) {
    ASSERT_LT(i, s.checks.size());
    const auto& check = s.checks[i];
    // An expectation over what the observers saw (the wire, or a syscall), not a fake's word.
    ASSERT_TRUE(check.that.party == "wire" || check.that.name.rfind("syscall:", 0) == 0)
        << check.that.party << "." << check.that.name;
    const auto v = runner::judge_check(check, result.events);
    EXPECT_EQ(v.verdict, Verdict::fail) << v.reason << "\n" << timeline_of(result);
  }
  EXPECT_EQ(result.verdict, Verdict::fail) << result.reason;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, WireChecks, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<WireCase>& info) {
                           std::string name = info.param.file;
                           name = name.substr(0, name.find('.'));
                           for (auto& ch : name)
                             if (ch == '-') ch = '_';
                           return name;
                         });

TEST(WireObserve, KeyIsValidated) {
  const std::string head =
      "title: t\ndescription: d\nrequests: [{probe: {size: 1}}]\n"
      "expect: [{grade: PASS, status: 200}]\n";
  EXPECT_FALSE(scenario::load_text(head, "a.yaml").at(0).observe.wire);
  EXPECT_TRUE(scenario::load_text(head + "observe: {wire: true}\n", "b.yaml").at(0).observe.wire);
  EXPECT_THROW(scenario::load_text(head + "observe: {wire: maybe}\n", "c.yaml"),
               scenario::ScenarioError);
  EXPECT_THROW(scenario::load_text(head + "observe: {pcap: true}\n", "d.yaml"),
               scenario::ScenarioError);
  EXPECT_THROW(scenario::load_text(head + "observe: true\n", "e.yaml"), scenario::ScenarioError);

  // syscalls: gateway, backend or both, real or fake.
  const std::string real = head + "topology: {gateway: {kind: nginx}, backend: {kind: php-fpm}}\n";
  const auto both =
      scenario::load_text(real + "observe: {syscalls: [gateway, backend]}\n", "f.yaml").at(0);
  EXPECT_TRUE(both.observe.gateway_syscalls);
  EXPECT_TRUE(both.observe.backend_syscalls);
  const auto one = scenario::load_text(head + "observe: {syscalls: backend}\n", "g.yaml").at(0);
  EXPECT_FALSE(one.observe.gateway_syscalls);
  EXPECT_TRUE(one.observe.backend_syscalls);
  try {
    scenario::load_text(head + "observe: {syscalls: client}\n", "h.yaml");
    ADD_FAILURE() << "syscalls: client was accepted";
  } catch (const scenario::ScenarioError& e) {
    EXPECT_NE(std::string(e.what()).find("h.yaml:5:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("gateway, backend"), std::string::npos) << e.what();
  }
}

TEST(Artifacts, KeepTimelineCaptureAndRunFolders) {
  if (::geteuid() != 0) GTEST_SKIP() << "the capture on lo needs root";
  namespace fs = std::filesystem;
  const auto root = fs::temp_directory_path() / ("fh-artifacts-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const auto s = load("no-backend-rst.yaml");
  const auto suite = runner::run_suite({s}, 2, {}, root);
  ASSERT_EQ(suite.scenarios.size(), 1u);
  EXPECT_EQ(suite.scenarios[0].verdict, Verdict::pass) << suite.scenarios[0].reason;
  for (const char* run : {"run-1", "run-2"}) {
    const auto dir = root / s.display_name() / run;
    ASSERT_TRUE(fs::exists(dir / "timeline.json")) << dir;
    std::ifstream timeline(dir / "timeline.json");
    const std::string json((std::istreambuf_iterator<char>(timeline)), {});
    EXPECT_NE(json.find("\"lane\": \"wire\""), std::string::npos);
    EXPECT_NE(json.find("\"verdict\": \"PASS\""), std::string::npos);
    std::ifstream pcapng(dir / "capture.pcapng", std::ios::binary);
    char magic[4] = {};
    pcapng.read(magic, 4);
    EXPECT_EQ(std::string(magic, 4), std::string("\x0a\x0d\x0d\x0a", 4));  // section header
  }
  // One run: no run-N folder, and no capture without wire observation.
  // Its wire checks cannot be judged without the wire: a check of the client's instead.
  auto plain = load("no-backend-rst.yaml",
                    "{observe: {wire: false}, checks: [{that: client.response_complete}]}");
  const auto one = runner::run_scenario(plain, {root / "plain"});
  EXPECT_EQ(one.verdict, Verdict::pass) << one.reason;
  EXPECT_TRUE(fs::exists(root / "plain" / "timeline.json"));
  EXPECT_FALSE(fs::exists(root / "plain" / "capture.pcapng"));
  fs::remove_all(root);
}

TEST(Artifacts, ByDefaultOnlyFailuresKeepTheirEvidence) {
  if (::geteuid() != 0) GTEST_SKIP() << "the capture on lo needs root";
  namespace fs = std::filesystem;
  const auto root = fs::temp_directory_path() / ("fh-keep-" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto passing = load("no-backend-rst.yaml");
  auto failing = load("no-backend-rst.yaml", kCases[0].flip);
  failing.id = "no-backend-rst-flipped";
  // Evidence of an earlier invocation must not pass for this one's.
  fs::create_directories(root / passing.display_name());
  std::ofstream(root / passing.display_name() / "stale.txt") << "old";
  const auto suite =
      runner::run_suite({passing, failing}, 1, {}, root, runner::KeepEvidence::failures);
  ASSERT_EQ(suite.scenarios.size(), 2u);
  EXPECT_EQ(suite.scenarios[0].verdict, Verdict::pass) << suite.scenarios[0].reason;
  EXPECT_EQ(suite.scenarios[1].verdict, Verdict::fail) << suite.scenarios[1].reason;
  EXPECT_FALSE(fs::exists(root / passing.display_name()));
  EXPECT_TRUE(suite.scenarios[0].runs.at(0).evidence_dir.empty());
  const auto kept = root / failing.display_name();
  EXPECT_EQ(suite.scenarios[1].runs.at(0).evidence_dir, kept);
  EXPECT_TRUE(fs::exists(kept / "timeline.json"));
  EXPECT_TRUE(fs::exists(kept / "capture.pcapng"));
  // none keeps nothing, even of a FAIL.
  const auto none = runner::run_suite({failing}, 1, {}, root / "none", runner::KeepEvidence::none);
  EXPECT_EQ(none.scenarios[0].verdict, Verdict::fail);
  EXPECT_FALSE(fs::exists(root / "none"));
  fs::remove_all(root);
}

// The wire's packet stamps are on the system clock, the parties' events on the steady clock.
// If the system clock moves during a run (a step, as a VM's clock sync makes), a failing check
// over wire events says so and is ERROR, not the implementation's FAIL; a failing check of
// the parties' own events is still FAIL; and a clock that kept pace changes nothing.
TEST(ClockStep, AFailingWireCheckIsErrorWhenTheSystemClockMovedDuringTheRun) {
  if (::geteuid() != 0) GTEST_SKIP() << "the capture on lo needs root";
  const auto stepping_clock = [] {
    // +5 ms from the second pair on: the run's end reads a clock 5 ms ahead of its start.
    auto reads = std::make_shared<int>(0);
    return [reads] {
      return std::chrono::system_clock::now() +
             (++*reads > 3 ? std::chrono::milliseconds(5) : std::chrono::milliseconds(0));
    };
  };
  const std::string wire_fails = "checks: [{that: wire.stdin_terminator, count: 2}]";
  const std::string backend_fails = "checks: [{that: backend.stdin_terminator_received, count: 2}]";

  runner::RunOptions stepped;
  stepped.system_clock = stepping_clock();
  const auto error = runner::run_scenario(load("stdin-terminator-once.yaml", wire_fails), stepped);
  EXPECT_EQ(error.verdict, Verdict::error) << error.reason << "\n" << timeline_of(error);
  EXPECT_NE(error.reason.find("cannot be judged: the system clock moved +"), std::string::npos)
      << error.reason;
  const auto step = std::find_if(error.events.begin(), error.events.end(),
                                 [](const auto& e) { return e.name == "clock_stepped"; });
  ASSERT_NE(step, error.events.end()) << timeline_of(error);
  // 5 ms, give or take where in their reading windows the two pairs sit.
  EXPECT_NEAR(static_cast<double>(step->value), 5000.0, 50.0);

  stepped.system_clock = stepping_clock();
  const auto own = runner::run_scenario(load("stdin-terminator-once.yaml", backend_fails), stepped);
  EXPECT_EQ(own.verdict, Verdict::fail) << own.reason;

  const auto steady = runner::run_scenario(load("stdin-terminator-once.yaml", wire_fails));
  EXPECT_EQ(steady.verdict, Verdict::fail) << steady.reason;
  EXPECT_EQ(steady.reason.find("system clock"), std::string::npos) << steady.reason;
  EXPECT_TRUE(std::none_of(steady.events.begin(), steady.events.end(),
                           [](const auto& e) { return e.name == "clock_stepped"; }));
}
