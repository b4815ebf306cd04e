// Scenario loader: valid files become Scenario values; every mistake names file:line:column.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runner/suite.hpp"
#include "scenario/loader.hpp"

using namespace fh::scenario;

namespace {

const char* kMinimal = R"(title: t
description: d
requests:
  - probe: {size: 10}
expect:
  - grade: PASS
    status: 200
)";

/// The message of the ScenarioError that loading `yaml` throws ("" if none).
std::string load_error(const std::string& yaml) {
  try {
    load_text(yaml, "s.yaml");
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ScenarioLoader, MinimalScenarioGetsDefaults) {
  auto scenarios = load_text(kMinimal, "dir/minimal.yaml");
  ASSERT_EQ(scenarios.size(), 1u);
  const auto& s = scenarios[0];
  EXPECT_EQ(s.id, "minimal");
  EXPECT_EQ(s.variant, "");
  EXPECT_EQ(s.deadline_ms, 10000u);
  EXPECT_EQ(s.gateway.fake.backend_timeout_ms, 5000u);
  EXPECT_EQ(s.backend.transport, BackendDef::Transport::tcp);
  ASSERT_EQ(s.requests.size(), 1u);
  EXPECT_EQ(s.requests[0].name, "r1");
  EXPECT_EQ(s.requests[0].spec.method, "GET");
  EXPECT_EQ(s.requests[0].spec.target, "/probe?size=10");
  ASSERT_EQ(s.requests[0].expect.size(), 1u);  // the scenario-level list is inherited
  EXPECT_EQ(s.requests[0].expect[0].status, std::vector<int>{200});
}

TEST(ScenarioLoader, ReadsEveryField) {
  auto s = load_text(R"(title: t
description: d
id: custom-id
deadline_ms: 3000
parallel: true
tags: [a, b]
topology:
  client: harness
  gateway: {kind: fake, backend_timeout_ms: 700, connect_timeout_ms: 300, keep_conn: true}
  backend:
    kind: fake
    transport: unix
    mpxs_conns: yes
    faults:
      - {at: {body_bytes: 64KiB}, do: close, request: 2}
      - {at: stdin_terminator_received, do: stall, stall_ms: 50, delay_ms: 5}
requests:
  - name: up
    method: POST
    path: /x
    probe: {echo: true, chunk: 1KiB, delay_ms: 3, first_byte_ms: 4, status: 201, stderr: 5}
    query: "extra=1"
    headers: {X-A: b}
    body: {size: 2KiB}
    body_encoding: chunked
    body_chunk: 100
    expect:
      - grade: NON-STRICT
        because: why
        status: [200, 201]
        outcome: truncated
        body: probe
        body_bytes: 1MiB
        body_sha256: "0000000000000000000000000000000000000000000000000000000000000000"
        body_contains: abc
        headers: {Content-Type: text/plain}
        first_byte_ms: {max: 10}
        first_body_byte_ms: {min: 1}
        last_byte_ms: {min: 1, max: 20}
        streamed_ms: {min: 2}
)",
                     "f.yaml")[0];
  EXPECT_EQ(s.id, "custom-id");
  EXPECT_EQ(s.deadline_ms, 3000u);
  EXPECT_TRUE(s.parallel);
  EXPECT_EQ(s.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(s.gateway.fake.backend_timeout_ms, 700u);
  EXPECT_EQ(s.gateway.fake.backend_connect_timeout_ms, 300u);
  EXPECT_TRUE(s.gateway.fake.keep_conn);
  EXPECT_EQ(s.backend.transport, BackendDef::Transport::unix_socket);
  EXPECT_TRUE(s.backend.fake.policy.mpxs_conns);
  ASSERT_EQ(s.backend.fake.faults.size(), 2u);
  EXPECT_TRUE(s.backend.fake.faults[0].at.is(fh::language::Counter::body_bytes));
  EXPECT_EQ(s.backend.fake.faults[0].at.amount, 65536u);
  EXPECT_EQ(s.backend.fake.faults[0].at.request, 2u);
  EXPECT_EQ(s.backend.fake.faults[1].verb->doc.name, "stall");
  EXPECT_EQ(s.backend.fake.faults[1].action->parameters(), " stall_ms=50");
  EXPECT_EQ(s.backend.fake.faults[1].at.delay_ms, 5u);
  const auto& r = s.requests[0];
  EXPECT_EQ(r.spec.method, "POST");
  EXPECT_TRUE(r.spec.chunked);
  EXPECT_EQ(r.spec.chunk_size, 100u);
  EXPECT_EQ(r.spec.body.size(), 2048u);
  EXPECT_EQ(r.spec.target.substr(0, 3), "/x?");
  EXPECT_NE(r.spec.target.find("echo=1"), std::string::npos);
  EXPECT_NE(r.spec.target.find("extra=1"), std::string::npos);
  ASSERT_TRUE(r.probe);
  EXPECT_TRUE(r.probe->echo);
  EXPECT_EQ(r.probe->status, 201);
  const auto& e = r.expect[0];
  EXPECT_EQ(e.grade, Verdict::non_strict);
  EXPECT_EQ(e.status, (std::vector<int>{200, 201}));
  EXPECT_EQ(e.outcome, "truncated");
  EXPECT_TRUE(e.body_as_probe);
  EXPECT_EQ(e.body_bytes, 1048576u);
  EXPECT_EQ(e.body_contains, std::vector<std::string>{"abc"});
  ASSERT_TRUE(e.last_byte_ms);
  EXPECT_EQ(e.last_byte_ms->min, 1.0);
  EXPECT_EQ(e.last_byte_ms->max, 20.0);
}

TEST(ScenarioLoader, MisspeltKeyNamesFileLineColumnAndSuggests) {
  const auto message = load_error(R"(title: t
description: d
requests:
  - probe: {size: 10}
    expcet:
      - grade: PASS
)");
  EXPECT_NE(message.find("s.yaml:5:5:"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'expcet'"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean 'expect'"), std::string::npos) << message;
}

TEST(ScenarioLoader, WrongTypesAndBadValuesAreErrors) {
  struct Case {
    std::string yaml;
    std::string where;
    std::string what;
  };
  const std::string head = "title: t\ndescription: d\n";
  const std::vector<Case> cases = {
      {head + "deadline_ms: soon\nrequests: [{probe: {size: 1}}]\nexpect: [{grade: PASS}]\n",
       "s.yaml:3:14", "non-negative integer"},
      {head + "requests: [{probe: {size: lots}}]\nexpect: [{grade: PASS}]\n", "s.yaml:3:27",
       "size in bytes"},
      {head + "requests: [{probe: {size: 1}}]\nexpect: [{grade: GREAT}]\n", "s.yaml:4:18",
       "one of PASS"},
      {head + "requests: [{probe: {size: 1}}]\nexpect: [{grade: PASS, outcome: fine}]\n",
       "s.yaml:4:33", "complete"},
      {head + "requests: [{probe: {size: 1}}]\nexpect: [{grade: PASS, status: 42}]\n",
       "s.yaml:4:32", "100..599"},
      {head + "topology: {backend: {transport: pipe}}\nrequests: [{probe: {size: 1}}]\nexpect: "
              "[{grade: PASS}]\n",
       "s.yaml:3:33", "tcp, unix"},
      {head + "topology: {backend: {kind: php-fpx}}\nrequests: [{probe: {size: 1}}]\nexpect: "
              "[{grade: PASS}]\n",
       "s.yaml:3:28", "fake"},
      {head + "topology: {backend: {faults: [{at: never, do: close}]}}\nrequests: [{probe: {size: "
              "1}}]\n"
              "expect: [{grade: PASS}]\n",
       "s.yaml:3:36", "no event 'backend.never' is declared"},
      {head + "requests: [{probe: {size: 1}}]\n", "s.yaml:3:1", "no expectations"},
      {head + "requests: []\nexpect: [{grade: PASS}]\n", "s.yaml:3:11", "non-empty list"},
      {head + "requests: [{probe: {size: 1, echo: true}}]\nexpect: [{grade: PASS}]\n",
       "s.yaml:3:20", "exclude each other"},
      {head + "requests: [{path: nope}]\nexpect: [{grade: PASS}]\n", "s.yaml:3:19",
       "absolute path"},
      {head + "requests: [{name: a}, {name: a}]\nexpect: [{grade: PASS}]\n", "s.yaml:3:23",
       "two requests"},
      {head + "requests: [{query: \"size=x\"}]\nexpect: [{grade: PASS}]\n", "s.yaml:3:20", "size"},
      {"description: d\nrequests: [{}]\nexpect: [{grade: PASS}]\n", "s.yaml:1:1",
       "missing required key 'title'"},
      {head + "requests: [{probe: {size: 1}}\n", "s.yaml:", "YAML syntax"},
      {"- a\n- b\n", "s.yaml:1:1", "must be a mapping"},
      {head + "requests: [{}]\nexpect: [{grade: PASS}]\nchecks: [{that: backend}]\n", "s.yaml:5:17",
       "party.name"},
      {head +
           "requests: [{}]\nexpect: [{grade: PASS}]\nchecks: [{that: backend.x, within_ms: 5}]\n",
       "s.yaml:5:10", "go together"},
      {head + "requests: [{}]\nexpect: [{grade: PASS}]\nchecks: [{that: backend.x, otherwise: "
              "PASS}]\n",
       "s.yaml:5:39", "one of FAIL"},
  };
  for (const auto& c : cases) {
    const auto message = load_error(c.yaml);
    EXPECT_NE(message.find(c.where), std::string::npos) << "yaml:\n"
                                                        << c.yaml << "message: " << message;
    EXPECT_NE(message.find(c.what), std::string::npos) << "yaml:\n"
                                                       << c.yaml << "message: " << message;
  }
}

TEST(ScenarioLoader, VariantsMergeIntoTheScenarioAndKeepTheirOwnMarks) {
  const std::string yaml = R"(title: t
description: d
variants:
  tcp:
    about: plain
  unix:
    about: on a socket
    set:
      topology: {backend: {transport: unix}}
      deadline_ms: 1234
  broken:
    set:
      topology: {backend: {transprot: unix}}
requests:
  - probe: {size: 10}
expect:
  - grade: PASS
)";
  const auto message = load_error(yaml);
  EXPECT_NE(message.find("s.yaml:13:28: backend: unknown key 'transprot'"), std::string::npos)
      << message;

  std::string good = yaml.substr(0, yaml.find("  broken:")) + yaml.substr(yaml.find("requests:"));
  auto scenarios = load_text(good, "v.yaml");
  ASSERT_EQ(scenarios.size(), 2u);
  EXPECT_EQ(scenarios[0].display_name(), "v[tcp]");
  EXPECT_EQ(scenarios[0].backend.transport, BackendDef::Transport::tcp);
  EXPECT_EQ(scenarios[0].deadline_ms, 10000u);
  EXPECT_EQ(scenarios[1].display_name(), "v[unix]");
  EXPECT_EQ(scenarios[1].backend.transport, BackendDef::Transport::unix_socket);
  EXPECT_EQ(scenarios[1].deadline_ms, 1234u);
  EXPECT_NE(scenarios[1].description.find("on a socket"), std::string::npos);
}

