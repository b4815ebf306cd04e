// Verdicts: expectations matched in order, graded outcomes, expected-vs-actual on FAIL,
// hangs named with what was awaited, and the failure-rate interval.
#include <gtest/gtest.h>

#include "probe/probe_contract.hpp"
#include "runner/verdict.hpp"
#include "scenario/loader.hpp"
#include "util/sha256.hpp"

using namespace fh;
using fh::scenario::Verdict;

namespace {

scenario::RequestDef request_with(const std::string& request_yaml, const std::string& expect_yaml) {
  auto s = scenario::load_text(
      "title: t\ndescription: d\nrequests:\n  - " + request_yaml + "\nexpect:\n" + expect_yaml,
      "v.yaml");
  return s.at(0).requests.at(0);
}

client::Exchange complete(int status, const std::string& body) {
  client::Exchange x;
  x.outcome = client::Outcome::complete;
  x.status = status;
  x.framing = client::Framing::chunked;
  x.body_bytes = body.size();
  x.body_sha256 = util::sha256_hex(body);
  x.body_prefix = body;
  x.first_byte_ms = 1.0;
  x.first_body_byte_ms = 2.0;
  x.last_byte_ms = 3.0;
  return x;
}

}  // namespace

TEST(Verdict, FirstMatchingExpectationGivesTheGrade) {
  auto req = request_with(
      "probe: {size: 10}",
      "  - {grade: PASS, status: 502, outcome: complete}\n"
      "  - {grade: NON-STRICT, because: no answer, outcome: closed_before_response}\n");
  auto v = runner::judge(req, complete(502, "bad gateway"), false, 1000);
  EXPECT_EQ(v.verdict, Verdict::pass);
  EXPECT_EQ(v.matched, 0);

  client::Exchange closed;
  closed.outcome = client::Outcome::closed_before_response;
  v = runner::judge(req, closed, false, 1000);
  EXPECT_EQ(v.verdict, Verdict::non_strict);
  EXPECT_EQ(v.matched, 1);
  EXPECT_NE(v.reason.find("no answer"), std::string::npos) << v.reason;
}

TEST(Verdict, NoMatchIsFailWithExpectedVersusActual) {
  auto req =
      request_with("probe: {size: 10}", "  - {grade: PASS, status: 502, outcome: complete}\n");
  auto v = runner::judge(req, complete(200, ""), false, 1000);
  EXPECT_EQ(v.verdict, Verdict::fail);
  EXPECT_EQ(v.matched, -1);
  EXPECT_NE(v.reason.find("actual:"), std::string::npos) << v.reason;
  EXPECT_NE(v.reason.find("expected: [PASS] status=502 outcome=complete"), std::string::npos)
      << v.reason;
  EXPECT_NE(v.reason.find("status: expected 502, got 200"), std::string::npos) << v.reason;
}

TEST(Verdict, HungRequestSaysWhatWasAwaited) {
  auto req = request_with("probe: {size: 10}", "  - {grade: PASS, status: 200}\n");
  client::Exchange x;
  x.outcome = client::Outcome::pending;
  x.status = 200;
  x.awaiting = "final chunk after 4096 body bytes";
  auto v = runner::judge(req, x, true, 2500);
  EXPECT_EQ(v.verdict, Verdict::fail);
  EXPECT_NE(v.reason.find(
                "hung: still awaiting final chunk after 4096 body bytes at the 2500 ms deadline"),
            std::string::npos)
      << v.reason;
  // A hang can be an expected outcome too (a scenario that documents a stall).
  auto req2 = request_with("probe: {size: 10}", "  - {grade: INFORMATIONAL, outcome: hung}\n");
  EXPECT_EQ(runner::judge(req2, x, true, 2500).verdict, Verdict::informational);
  EXPECT_EQ(runner::judge(req2, complete(200, ""), false, 2500).verdict, Verdict::fail);
}

TEST(Verdict, ProbeBodyForSizeEchoAndListing) {
  auto sized = request_with("probe: {size: 100}", "  - {grade: PASS, body: probe}\n");
  EXPECT_EQ(runner::judge(sized, complete(200, probe::pattern(0, 100)), false, 1).verdict,
            Verdict::pass);
  auto wrong = probe::pattern(0, 100);
  wrong[50] = 'x';
  auto v = runner::judge(sized, complete(200, wrong), false, 1);
  EXPECT_EQ(v.verdict, Verdict::fail);
  EXPECT_NE(v.reason.find("expected sha256"), std::string::npos) << v.reason;
  EXPECT_EQ(runner::judge(sized, complete(200, probe::pattern(0, 99)), false, 1).verdict,
            Verdict::fail);

  auto echo = request_with("{method: POST, probe: {echo: true}, body: {text: hello}}",
                           "  - {grade: PASS, body: probe}\n");
  EXPECT_EQ(runner::judge(echo, complete(200, "hello"), false, 1).verdict, Verdict::pass);
  EXPECT_EQ(runner::judge(echo, complete(200, "hell"), false, 1).verdict, Verdict::fail);

  auto listing =
      request_with("{method: POST, body: {text: abc}}", "  - {grade: PASS, body: probe}\n");
  const std::string good = "CONTENT_LENGTH=3\nREQUEST_METHOD=POST\nSTDIN-BYTES=3\nSTDIN-SHA256=" +
                           util::sha256_hex("abc") + "\n";
  EXPECT_EQ(runner::judge(listing, complete(200, good), false, 1).verdict, Verdict::pass);
  v = runner::judge(listing, complete(200, "REQUEST_METHOD=POST\nSTDIN-BYTES=0\n"), false, 1);
  EXPECT_EQ(v.verdict, Verdict::fail);
  EXPECT_NE(v.reason.find("STDIN-BYTES=3"), std::string::npos) << v.reason;
}

