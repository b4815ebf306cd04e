// Scenarios that judge the wire (observe: {wire: true}, checks over wire.* events): each
// passes on the fakes as they are, and each check FAILs once the behaviour it looks for is
// removed by flipping the fake (an override, like --set). Needs root for the capture on lo.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>

#include "runner/runner.hpp"
#include "runner/suite.hpp"
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
  const char* flip;           // YAML merged into the scenario: removes the behaviour checked
  std::size_t flipped_check;  // the check that must then FAIL
};

const WireCase kCases[] = {
    {"no-backend-rst.yaml", "topology: {backend: {faults: [{at: params_complete, do: reset}]}}", 0},
    {"stdout-bytes-delivered.yaml",
     "topology: {backend: {faults: [{at: {body_bytes: 100000}, do: close}]}}", 0},
    {"nginx-stdin-same-segment.yaml", "topology: {gateway: {personality: apache}}", 0},
    {"apache-stdin-separate-segment.yaml", "topology: {gateway: {personality: nginx}}", 0},
    {"stdin-terminator-once.yaml", "topology: {gateway: {stdin_terminator: doubled}}", 0},
    {"backend-fin-after-end-request.yaml",
     "topology: {backend: {faults: [{at: params_complete, do: close}]}}", 0},
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
  ASSERT_TRUE(s.observe.wire);
  ASSERT_FALSE(s.checks.empty());
  const auto result = runner::run_scenario(s);
  EXPECT_EQ(result.verdict, Verdict::pass) << result.reason << "\n" << timeline_of(result);
  bool wire_lane = false;
  for (const auto& e : result.events) wire_lane |= e.party == "wire";
  EXPECT_TRUE(wire_lane);
}

TEST_P(WireChecks, FailsWhenTheBehaviourIsFlipped) {
  const auto s = load(GetParam().file, GetParam().flip);
  const auto result = runner::run_scenario(s);
  ASSERT_NE(result.verdict, Verdict::error) << result.reason;
  ASSERT_LT(GetParam().flipped_check, s.checks.size());
  const auto& check = s.checks[GetParam().flipped_check];
  ASSERT_EQ(check.that.party, "wire");
  const auto v = runner::judge_check(check, result.events);
  EXPECT_EQ(v.verdict, Verdict::fail) << v.reason << "\n" << timeline_of(result);
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
    EXPECT_NE(json.find("\"party\": \"wire\""), std::string::npos);
    EXPECT_NE(json.find("\"verdict\": \"PASS\""), std::string::npos);
    std::ifstream pcapng(dir / "capture.pcapng", std::ios::binary);
    char magic[4] = {};
    pcapng.read(magic, 4);
    EXPECT_EQ(std::string(magic, 4), std::string("\x0a\x0d\x0d\x0a", 4));  // section header
  }
  // One run: no run-N folder, and no capture without wire observation.
  auto plain = load("no-backend-rst.yaml", "observe: {wire: false}");
  plain.checks.clear();
  const auto one = runner::run_scenario(plain, {root / "plain"});
  EXPECT_EQ(one.verdict, Verdict::pass) << one.reason;
  EXPECT_TRUE(fs::exists(root / "plain" / "timeline.json"));
  EXPECT_FALSE(fs::exists(root / "plain" / "capture.pcapng"));
  fs::remove_all(root);
}
