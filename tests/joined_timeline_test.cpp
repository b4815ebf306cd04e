// The joined timeline with real programs (issue 5's "done when"): nginx in front of the fake
// backend gives a pcapng that tshark decodes to our records and a timeline with client, nginx
// (its syscalls, by strace) and backend lanes; Apache mod_proxy_fcgi against a backend that
// closes before reading the empty STDIN shows the terminator's own write and the RST it met.
// Each scenario's checks also fail when the behaviour they look for is removed. Needs root
// (capture on lo, strace) and nginx, apache2, tshark, strace (ci/install-peers.sh).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "codec/fcgi.hpp"
#include "peers/gateways.hpp"
#include "runner/runner.hpp"
#include "runner/timeline.hpp"
#include "scenario/loader.hpp"
#include "support/temp_dir.hpp"
#include "support/tshark.hpp"

namespace {

namespace fs = std::filesystem;
using namespace fh;
using scenario::Verdict;

scenario::Scenario load(const std::string& file, const std::string& flip = {}) {
  scenario::LoadOptions options;
  if (!flip.empty()) options.set.push_back(flip);
  return scenario::load_file(std::string(FH_SOURCE_DIR) + "/scenarios/real/" + file, options).at(0);
}

std::string timeline_of(const runner::RunResult& r) {
  std::string out;
  for (const auto& line : r.timeline) out += line + "\n";
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class JoinedTimeline : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the capture on lo and strace need root";
  }
  // Never a silent skip: a missing program is a failure naming its package.
  static bool installed(const std::string& gateway) {
    const auto info = peers::gateway_info(gateway);
    EXPECT_TRUE(info.installed) << info.missing_reason;
    return info.installed;
  }
};

/// Our wire.fcgi_record events as tshark prints records: "type id length" per direction.
std::map<int, std::vector<std::string>> our_records(const std::vector<events::Event>& log) {
  std::map<std::string, int> type_of;
  for (int t = 1; t <= 11; ++t) type_of[fcgi::type_name(static_cast<std::uint8_t>(t))] = t;
  const std::regex detail(R"(^(\S+) id=(\d+) len=(\d+) .*from (gateway|backend))");
  std::map<int, std::vector<std::string>> records;
  for (const auto& e : log) {
    if (e.party != "wire" || e.name != "fcgi_record") continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_search(e.detail, m, detail)) << e.detail;
    if (m.empty()) continue;
    records[m[4] == "backend" ? 1 : 0].push_back(std::to_string(type_of[m[1]]) + " " + m[2].str() +
                                                 " " + m[3].str());
  }
  return records;
}

const events::Event* find(const std::vector<events::Event>& log, const std::string& party,
                          const std::string& name, const std::string& detail = {}) {
  for (const auto& e : log)
    if (e.party == party && e.name == name && e.detail.find(detail) != std::string::npos) return &e;
  return nullptr;
}

TEST_F(JoinedTimeline, NginxCaptureMatchesTsharkAndTheTimelineHasEveryLane) {
  if (!installed("nginx")) return;
  test_support::TempDir dir("fh-joined-nginx");
  const auto s = load("observe-nginx-timeline.yaml");
  ASSERT_TRUE(s.observe.wire);
  ASSERT_TRUE(s.observe.gateway_syscalls);
  const auto result = runner::run_scenario(s, {dir.path(), runner::KeepEvidence::all});
  ASSERT_EQ(result.verdict, Verdict::pass) << result.reason << "\n" << timeline_of(result);

  // The pcapng tshark reads gives the records our decoder published.
  const auto* open = find(result.events, "wire", "connection_open", "-> backend 127.0.0.1:");
  ASSERT_NE(open, nullptr) << timeline_of(result);
  const auto backend_port =
      static_cast<std::uint16_t>(std::stoi(open->detail.substr(open->detail.rfind(':') + 1)));
  const auto theirs =
      test_support::tshark_fcgi_records((dir.path() / "capture.pcapng").string(), backend_port);
  const auto ours = our_records(result.events);
  ASSERT_EQ(ours.count(0) + ours.count(1), 2u) << timeline_of(result);
  EXPECT_GE(ours.at(0).size(), 4u);  // BEGIN_REQUEST, PARAMS..., empty PARAMS, empty STDIN
  EXPECT_GE(ours.at(1).size(), 4u);  // STDOUT..., empty STDOUT, END_REQUEST
  EXPECT_EQ(ours, theirs);

  // Lanes: the client's events, nginx's syscalls, the fake backend's events, the wire's.
  std::map<std::string, std::map<std::string, int>> sources;  // lane -> source -> count
  for (const auto& e : result.events) ++sources[e.party][runner::event_source(e)];
  EXPECT_GT(sources["client"]["party"], 0);
  EXPECT_GT(sources["gateway"]["syscall"], 0);
  EXPECT_GT(sources["backend"]["party"], 0);
  EXPECT_GT(sources["wire"]["wire"], 0);
  // nginx's request to the backend is one writev on the socket to the backend's port, and it
  // carried every byte of the records the wire saw in that direction.
  const auto* writev = find(result.events, "gateway", "syscall:writev",
                            "->127.0.0.1:" + std::to_string(backend_port));
  ASSERT_NE(writev, nullptr) << timeline_of(result);
  std::uint64_t wire_bytes = 0;
  for (const auto& r : ours.at(0)) {
    std::istringstream in(r);
    unsigned type = 0, id = 0, length = 0;
    in >> type >> id >> length;
    wire_bytes += 8 + length + (8 - length % 8) % 8;  // header, content, padding (nginx pads)
  }
  EXPECT_EQ(writev->value, wire_bytes) << writev->detail;

  // The evidence: timeline.json names the lanes and who was in them; strace's log is kept.
  const auto json = slurp(dir.path() / "timeline.json");
  EXPECT_NE(json.find("{\"name\": \"gateway\", \"who\": \"nginx (its syscalls by strace)\"}"),
            std::string::npos);
  EXPECT_NE(json.find("\"lane\": \"gateway\", \"source\": \"syscall\""), std::string::npos);
  EXPECT_NE(json.find("\"lane\": \"backend\", \"source\": \"party\""), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "peers" / "gateway-nginx-syscalls.log"));
  ASSERT_FALSE(result.timeline.empty());
  EXPECT_EQ(result.timeline.front().rfind("lanes: client = ", 0), 0u) << result.timeline.front();
}

