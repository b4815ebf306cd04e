// Process and syscall faults on real peers, end to end through the runner: real programs from
// the repo's adapters on ports picked at run time. A missing program is a FAILURE naming the
// apt package (ci/install-peers.sh installs them), never a skip.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>

#include <filesystem>
#include <string>
#include <vector>

#include "runner/runner.hpp"
#include "scenario/loader.hpp"

using namespace fh;
using scenario::Verdict;

namespace {

scenario::Scenario from_text(const std::string& yaml) {
  return scenario::load_text(yaml, "inline.yaml").at(0);
}

const events::Event* first(const runner::RunResult& r, const std::string& party,
                           const std::string& name) {
  for (const auto& e : r.events)
    if (e.party == party && e.name == name) return &e;
  return nullptr;
}

double ms_between(const events::Event& a, const events::Event& b) {
  return std::chrono::duration<double, std::milli>(b.at - a.at).count();
}

std::string timeline(const runner::RunResult& r) {
  std::string out;
  for (const auto& line : r.timeline) out += line + "\n";
  return out;
}

std::string load_error(const std::string& yaml) {
  try {
    from_text(yaml);
  } catch (const scenario::ScenarioError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(ProcessFaults, FrozenBackendAnswersCompletelyAfterTheThaw) {
  auto r = runner::run_scenario(from_text(R"(title: freeze php-fpm
description: d
deadline_ms: 8000
topology:
  backend:
    kind: php-fpm
    process_faults:
      - {at: client.request_started, do: freeze, for_ms: 300}
requests:
  - probe: {size: 5000}
expect:
  - {grade: PASS, status: 200, body: probe, last_byte_ms: {min: 250}}
)"));
  EXPECT_EQ(r.verdict, Verdict::pass) << r.reason << "\n" << timeline(r);
  const auto* frozen = first(r, "harness", "process_frozen");
  const auto* thawed = first(r, "harness", "process_thawed");
  const auto* started = first(r, "client", "request_started");
  ASSERT_TRUE(frozen && thawed && started) << timeline(r);
  EXPECT_NE(frozen->detail.find("backend php-fpm pgid"), std::string::npos) << frozen->detail;
  EXPECT_GE(ms_between(*frozen, *thawed), 295.0);
  // Frozen inside the publisher's handler of request_started: nothing ran in between.
  EXPECT_LT(ms_between(*started, *frozen), 5.0);
  const auto* head = first(r, "client", "response_head");
  ASSERT_TRUE(head) << timeline(r);
  EXPECT_GE(ms_between(*thawed, *head), 0.0) << "the answer came before the thaw";
}

TEST(ProcessFaults, KilledBackendTruncatesAStreamedResponse) {
  auto r = runner::run_scenario(from_text(R"(title: kill php-fpm mid-stream
description: d
deadline_ms: 8000
topology:
  backend:
    kind: php-fpm
    process_faults:
      - {at: client.response_head, do: kill}
requests:
  - probe: {size: 10000, chunk: 1000, delay_ms: 100}
expect:
  - {grade: PASS, outcome: truncated}
)"));
  EXPECT_EQ(r.verdict, Verdict::pass) << r.reason << "\n" << timeline(r);
  const auto* killed = first(r, "harness", "process_killed");
  ASSERT_TRUE(killed) << timeline(r);
  EXPECT_NE(killed->detail.find("SIGKILL"), std::string::npos) << killed->detail;
  ASSERT_EQ(r.requests.size(), 1u);
  EXPECT_LT(r.requests[0].exchange.body_bytes, 10000u);
}

TEST(ProcessFaults, GracefulStopOfNginxLetsTheSlowRequestComplete) {
  // nginx QUIT: the in-flight request completes (real-peers.md §4).
  auto r = runner::run_scenario(from_text(R"(title: nginx QUIT mid-request
description: d
deadline_ms: 8000
topology:
  gateway:
    kind: nginx
    process_faults:
      - {at: client.first_body_byte, do: stop}
requests:
  - probe: {size: 10000, chunk: 1000, delay_ms: 100}
expect:
  - {grade: PASS, status: 200, body: probe}
)"));
  EXPECT_EQ(r.verdict, Verdict::pass) << r.reason << "\n" << timeline(r);
  const auto* stopped = first(r, "harness", "process_signalled");
  ASSERT_TRUE(stopped) << timeline(r);
  EXPECT_NE(stopped->detail.find("gateway nginx pgid"), std::string::npos) << stopped->detail;
  EXPECT_NE(stopped->detail.find("SIGQUIT"), std::string::npos) << stopped->detail;
  // The stop came while the response was still streaming (about 900 ms were left).
  const auto* complete = first(r, "client", "response_complete");
  ASSERT_TRUE(complete) << timeline(r);
  EXPECT_GE(ms_between(*stopped, *complete), 500.0) << timeline(r);
}

TEST(ProcessFaults, StraceEpipeOnNginxsFirstWritevToTheBackendIs502) {
  auto r = runner::run_scenario(from_text(R"(title: nginx writev EPIPE
description: d
deadline_ms: 8000
topology:
  gateway:
    kind: nginx
    syscall_faults:
      - {syscall: writev, error: EPIPE, when: 1}
requests:
  - name: failed
    probe: {size: 1000}
    expect: [{grade: PASS, status: 502}]
  - name: later
    probe: {size: 1000}
    expect: [{grade: PASS, status: 200}]
)"));
  EXPECT_EQ(r.verdict, Verdict::pass) << r.reason << "\n" << timeline(r);
  const auto* armed = first(r, "harness", "syscall_fault_armed");
  ASSERT_TRUE(armed) << timeline(r);
  EXPECT_NE(armed->detail.find("writev:error=EPIPE:when=1"), std::string::npos) << armed->detail;
  const auto* injected = first(r, "harness", "syscall_fault_injected");
  ASSERT_TRUE(injected) << timeline(r);
  EXPECT_NE(injected->detail.find("EPIPE"), std::string::npos) << injected->detail;
  // Published live from strace's pipe, not at the end of the run: before the next request,
  // which starts once the 502 is read, has connected. (Against the 502 itself the order is
  // the loop's: strace's line and nginx's answer can be ready in the same wakeup.)
  const auto later = std::find_if(r.events.begin(), r.events.end(), [](const auto& e) {
    return e.party == "client" && e.name == "connected" && e.connection == 2;
  });
  ASSERT_NE(later, r.events.end()) << timeline(r);
  EXPECT_LT(injected, &*later) << timeline(r);
}

TEST(ProcessFaults, GroupFrozenUntilTheEndIsThawedThenStoppedAndGone) {
  auto r = runner::run_scenario(from_text(R"(title: nginx frozen for good
description: d
deadline_ms: 1200
topology:
  gateway:
    kind: nginx
    process_faults:
      - {at: client.request_started, do: freeze}
requests:
  - probe: {size: 1000}
expect:
  - {grade: PASS, outcome: hung}
)"));
  EXPECT_EQ(r.verdict, Verdict::pass) << r.reason << "\n" << timeline(r);
  const auto* frozen = first(r, "harness", "process_frozen");
  const auto* thawed = first(r, "harness", "process_thawed");
  ASSERT_TRUE(frozen && thawed) << timeline(r);
  EXPECT_NE(thawed->detail.find("end of the run"), std::string::npos) << thawed->detail;
  // The whole group was stopped and reaped by the run (value: the pgid).
  const auto pgid = static_cast<pid_t>(frozen->value);
  ASSERT_GT(pgid, 0);
  EXPECT_EQ(::kill(-pgid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ProcessFaults, StraceThatCannotAttachIsAnErrorNamingIt) {
  // A syscall name strace does not know: it exits at once; the run is ERROR, not a PASS
  // without the fault.
  auto r = runner::run_scenario(from_text(R"(title: bad syscall
description: d
deadline_ms: 5000
topology:
  backend:
    kind: php-fpm
    syscall_faults:
      - {syscall: no_such_syscall, error: EPIPE}
requests:
  - probe: {size: 10}
expect:
  - {grade: PASS, status: 200}
)"));
  EXPECT_EQ(r.verdict, Verdict::error) << r.reason;
  EXPECT_NE(r.reason.find("strace did not attach"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("no_such_syscall"), std::string::npos) << r.reason;
}

TEST(ProcessFaults, LoaderRejectsBadFaultsWithFileLineColumn) {
  const std::string head = "title: t\ndescription: d\ntopology:\n  backend:\n    kind: php-fpm\n";
  const std::string tail = "requests:\n  - probe: {size: 1}\nexpect:\n  - {grade: PASS}\n";
  auto e = load_error(head +
                      "    process_faults:\n      - {at: client.response_head, do: kill, "
                      "delay_m: 5}\n" +
                      tail);
  EXPECT_NE(e.find("inline.yaml:7:"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'delay_m' (did you mean 'delay_ms'?)"), std::string::npos) << e;

  e = load_error(head + "    process_faults:\n      - {at: response_head, do: kill}\n" + tail);
  EXPECT_NE(e.find("inline.yaml:7:"), std::string::npos) << e;
  EXPECT_NE(e.find("party.name"), std::string::npos) << e;

  e = load_error(head + "    process_faults:\n      - {at: {after_ms: 10}, do: kill, for_ms: 3}\n" +
                 tail);
  EXPECT_NE(e.find("for_ms: only with do: freeze"), std::string::npos) << e;

  e = load_error(head +
                 "    process_faults:\n      - {at: {after_ms: 10}, do: signal, signal: BOGUS}\n" +
                 tail);
  EXPECT_NE(e.find("inline.yaml:7:"), std::string::npos) << e;

  e = load_error(head + "    syscall_faults:\n      - {syscall: writev, error: EPIPEX}\n" + tail);
  EXPECT_NE(e.find("inline.yaml:7:"), std::string::npos) << e;
  EXPECT_NE(e.find("errno name"), std::string::npos) << e;

  e = load_error(head + "    syscall_faults:\n      - {syscall: close, when: 3}\n" + tail);
  EXPECT_NE(e.find("error, delay_ms or delay_exit_ms"), std::string::npos) << e;

  e = load_error(head + "    syscall_faults:\n      - {syscall: close, delay_ms: 5, when: x3}\n" +
                 tail);
  EXPECT_NE(e.find("first[..last][+[step]]"), std::string::npos) << e;

  // A fake has no processes: the keys are unknown there.
  e = load_error("title: t\ndescription: d\ntopology:\n  backend:\n    process_faults: []\n" +
                 tail);
  EXPECT_NE(e.find("inline.yaml:5:5"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'process_faults'"), std::string::npos) << e;

  auto s = from_text(
      head +
      "    process_faults:\n      - {at: client.response_complete, nth: 2, delay_ms: 7, do: "
      "signal, signal: SIGUSR2}\n    syscall_faults:\n      - {syscall: "
      "close, delay_ms: 200, when: 2+}\n" +
      tail);
  ASSERT_EQ(s.backend.process_faults.size(), 1u);
  EXPECT_EQ(s.backend.process_faults[0].at.nth, 2u);
  EXPECT_EQ(s.backend.process_faults[0].at.delay_ms, 7u);
  EXPECT_EQ(s.backend.process_faults[0].signal, "USR2");
  ASSERT_EQ(s.backend.syscall_faults.size(), 1u);
  EXPECT_EQ(s.backend.syscall_faults[0].inject_expression(), "close:delay_enter=200ms:when=2+");
}

// Every scenarios/real/process-*.yaml gets its expected verdict (PASS, or FAIL where the real
// program reproduces a known bug); on a miss the timeline shows what the faults did.
TEST(ProcessFaults, ProcessScenariosGetTheirExpectedVerdicts) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(FH_SOURCE_DIR) + "/scenarios/real"))
    if (entry.path().filename().string().rfind("process-", 0) == 0 &&
        entry.path().extension() == ".yaml")
      files.push_back(entry.path());
  ASSERT_FALSE(files.empty());
  for (const auto& file : files)
    for (const auto& s : scenario::load_file(file)) {
      auto r = runner::run_scenario(s);
      EXPECT_EQ(r.verdict, s.expected_verdict.value_or(Verdict::pass))
          << s.display_name() << ": " << r.reason << "\n"
          << timeline(r);
    }
}