TEST(Verdict, HeadersBodyAndTimingChecks) {
  auto req = request_with("probe: {size: 3}",
                          "  - grade: PASS\n"
                          "    headers: {content-type: text/plain}\n"
                          "    body_contains: [ab]\n"
                          "    body_bytes: 3\n"
                          "    first_byte_ms: {max: 5}\n"
                          "    streamed_ms: {min: 1}\n");
  auto x = complete(200, "abc");
  x.headers = {{"Content-Type", "text/plain"}};
  EXPECT_EQ(runner::judge(req, x, false, 1).verdict, Verdict::pass);
  x.headers = {{"Content-Type", "text/html"}};
  EXPECT_EQ(runner::judge(req, x, false, 1).verdict, Verdict::fail);
  x.headers = {{"Content-Type", "text/plain"}};
  x.first_byte_ms = 6;
  auto v = runner::judge(req, x, false, 1);
  EXPECT_EQ(v.verdict, Verdict::fail);
  EXPECT_NE(v.reason.find("first_byte_ms: expected <= 5 ms, got 6.0 ms"), std::string::npos)
      << v.reason;
  x.first_byte_ms = 1;
  x.last_byte_ms = 2.5;  // streamed 0.5 ms < 1
  EXPECT_EQ(runner::judge(req, x, false, 1).verdict, Verdict::fail);
  x.last_byte_ms.reset();
  EXPECT_EQ(runner::judge(req, x, false, 1).verdict, Verdict::fail);
}

TEST(Verdict, WorstOrdersSeverities) {
  using scenario::worst;
  EXPECT_EQ(worst(Verdict::pass, Verdict::informational), Verdict::informational);
  EXPECT_EQ(worst(Verdict::non_strict, Verdict::informational), Verdict::non_strict);
  EXPECT_EQ(worst(Verdict::non_strict, Verdict::fail), Verdict::fail);
  EXPECT_EQ(worst(Verdict::error, Verdict::fail), Verdict::error);
  EXPECT_EQ(worst(Verdict::skip, Verdict::pass), Verdict::pass);
  EXPECT_EQ(scenario::parse_verdict("NON-STRICT"), Verdict::non_strict);
  EXPECT_FALSE(scenario::parse_verdict("OK"));
}

TEST(Verdict, WilsonIntervalKnownValues) {
  auto all = runner::wilson_interval(20, 20);
  EXPECT_NEAR(all.low, 0.8389, 1e-3);
  EXPECT_DOUBLE_EQ(all.high, 1.0);
  auto none = runner::wilson_interval(0, 20);
  EXPECT_DOUBLE_EQ(none.low, 0.0);
  EXPECT_NEAR(none.high, 0.1611, 1e-3);
  auto half = runner::wilson_interval(50, 100);
  EXPECT_NEAR(half.low, 0.4038, 1e-3);
  EXPECT_NEAR(half.high, 0.5962, 1e-3);
  auto empty = runner::wilson_interval(0, 0);
  EXPECT_EQ(empty.low, 0.0);
  EXPECT_EQ(empty.high, 1.0);
}

namespace {

events::Event event_at(double ms, std::string party, std::string name, std::uint64_t value = 0,
                       std::string detail = {}) {
  events::Event e;
  e.at = events::Clock::time_point{} + std::chrono::microseconds(static_cast<long>(ms * 1000));
  e.party = std::move(party);
  e.name = std::move(name);
  e.value = value;
  e.detail = std::move(detail);
  return e;
}

scenario::EventCheck check_from(const std::string& yaml) {
  return scenario::load_text(
             "title: t\ndescription: d\nrequests: [{}]\nexpect: [{grade: PASS}]\nchecks:\n" + yaml,
             "c.yaml")
      .at(0)
      .checks.at(0);
}

}  // namespace

