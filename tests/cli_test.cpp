// The fcgi-harness binary as a user meets it: exit codes, per-scenario lines, the summary,
// scenario-file errors, --repeat statistics, and the JSON, JUnit and Markdown files.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

/// Where the CLI runs: a private folder whose `tests` and `scenarios` lead to the source
/// folder's, so relative paths work and the default evidence folder (fcgi-harness-artifacts/)
/// lands here, not in the source tree. Removed when the tests end.
const std::filesystem::path& workdir() {
  static const std::filesystem::path dir = [] {
    const auto d =
        std::filesystem::temp_directory_path() / ("fh-cli-work-" + std::to_string(::getpid()));
    std::filesystem::remove_all(d);
    std::filesystem::create_directories(d);
    for (const char* link : {"tests", "scenarios"})
      std::filesystem::create_directory_symlink(std::filesystem::path(FH_SOURCE_DIR) / link,
                                                d / link);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(
          std::filesystem::temp_directory_path() / ("fh-cli-work-" + std::to_string(::getpid())),
          ignored);
    });
    return d;
  }();
  return dir;
}

/// Runs the CLI in workdir() with `args`; NO_COLOR keeps the output plain.
Result cli(const std::string& args, const std::string& env = "NO_COLOR=1",
           bool with_stderr = true) {
  // Not the step summary of the CI running these tests: a test that wants one sets it in `env`.
  const std::string command = "cd '" + workdir().string() + "' && env -u GITHUB_STEP_SUMMARY " +
                              env + " '" + FH_CLI + "' " + args +
                              (with_stderr ? " 2>&1" : " 2>/dev/null");
  Result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("fh-cli-" + std::to_string(::getpid()) + "-" + name);
}

}  // namespace

TEST(Cli, HelpTeachesWithExamples) {
  auto r = cli("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Examples:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run"), std::string::npos);
  EXPECT_NE(r.output.find("list"), std::string::npos);
  auto run_help = cli("run --help");
  EXPECT_EQ(run_help.exit_code, 0);
  for (const char* option : {"--filter", "--repeat", "--json", "--junit"})
    EXPECT_NE(run_help.output.find(option), std::string::npos) << option;
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(cli("").exit_code, 2);
  EXPECT_EQ(cli("frobnicate").exit_code, 2);
  EXPECT_EQ(cli("run --repeat 0 tests/data/pass-and-skip.yaml").exit_code, 2);
  auto missing = cli("run no/such/folder");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("no/such/folder: no such file or folder"), std::string::npos)
      << missing.output;
  auto nothing = cli("run tests/data/pass-and-skip.yaml --filter 'zzz*'");
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_NE(nothing.output.find("no scenario matches"), std::string::npos) << nothing.output;
}