// Without the syscall observer its syscall checks could never be satisfied: the scenario does
// not load, and the error says what is missing. Said to be optional, such a check judges
// nothing and says so (SKIP), while the other checks still fail.
TEST_F(JoinedTimeline, NginxSyscallChecksNeedTheSyscallObserver) {
  try {
    load("observe-nginx-timeline.yaml", "observe: {syscalls: []}");
    FAIL() << "loaded without the observer its checks need";
  } catch (const scenario::ScenarioError& e) {
    EXPECT_NE(std::string(e.what()).find("observe-nginx-timeline.yaml:20:11: that: "
                                         "gateway.syscall:accept4 can never be seen here"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("add observe: {syscalls: gateway}"), std::string::npos)
        << e.what();
  }
  if (!installed("nginx")) return;
  scenario::LoadOptions options;
  options.set = {"observe: {syscalls: []}"};
  auto text = slurp(fs::path(FH_SOURCE_DIR) / "scenarios/real/observe-nginx-timeline.yaml");
  for (auto at = text.find("  - that: gateway.syscall:"); at != std::string::npos;
       at = text.find("  - that: gateway.syscall:", at + 1))
    text.insert(text.find('\n', at), "\n    if_observable: true");
  const auto s = scenario::load_text(text, "inline.yaml", options).at(0);
  ASSERT_FALSE(s.observe.gateway_syscalls);
  ASSERT_EQ(s.checks.at(0).that.name, "syscall:accept4");
  const auto result = runner::run_scenario(s);
  const auto check = runner::judge_check(s.checks.at(0), result.events);
  EXPECT_EQ(check.verdict, Verdict::skip) << check.reason;
  EXPECT_NE(check.reason.find("judges nothing here"), std::string::npos) << check.reason;
}

TEST_F(JoinedTimeline, ApacheTerminatorWriteMeetsTheClosedBackendsRst) {
  if (!installed("apache")) return;
  const auto s = load("apache-backend-closes-before-stdin.yaml");
  ASSERT_TRUE(s.observe.gateway_syscalls);
  ASSERT_FALSE(s.gateway.syscall_faults.empty());  // the faults' strace is the timeline's too
  const auto result = runner::run_scenario(s);
  ASSERT_EQ(result.verdict, Verdict::pass) << result.reason << "\n" << timeline_of(result);
  const auto& log = result.events;
  const auto* closed = find(log, "backend", "connection_closed");
  const auto* terminator_write = find(log, "gateway", "syscall:writev",
                                      "[{iov_base=\"\\1\\5\\0\\1\\0\\0\\0\\0\", iov_len=8}]");
  const auto* terminator_wire = find(log, "wire", "stdin_terminator", "new segment");
  const auto* rst = find(log, "wire", "tcp_rst", "from backend");
  ASSERT_TRUE(closed && terminator_write && terminator_wire && rst) << timeline_of(result);
  // The write is Apache's own (8 bytes, held by the anchoring delay) and returned after the
  // backend had closed; on the wire the terminator went after the close and the RST answered
  // it. (On loopback the RST is made while the write is still in the kernel, so the writev's
  // return is printed just after the RST.)
  EXPECT_EQ(terminator_write->value, 8u);
  EXPECT_NE(terminator_write->detail.find("(DELAYED)"), std::string::npos);
  EXPECT_LT(closed->at, terminator_write->at);
  EXPECT_LT(closed->at, terminator_wire->at);
  EXPECT_LE(terminator_wire->at, rst->at);
  // The text timeline prints the close, the terminator and the RST in that order, and the
  // write with its bytes.
  const auto text = timeline_of(result);
  const auto closed_at = text.find("backend  conn 1 connection_closed");
  const auto wire_at = text.find("stdin_terminator (FCGI_STDIN id=1 len=0");
  const auto rst_at = text.find("tcp_rst (from backend)");
  ASSERT_NE(closed_at, std::string::npos) << text;
  ASSERT_NE(wire_at, std::string::npos) << text;
  ASSERT_NE(rst_at, std::string::npos) << text;
  EXPECT_NE(text.find("syscall:writev (fd "), std::string::npos) << text;
  EXPECT_NE(text.find("= 8 (DELAYED) [{iov_base=\"\\1\\5\\0\\1\\0\\0\\0\\0\", iov_len=8}]"),
            std::string::npos)
      << text;
  EXPECT_LT(closed_at, wire_at);
  EXPECT_LT(wire_at, rst_at);
}

TEST_F(JoinedTimeline, ApacheChecksFailWhenTheBackendDoesNotClose) {
  if (!installed("apache")) return;
  const auto s =
      load("apache-backend-closes-before-stdin.yaml", "topology: {backend: {faults: []}}");
  const auto result = runner::run_scenario(s);
  EXPECT_EQ(result.verdict, Verdict::fail) << result.reason << "\n" << timeline_of(result);
  for (std::size_t i : {2u, 3u})  // closed before the terminator; the RST it met
    EXPECT_EQ(runner::judge_check(s.checks.at(i), result.events).verdict, Verdict::fail)
        << s.checks.at(i).that.name;
}

}  // namespace