TEST(EventChecks, CountWithinBeforeAndValue) {
  const std::vector<events::Event> log = {
      event_at(1, "backend", "stdin_terminator_received"),
      event_at(2, "backend", "end_request_sent", 1000),
      event_at(3, "gateway", "backend_write_error", 0, "EPIPE"),
      event_at(700, "backend", "connection_closed"),
      event_at(800, "gateway", "backend_closed"),
      event_at(801, "client", "response_complete", 1000),
  };
  auto judge = [&](const std::string& yaml) { return runner::judge_check(check_from(yaml), log); };
  EXPECT_EQ(judge("  - that: backend.stdin_terminator_received\n").verdict, Verdict::pass);
  EXPECT_EQ(judge("  - {that: backend.stdin_terminator_received, count: 1}\n").verdict,
            Verdict::pass);
  auto twice = judge("  - {that: backend.stdin_terminator_received, count: 2}\n");
  EXPECT_EQ(twice.verdict, Verdict::fail);
  EXPECT_NE(twice.reason.find("seen 1 time(s)"), std::string::npos) << twice.reason;
  EXPECT_EQ(
      judge("  - {that: gateway.backend_write_error, count: 0, otherwise: NON-STRICT}\n").verdict,
      Verdict::non_strict);
  EXPECT_EQ(
      judge("  - {that: gateway.backend_write_error, detail_contains: ECONNRESET, count: 0}\n")
          .verdict,
      Verdict::pass);
  auto late = judge(
      "  - {that: backend.connection_closed, after: backend.end_request_sent, within_ms: 500,\n"
      "     because: did not close after END_REQUEST without FCGI_KEEP_CONN}\n");
  EXPECT_EQ(late.verdict, Verdict::fail);
  EXPECT_NE(late.reason.find("came 698.0 ms after backend.end_request_sent"), std::string::npos)
      << late.reason;
  EXPECT_NE(late.reason.find("did not close after END_REQUEST"), std::string::npos) << late.reason;
  EXPECT_EQ(judge("  - {that: backend.connection_closed, after: backend.end_request_sent, "
                  "within_ms: 700}\n")
                .verdict,
            Verdict::pass);
  EXPECT_EQ(
      judge("  - {that: backend.connection_closed, before: gateway.backend_closed}\n").verdict,
      Verdict::pass);
  EXPECT_EQ(
      judge("  - {that: gateway.backend_closed, before: backend.connection_closed}\n").verdict,
      Verdict::fail);
  EXPECT_EQ(judge("  - {that: client.response_complete, value_equals: backend.end_request_sent}\n")
                .verdict,
            Verdict::pass);
  auto never =
      judge("  - {that: backend.exited, after: backend.end_request_sent, within_ms: 10}\n");
  EXPECT_EQ(never.verdict, Verdict::fail);
  EXPECT_NE(never.reason.find("not seen after"), std::string::npos) << never.reason;
}

TEST(EventChecks, IfAfterHappenedJudgesOnlyWhenTheAnchorCame) {
  const std::vector<events::Event> log = {
      event_at(2, "gateway", "end_request_received"),
      event_at(1500, "gateway", "backend_closed"),
  };
  auto judge = [&](const std::string& yaml) { return runner::judge_check(check_from(yaml), log); };
  // The anchor never came: no violation with if_after_happened, a FAIL without it.
  const std::string no_anchor =
      "that: gateway.backend_closed, after: gateway.abort_request_sent, within_ms: 1000";
  EXPECT_EQ(judge("  - {" + no_anchor + ", if_after_happened: true}\n").verdict, Verdict::pass);
  EXPECT_EQ(judge("  - {" + no_anchor + "}\n").verdict, Verdict::fail);
  // The anchor came: judged as any within-check (1498 ms > 1000 ms).
  auto late = judge(
      "  - {that: gateway.backend_closed, after: gateway.end_request_received, within_ms: 1000, "
      "if_after_happened: true}\n");
  EXPECT_EQ(late.verdict, Verdict::fail);
  EXPECT_NE(late.reason.find("came 1498.0 ms after"), std::string::npos) << late.reason;
  EXPECT_THROW(check_from("  - {that: gateway.backend_closed, if_after_happened: true}\n"),
               scenario::ScenarioError);
}

TEST(EventChecks, AWithinCheckIsOpenUntilItsWindowClosesOrItsEventCame) {
  std::vector<events::Event> log = {event_at(2, "gateway", "abort_request_sent")};
  const auto check = check_from(
      "  - {that: gateway.end_request_received, after: gateway.abort_request_sent, "
      "within_ms: 1000}\n");
  const auto at = [](double ms) { return event_at(ms, "x", "y").at; };
  EXPECT_EQ(runner::open_until(check, log, at(500)), at(1002));       // waiting, window open
  EXPECT_EQ(runner::open_until(check, log, at(1002)), std::nullopt);  // window closed
  log.push_back(event_at(300, "gateway", "end_request_received"));
  EXPECT_EQ(runner::open_until(check, log, at(500)), std::nullopt);  // it came: decided
  EXPECT_EQ(runner::open_until(check, {}, at(500)), std::nullopt);   // no anchor yet
  EXPECT_EQ(
      runner::open_until(check_from("  - that: gateway.end_request_received\n"), log, at(500)),
      std::nullopt);  // not a within-check
}