TEST(Cli, MisspeltKeyExitsTwoNamingFileLineAndRunsNothing) {
  auto r = cli("run tests/data/misspelt-key.yaml tests/data/pass-and-skip.yaml");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("tests/data/misspelt-key.yaml:5:5: request: unknown key 'expcet' (did "
                          "you mean 'expect'?)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("nothing was run"), std::string::npos);
  EXPECT_EQ(r.output.find("PASS"), std::string::npos) << "a scenario ran despite the file error";
}

TEST(Cli, UnmetExpectationIsFailWithExpectedVersusActualAndExitOne) {
  auto r = cli("run tests/data/unmet-expectation.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL          unmet-expectation"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("actual:   200 complete"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("expected: [PASS] status=404 body_bytes=999"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("1 scenario(s): 1 FAIL"), std::string::npos) << r.output;
}

TEST(Cli, FailShowsTheTimelineAndKeepsTheEvidence) {
  namespace fs = std::filesystem;
  const auto kept = workdir() / "fcgi-harness-artifacts" / "unmet-expectation";
  fs::remove_all(kept);
  auto r = cli("run tests/data/unmet-expectation.yaml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("timeline:\n      lanes: client = "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("backend  conn 1 id 1 params_complete"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("evidence: fcgi-harness-artifacts/unmet-expectation/"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(kept / "timeline.json"));
  // --keep none: nothing kept, nothing said.
  fs::remove_all(kept);
  r = cli("run tests/data/unmet-expectation.yaml --keep none");
  EXPECT_EQ(r.output.find("evidence:"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(kept));
  EXPECT_EQ(cli("run tests/data/unmet-expectation.yaml --keep some").exit_code, 2);
}

TEST(Cli, PassKeepsNothingUnlessAskedTo) {
  namespace fs = std::filesystem;
  const auto dir = workdir() / "kept";
  fs::remove_all(dir);
  auto r = cli("run tests/data/pass-and-skip.yaml --filter '*plain*' --artifacts kept");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir / "pass-and-skip[plain]"));
  EXPECT_EQ(r.output.find("evidence:"), std::string::npos) << r.output;
  r = cli("run tests/data/pass-and-skip.yaml --filter '*plain*' --artifacts kept --keep all");
  EXPECT_TRUE(fs::exists(dir / "pass-and-skip[plain]" / "timeline.json")) << r.output;
  EXPECT_NE(r.output.find("evidence: kept/pass-and-skip[plain]/"), std::string::npos) << r.output;
}

TEST(Cli, ExpectedFailShowsItsTimelineOnlyWithVerbose) {
  auto quiet = cli("run tests/data/emulated-bug.yaml --filter '*detected*'");
  EXPECT_EQ(quiet.output.find("timeline:"), std::string::npos) << quiet.output;
  auto verbose = cli("-v run tests/data/emulated-bug.yaml --filter '*detected*'");
  EXPECT_NE(verbose.output.find("timeline:"), std::string::npos) << verbose.output;
}

TEST(Cli, PassAndSkipExitZeroWithSummary) {
  auto r = cli("run tests/data/pass-and-skip.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PASS          pass-and-skip[plain]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("SKIP          pass-and-skip[skipped]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not applicable here"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 scenario(s): 1 PASS, 1 SKIP"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("\033["), std::string::npos) << "colour with NO_COLOR set";
}

TEST(Cli, RepeatReportsCountsAndIntervalInJsonAndJunit) {
  const auto json = temp_file("out.json");
  const auto junit = temp_file("out.xml");
  auto r = cli(
      "run tests/data/pass-and-skip.yaml tests/data/unmet-expectation.yaml --repeat 5 --json '" +
      json.string() + "' --junit '" + junit.string() + "'");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("5 runs: 5 PASS; failure rate 0.00 (95% CI 0.00-0.43)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("5 runs: 5 FAIL; failure rate 1.00 (95% CI 0.57-1.00)"),
            std::string::npos)
      << r.output;
  const auto j = slurp(json);
  EXPECT_NE(j.find("\"runs\": 5"), std::string::npos) << j;
  EXPECT_NE(j.find("\"verdict_counts\""), std::string::npos);
  EXPECT_NE(j.find("\"rate\": 1.0"), std::string::npos);
  EXPECT_NE(j.find("\"rate_ci95\""), std::string::npos);
  EXPECT_NE(j.find("\"variant\": \"plain\""), std::string::npos);
  const auto x = slurp(junit);
  EXPECT_NE(x.find("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""), std::string::npos)
      << x;
  std::filesystem::remove(json);
  std::filesystem::remove(junit);
}

TEST(Cli, ListShowsIdsVariantsAndTitles) {
  auto r = cli("list tests/data/pass-and-skip.yaml tests/data/hang.yaml");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pass-and-skip[plain]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("A stalled backend outlives the scenario's deadline"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("3 scenario(s)"), std::string::npos) << r.output;
}

TEST(Cli, HangIsFailNotAHungHarness) {
  auto r = cli("run tests/data/hang.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("hung: still awaiting response head at the 700 ms deadline"),
            std::string::npos)
      << r.output;
}

TEST(Cli, JsonToStdoutKeepsHumanLinesOnStderr) {
  auto r = cli("run tests/data/pass-and-skip.yaml --json -", "NO_COLOR=1", /*with_stderr=*/false);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("{", 0), 0u) << r.output;  // nothing but the JSON document
  EXPECT_NE(r.output.find("\"summary\""), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("scenario(s):"), std::string::npos) << r.output;
  EXPECT_EQ(cli("run tests/data/pass-and-skip.yaml --json - --junit -").exit_code, 2);
}

TEST(Cli, MarkdownSummaryGoesToItsFileAndToTheGithubStepSummary) {
  const auto md = temp_file("summary.md");
  const auto step = temp_file("step-summary.md");
  auto r = cli("run tests/data/pass-and-skip.yaml --markdown '" + md.string() + "'",
               "NO_COLOR=1 GITHUB_STEP_SUMMARY='" + step.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto text = slurp(md);
  EXPECT_NE(text.find("### fcgi-harness run: passed"), std::string::npos) << text;
  EXPECT_NE(text.find("| PASS |"), std::string::npos) << text;
  EXPECT_NE(text.find("| SKIP |"), std::string::npos) << text;  // the skipped one, listed
  EXPECT_EQ(slurp(step), text + "\n");                          // appended as it is
  auto to_stdout = cli("run tests/data/pass-and-skip.yaml --markdown -", "NO_COLOR=1", false);
  EXPECT_EQ(to_stdout.output.rfind("### fcgi-harness run", 0), 0u) << to_stdout.output;
  EXPECT_EQ(cli("run tests/data/pass-and-skip.yaml --json - --markdown -").exit_code, 2);
}

TEST(Cli, EmulatedBugIsAnExpectedFailAndItsAbsenceFailsTheRun) {
  auto r = cli("run tests/data/emulated-bug.yaml");
  EXPECT_EQ(r.exit_code, 1) << r.output;  // the 'blind' variant emulates a bug nobody detects
  EXPECT_NE(r.output.find("FAIL          emulated-bug[detected]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[as expected: emulates a status bug]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PASS          emulated-bug[blind]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[NOT AS EXPECTED: emulates a status bug]"), std::string::npos)
      << r.output;
  auto detected =
      cli("run tests/data/emulated-bug.yaml --filter '*detected*' --json -", "NO_COLOR=1", false);
  EXPECT_EQ(detected.exit_code, 0) << detected.output;
  EXPECT_NE(detected.output.find("\"as_expected\": true"), std::string::npos) << detected.output;
  EXPECT_NE(detected.output.find("\"expected_verdict\": \"FAIL\""), std::string::npos)
      << detected.output;
}

TEST(Cli, SetAndMatrixOverrideEveryScenarioFromTheCommandLine) {
  auto r =
      cli("run tests/data/pass-and-skip.yaml --filter '*plain*' --matrix 'tcp={}' "
          "--matrix 'unix=topology: {backend: {transport: unix}}' --set 'deadline_ms: 4000'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pass-and-skip[plain+tcp]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pass-and-skip[plain+unix]"), std::string::npos) << r.output;
  // An error in a --set text names the text and its position, once for all the files.
  auto bad =
      cli("run tests/data/pass-and-skip.yaml scenarios/basic --set 'topology: {gatway: {}}'");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  const std::string where =
      "--set #1:1:12: topology: unknown key 'gatway' (did you mean 'gateway'?)";
  ASSERT_NE(bad.output.find(where), std::string::npos) << bad.output;
  EXPECT_EQ(bad.output.find(where), bad.output.rfind(where)) << "printed more than once:\n"
                                                             << bad.output;
  auto syntax = cli("run scenarios/basic --set 'topology: {gateway: [}'");
  EXPECT_EQ(syntax.exit_code, 2) << syntax.output;
  EXPECT_NE(syntax.output.find("error: --set #1:1:"), std::string::npos) << syntax.output;
  EXPECT_EQ(syntax.output.find("YAML syntax"), syntax.output.rfind("YAML syntax")) << syntax.output;
  EXPECT_EQ(cli("run tests/data/pass-and-skip.yaml --matrix 'nameless'").exit_code, 2);
}

// The vocabulary from the declarations: the worked example's verb, every party's events.
TEST(Cli, ListEventsAndFaultsPrintTheDeclarations) {
  auto events = cli("list --events");
  EXPECT_EQ(events.exit_code, 0) << events.output;
  for (const char* name :
       {"client.response_head", "gateway.stdin_terminator_sent", "backend.params_complete",
        "harness.internal_error", "wire.tcp_rst", "gateway.syscall:<syscall>",
        "backend.fault:<verb>", "<verb>: close, shutdown, reset"})
    EXPECT_NE(events.output.find(name), std::string::npos) << name << "\n" << events.output;
  EXPECT_NE(events.output.find("seen with observe: {wire: true}"), std::string::npos);
  auto faults = cli("list --faults");
  EXPECT_EQ(faults.exit_code, 0) << faults.output;
  for (const char* text :
       {"backend/early_end_request", "do: overloaded", "gateway/abort", "gateway/lighttpd_2796",
        "client/abort", "process/process", "where: topology.backend"})
    EXPECT_NE(faults.output.find(text), std::string::npos) << text << "\n" << faults.output;
  EXPECT_EQ(cli("list --events --faults").exit_code, 2);
  auto schema = cli("schema", "NO_COLOR=1", false);
  EXPECT_EQ(schema.exit_code, 0);
  EXPECT_NE(schema.output.find("\"$schema\""), std::string::npos);
}

// The issue's own example: a misspelt event in a count: 0 check used to load and PASS.
TEST(Cli, AMisspeltEventIsExitTwoWithItsPositionAndNothingRuns) {
  const auto file = workdir() / "misspelt-event.yaml";
  std::ofstream(file) << "title: t\ndescription: d\nobserve: {wire: true}\n"
                         "requests: [{probe: {size: 10}}]\nexpect: [{grade: PASS}]\n"
                         "checks:\n  - {that: wire.tcp_rts, count: 0}\n";
  auto r = cli("run misspelt-event.yaml");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("misspelt-event.yaml:7:12: that: no event 'wire.tcp_rts' is declared "
                          "(did you mean 'wire.tcp_rst'?)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("nothing was run"), std::string::npos) << r.output;
  std::filesystem::remove(file);
}

namespace {

std::filesystem::path quirks_file(const std::string& name, const std::string& expires,
                                  const std::string& extra = "") {
  const auto path = temp_file(name);
  std::ofstream(path) << "quirks:\n"
                         "  - check: unmet-expectation\n"
                         "    allowed: FAIL\n"
                         "    reason: the fixture fails on purpose\n"
                         "    expires: '"
                      << expires << "'\n"
                      << extra;
  return path;
}

}  // namespace

TEST(Cli, AQuirkAllowsItsFailAndSaysSoWithTheReason) {
  const auto quirks = quirks_file("quirks-ok.yaml", "2999-01-01");
  auto r = cli("run tests/data/unmet-expectation.yaml --quirks " + quirks.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("allowed: unmet-expectation: FAIL, 1 of 1 run(s) failed: failure rate "
                          "1.00 (95% CI 0.21-1.00)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("the fixture fails on purpose"), std::string::npos) << r.output;
  // Without the quirk the same run fails.
  EXPECT_EQ(cli("run tests/data/unmet-expectation.yaml --quirks none").exit_code, 1);
}

TEST(Cli, AnExpiredQuirkFailsTheRun) {
  const auto quirks = quirks_file("quirks-expired.yaml", "2020-01-01");
  auto r = cli("run tests/data/unmet-expectation.yaml --quirks " + quirks.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("EXPIRED quirk " + quirks.string() + ":2:5 unmet-expectation"),
            std::string::npos)
      << r.output;
}

TEST(Cli, AMistakeInTheQuirksFileIsExitTwoAndNothingRuns) {
  const auto quirks = quirks_file("quirks-typo.yaml", "2999-01-01", "    max_rat: 0.5\n");
  auto r = cli("run tests/data/unmet-expectation.yaml --quirks " + quirks.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(quirks.string() + ":6:5: quirk: unknown key 'max_rat' (did you mean "
                                            "'max_rate'?)"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("unmet-expectation  "), std::string::npos) << r.output;
}

TEST(Cli, ABaselineFailsOnlyOnARegression) {
  const auto baseline = temp_file("baseline.json");
  ASSERT_EQ(cli("run tests/data/unmet-expectation.yaml --quirks none --json " + baseline.string())
                .exit_code,
            1);
  // The same FAIL again: known, not a regression.
  auto r =
      cli("run tests/data/unmet-expectation.yaml --quirks none --baseline " + baseline.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 regression(s), 0 improvement(s), 1 known failure(s)"),
            std::string::npos)
      << r.output;
}

TEST(Cli, HtmlReportAndTimelinePagesAreWritten) {
  namespace fs = std::filesystem;
  const auto html = temp_file("report.html");
  const auto kept = workdir() / "fcgi-harness-artifacts" / "unmet-expectation";
  fs::remove_all(kept);
  auto r = cli("run tests/data/unmet-expectation.yaml --quirks none --html " + html.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto page = slurp(html);
  EXPECT_NE(page.find("<script id=\"fh-report-data\" type=\"application/json\">"),
            std::string::npos);
  EXPECT_NE(page.find("\"row\":\"unmet-expectation\""), std::string::npos);
  for (const char* remote : {"src=\"http", "href=\"http", "url(http", "@import"})
    EXPECT_EQ(page.find(remote), std::string::npos) << "the page loads nothing remote: " << remote;
  EXPECT_TRUE(fs::exists(kept / "timeline.html"));
  // `report` refuses what is not a results document.
  r = cli("report " + html.string() + " -o " + temp_file("x.html").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("not JSON"), std::string::npos) << r.output;
}