TEST(ScenarioLoader, ParseSizeUnits) {
  EXPECT_EQ(parse_size("0"), 0u);
  EXPECT_EQ(parse_size("1024"), 1024u);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("16 MiB"), 16u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB"), 1024ull * 1024 * 1024);
  EXPECT_EQ(parse_size("5kB"), 5000u);
  EXPECT_EQ(parse_size("2MB"), 2000000u);
  EXPECT_FALSE(parse_size("-1"));
  EXPECT_FALSE(parse_size("1.5MiB"));
  EXPECT_FALSE(parse_size("12 bytes"));
  EXPECT_FALSE(parse_size("99999999999999999999"));
}

TEST(ScenarioLoader, EveryShippedScenarioLoads) {
  std::vector<std::string> errors;
  auto files = fh::runner::find_scenario_files({std::string(FH_SOURCE_DIR) + "/scenarios"}, errors);
  auto scenarios = fh::runner::load_scenarios(files, errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_GE(scenarios.size(), 12u);
}

TEST(Suite, DiscoveryReportsMissingPathsAndDuplicates) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() / ("fh-loader-" + std::to_string(::getpid()));
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  for (const auto* sub : {"a", "b"}) {
    std::ofstream(dir / sub / "same.yaml") << kMinimal;
  }
  std::ofstream(dir / "notes.txt") << "not a scenario";
  std::vector<std::string> errors;
  auto files = fh::runner::find_scenario_files(
      {dir.string(), (dir / "missing").string(), (dir / "notes.txt").string()}, errors);
  EXPECT_EQ(files.size(), 2u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("no such file or folder"), std::string::npos);
  EXPECT_NE(errors[1].find("not a scenario file"), std::string::npos);
  errors.clear();
  auto loaded = fh::runner::load_scenarios(files, errors);
  EXPECT_EQ(loaded.size(), 1u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("also used by"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Suite, FilterMatchesIdVariantOrFile) {
  auto s = load_text(kMinimal, "scenarios/faults/close-early.yaml")[0];
  EXPECT_TRUE(fh::runner::matches_filter(s, ""));
  EXPECT_TRUE(fh::runner::matches_filter(s, "close-*"));
  EXPECT_TRUE(fh::runner::matches_filter(s, "*faults/*"));
  EXPECT_FALSE(fh::runner::matches_filter(s, "reset-*"));
  s.variant = "unix";
  EXPECT_TRUE(fh::runner::matches_filter(s, "*\\[unix\\]"));
}
