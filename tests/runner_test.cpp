// The runner end to end on the embedded fakes: verdicts for met and unmet expectations,
// hangs bounded by the deadline, SKIP, and a timeline that shows all three parties.
#include <gtest/gtest.h>

#include <chrono>

#include "fake-backends/backend_events.hpp"
#include "fake-backends/fake_backend.hpp"
#include "runner/runner.hpp"
#include "scenario/loader.hpp"

using namespace fh;
using scenario::Verdict;

namespace {

scenario::Scenario from_file(const std::string& relative) {
  return scenario::load_file(std::string(FH_SOURCE_DIR) + "/" + relative).at(0);
}

scenario::Scenario from_text(const std::string& yaml) {
  return scenario::load_text(yaml, "inline.yaml").at(0);
}

}  // namespace

TEST(Runner, CompleteResponsePasses) {
  auto result = runner::run_scenario(from_text(R"(title: t
description: d
requests:
  - probe: {size: 5000}
expect:
  - {grade: PASS, status: 200, outcome: complete, body: probe}
)"));
  EXPECT_EQ(result.verdict, Verdict::pass) << result.reason;
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_EQ(result.requests[0].exchange.body_bytes, 5000u);
  EXPECT_FALSE(result.requests[0].hung);
  bool saw_backend = false, saw_gateway = false, saw_client = false;
  for (const auto& line : result.timeline) {
    saw_backend |= line.find("backend") != std::string::npos;
    saw_gateway |= line.find("gateway") != std::string::npos;
    saw_client |= line.find("client") != std::string::npos;
  }
  EXPECT_TRUE(saw_backend && saw_gateway && saw_client);
}

TEST(Runner, UnmetExpectationIsFailWithExpectedVersusActual) {
  auto result = runner::run_scenario(from_file("tests/data/unmet-expectation.yaml"));
  EXPECT_EQ(result.verdict, Verdict::fail);
  EXPECT_NE(result.reason.find("status: expected 404, got 200"), std::string::npos)
      << result.reason;
  EXPECT_NE(result.reason.find("body_bytes: expected 999, got 1000"), std::string::npos)
      << result.reason;
}

TEST(Runner, HangIsBoundedByTheDeadlineAndNamesWhatWasAwaited) {
  const auto started = std::chrono::steady_clock::now();
  auto result = runner::run_scenario(from_file("tests/data/hang.yaml"));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.verdict, Verdict::fail);
  ASSERT_EQ(result.requests.size(), 1u);
  EXPECT_TRUE(result.requests[0].hung);
  EXPECT_NE(result.reason.find("hung: still awaiting response head at the 700 ms deadline"),
            std::string::npos)
      << result.reason;
  // Bounded: the 700 ms deadline plus teardown, far below the gateway's 60 s timeout.
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(Runner, SkipRunsNothing) {
  auto s = from_text(
      "title: t\ndescription: d\nskip: needs nginx\nrequests: [{}]\nexpect: [{grade: PASS}]\n");
  auto result = runner::run_scenario(s);
  EXPECT_EQ(result.verdict, Verdict::skip);
  EXPECT_EQ(result.reason, "needs nginx");
  EXPECT_TRUE(result.requests.empty());
}

TEST(Runner, WorstRequestDecidesAndParallelRequestsAllRun) {
  auto result = runner::run_scenario(from_text(R"(title: t
description: d
parallel: true
requests:
  - {name: ok, probe: {size: 10}}
  - {name: slow, probe: {size: 10, first_byte_ms: 200}}
  - name: odd
    probe: {size: 10}
    expect: [{grade: NON-STRICT, because: test, status: 200}]
expect:
  - {grade: PASS, status: 200, outcome: complete, body: probe}
)"));
  EXPECT_EQ(result.verdict, Verdict::non_strict) << result.reason;
  ASSERT_EQ(result.requests.size(), 3u);
  for (const auto& r : result.requests)
    EXPECT_EQ(r.exchange.outcome, client::Outcome::complete) << r.name;
  EXPECT_NE(result.reason.find("request odd"), std::string::npos);
}

TEST(Runner, SetupFailureIsError) {
  auto s = from_text(
      "title: t\ndescription: d\ntopology: {backend: {transport: unix}}\nrequests: [{}]\n"
      "expect: [{grade: PASS}]\n");
  // A unix socket path longer than sun_path cannot be bound: the harness reports ERROR.
  setenv("TMPDIR", ("/tmp/" + std::string(120, 'x')).c_str(), 1);
  std::filesystem::create_directories("/tmp/" + std::string(120, 'x'));
  auto result = runner::run_scenario(s);
  unsetenv("TMPDIR");
  std::filesystem::remove_all("/tmp/" + std::string(120, 'x'));
  EXPECT_EQ(result.verdict, Verdict::error) << result.reason;
  EXPECT_NE(result.reason.find("setup failure"), std::string::npos) << result.reason;
}

// Errors never vanish: an exception inside a fake (here a fault action that throws, inside the
// backend's reader) becomes harness.internal_error and grades the run ERROR with its message,
// whatever the client got.
namespace {
class ThrowingAction : public fake::FaultAction {
 public:
  void act(fake::FaultSeam&, std::uint16_t) const override {
    throw std::runtime_error("a fault action failed on purpose");
  }
};
}  // namespace

TEST(Runner, AnExceptionInAFakeIsAnErrorWithItsMessage) {
  auto s = from_text(R"(title: t
description: d
requests:
  - probe: {size: 10}
expect:
  - {grade: PASS, status: 502}
  - {grade: PASS, status: 200}
)");
  fake::BackendFault fault;
  fault.at = language::Trigger::on(fake::backend_events::params_complete);
  fault.verb = fake::find_backend_verb("close");
  fault.action = std::make_shared<ThrowingAction>();
  s.backend.fake.faults.push_back(fault);
  const auto result = runner::run_scenario(s);
  EXPECT_EQ(result.verdict, Verdict::error) << result.reason;
  EXPECT_NE(result.reason.find("harness defect: fake backend connection 1 reader: a fault action "
                               "failed on purpose"),
            std::string::npos)
      << result.reason;
  bool published = false;
  for (const auto& e : result.events)
    published |= e.party == "harness" && e.name == "internal_error";
  EXPECT_TRUE(published);
}
