// The scenario language's vocabulary: every place a scenario names an event rejects a
// misspelt one with file:line:column and a suggestion; an event the topology cannot produce
// is a load error with the reason; the docs name only what is declared, and document every
// verb and key that is.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "language/yaml_reader.hpp"
#include "scenario/loader.hpp"
#include "scenario/schema.hpp"
#include "scenario/sections.hpp"
#include "scenario/vocabulary.hpp"

namespace fh::scenario {
namespace {

namespace fs = std::filesystem;

struct Misspelling {
  const char* place;
  std::string yaml;        // a whole scenario
  std::string where;       // "s.yaml:L:C"
  std::string suggestion;  // in the message
};

const std::string kFrame = "title: t\ndescription: d\n";
const std::string kRequest = "requests: [{probe: {size: 10}}]\nexpect: [{grade: PASS}]\n";

std::string error_of(const std::string& yaml, const LoadOptions& options = {}) {
  try {
    load_text(yaml, "s.yaml", options);
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(Vocabulary, AMisspeltEventIsAnErrorWithItsPositionAndASuggestionInEveryPlace) {
  const std::vector<Misspelling> cases = {
      {"backend fault at (own event)",
       kFrame + "topology: {backend: {faults: [{at: params_complet, do: close}]}}\n" + kRequest,
       "s.yaml:3:36", "did you mean 'backend.params_complete'?"},
      {"backend fault at (another party's event)",
       kFrame +
           "topology: {backend: {faults: [{at: gateway.stdin_terminater_sent, do: reset}]}}\n" +
           kRequest,
       "s.yaml:3:36", "did you mean 'gateway.stdin_terminator_sent'?"},
      {"backend stall until",
       kFrame +
           "topology: {backend: {faults: [{at: params_complete, do: stall, until: "
           "backend.stdin_terminator_recieved}]}}\n" +
           kRequest,
       "s.yaml:3:71", "did you mean 'backend.stdin_terminator_received'?"},
      {"gateway stdin_terminator at",
       kFrame + "topology: {gateway: {stdin_terminator: {at: backend.end_request_snet}}}\n" +
           kRequest,
       "s.yaml:3:45", "did you mean 'backend.end_request_sent'?"},
      {"gateway abort at",
       kFrame + "topology: {gateway: {abort: {at: gateway.param_sent}}}\n" + kRequest,
       "s.yaml:3:34", "did you mean 'gateway.params_sent'?"},
      {"client action at",
       kFrame + "requests: [{client: {abort: {at: respnse_head}}}]\nexpect: [{grade: PASS}]\n",
       "s.yaml:3:34", "did you mean 'client.response_head'?"},
      {"client read until",
       kFrame + "requests: [{client: {read: {pause_ms: 5, until: gateway.backend_read_pausd}}}]\n"
                "expect: [{grade: PASS}]\n",
       "s.yaml:3:49", "did you mean 'gateway.backend_read_paused'?"},
      {"process fault at",
       kFrame +
           "topology: {backend: {kind: php-fpm, process_faults: [{at: client.response_completed, "
           "do: kill}]}}\n" +
           kRequest,
       "s.yaml:3:59", "did you mean 'client.response_complete'?"},
      {"check that", kFrame + kRequest + "checks: [{that: backend.headers_snet}]\n", "s.yaml:5:17",
       "did you mean 'backend.headers_sent'?"},
      {"check after",
       kFrame + kRequest +
           "checks: [{that: backend.headers_sent, after: backend.begin_requst, within_ms: 5}]\n",
       "s.yaml:5:46", "did you mean 'backend.begin_request'?"},
      {"check before",
       kFrame + kRequest + "checks: [{that: backend.headers_sent, before: client.response_hed}]\n",
       "s.yaml:5:47", "did you mean 'client.response_head'?"},
      {"check value_equals",
       kFrame + kRequest +
           "checks: [{that: client.response_complete, value_equals: backend.end_request_send}]\n",
       "s.yaml:5:57", "did you mean 'backend.end_request_sent'?"},
      {"a family's member",
       kFrame + "observe: {syscalls: gateway}\n" + kRequest +
           "checks: [{that: gateway.syscall:wrtiev}]\n",
       "s.yaml:6:17", "did you mean 'gateway.syscall:writev'?"},
      {"an unknown party", kFrame + kRequest + "checks: [{that: backnd.headers_sent}]\n",
       "s.yaml:5:17", "did you mean 'backend.headers_sent'?"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.place);
    const auto message = error_of(c.yaml);
    EXPECT_EQ(message.rfind(c.where + ":", 0), 0u) << message;
    EXPECT_NE(message.find(c.suggestion), std::string::npos) << message;
  }
}

TEST(Vocabulary, AMisspeltEventInASetOrMatrixTextNamesThatText) {
  LoadOptions options;
  options.set = {"deadline_ms: 100", "checks: [{that: wire.tcp_rts, count: 0}]"};
  const auto yaml = kFrame + "observe: {wire: true}\n" + kRequest;
  auto message = error_of(yaml, options);
  EXPECT_EQ(message.rfind("--set #2:1:17:", 0), 0u) << message;
  EXPECT_NE(message.find("did you mean 'wire.tcp_rst'?"), std::string::npos) << message;
  options.set.clear();
  options.matrix = {{"m", "topology: {backend: {faults: [{at: headers_snt, do: close}]}}"}};
  message = error_of(yaml, options);
  EXPECT_EQ(message.rfind("--matrix m:1:36:", 0), 0u) << message;
  EXPECT_NE(message.find("did you mean 'backend.headers_sent'?"), std::string::npos) << message;
}

TEST(Vocabulary, AnEventTheTopologyCannotProduceIsALoadErrorWithTheReason) {
  // The issue's own example: a count: 0 check that could never fail.
  auto message = error_of(kFrame + kRequest + "checks: [{that: wire.tcp_rst, count: 0}]\n");
  EXPECT_EQ(message.rfind("s.yaml:5:17:", 0), 0u) << message;
  EXPECT_NE(message.find("add observe: {wire: true}"), std::string::npos) << message;
  // A fake backend's event, the backend being a real program.
  message = error_of(kFrame + "topology: {backend: {kind: php-fpm}}\n" + kRequest +
                     "checks: [{that: backend.connection_closed}]\n");
  EXPECT_EQ(message.rfind("s.yaml:6:17:", 0), 0u) << message;
  EXPECT_NE(message.find("an event of the embedded fake backend"), std::string::npos) << message;
  EXPECT_NE(message.find("php-fpm (a real program)"), std::string::npos) << message;
  // A syscall without the syscall observer.
  message = error_of(kFrame + kRequest + "checks: [{that: gateway.syscall:writev}]\n");
  EXPECT_NE(message.find("add observe: {syscalls: gateway}"), std::string::npos) << message;
  // A trigger on such an event never acts: an error too, and no way around it.
  message = error_of(kFrame +
                     "topology: {gateway: {kind: nginx, process_faults: [{at: "
                     "gateway.request_head, do: kill}]}}\n" +
                     kRequest);
  EXPECT_NE(message.find("can never happen here, so this never acts"), std::string::npos)
      << message;
}

TEST(Vocabulary, IfObservableLetsACheckJudgeNothingAndSaySo) {
  const auto s = load_text(kFrame + "topology: {backend: {kind: php-fpm}}\n" + kRequest +
                               "checks: [{that: backend.connection_closed, if_observable: true}]\n",
                           "s.yaml")
                     .at(0);
  ASSERT_EQ(s.checks.size(), 1u);
  EXPECT_NE(s.checks[0].unobservable.find("embedded fake backend"), std::string::npos)
      << s.checks[0].unobservable;
  // With the fake backend the same check is judged.
  const auto fake =
      load_text(
          kFrame + kRequest + "checks: [{that: backend.connection_closed, if_observable: true}]\n",
          "s.yaml")
          .at(0);
  EXPECT_TRUE(fake.checks[0].unobservable.empty());
}

TEST(Vocabulary, OldTriggerSpellingsShowTheNewOne) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"topology: {backend: {faults: [{at: {event: gateway.params_sent}, do: close}]}}",
       "write the event itself as the value of 'at'"},
      {"topology: {backend: {faults: [{at: {request_count: 2}, do: close}]}}",
       "'at: begin_request' with 'request: N'"},
      {"topology: {backend: {faults: [{at: {body_bytes: 5}, mid_record: true, do: close}]}}",
       "at: {body_bytes: N, mid_record: true}"},
      {"topology: {gateway: {stdin_terminator: {after: backend.end_request_sent}}}", "write 'at:'"},
      {"topology: {gateway: {abort: {at: gateway.params_sent, how: close}}}", "write 'do:'"},
      {"topology: {gateway: {abort: {at: {body_bytes: 10}}}}", "write {stdin_bytes: N}"},
  };
  for (const auto& [topology, hint] : cases) {
    const auto message = error_of(kFrame + topology + "\n" + kRequest);
    EXPECT_EQ(message.rfind("s.yaml:3:", 0), 0u) << message;
    EXPECT_NE(message.find(hint), std::string::npos) << message;
  }
}

// ---------------------------------------------------------------- the docs

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> docs() {
  std::vector<fs::path> out = {fs::path(FH_SOURCE_DIR) / "README.md"};
  for (const auto& entry : fs::directory_iterator(fs::path(FH_SOURCE_DIR) / "docs"))
    if (entry.path().extension() == ".md") out.push_back(entry.path());
  return out;
}

TEST(Vocabulary, TheDocsNameOnlyDeclaredEvents) {
  // party.name tokens; file names (faults-gateway.md), placeholders (backend.NAME,
  // party.name, gateway.syscall:*) and the client's key paths (client.read) are not events.
  static const std::regex kToken(
      R"((^|[^-/\w.])((client|gateway|backend|harness|wire)\.([a-z0-9_]+(:[A-Za-z0-9_]+)?))(?![\w*<:]))");
  static const std::set<std::string> kFileExtensions = {"md",  "py",  "conf", "sock", "yaml", "cpp",
                                                        "hpp", "log", "json", "in",   "txt",  "sh"};
  std::set<std::string> client_keys;
  for (const auto& family : client_families())
    for (const auto& key : family.keys) client_keys.insert(key.name);
  for (const auto& doc : docs()) {
    const auto text = slurp(doc);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kToken);
         it != std::sregex_iterator(); ++it) {
      const std::string token = (*it)[2];
      const std::string party = (*it)[3], name = (*it)[4];
      if (kFileExtensions.count(name)) continue;
      if (party == "client" && client_keys.count(name)) continue;
      const auto* decl = find_event(events::Selector{party, name});
      EXPECT_TRUE(decl != nullptr)
          << doc.filename() << " names '" << token << "', which no party declares";
      if (decl) {
        EXPECT_EQ(family_member_problem(*decl, {party, name}), "") << doc.filename();
      }
    }
  }
}

TEST(Vocabulary, EveryVerbAndKeyIsDocumentedAndTheDocsNameOnlyDeclaredVerbs) {
  std::map<std::string, std::string> doc_of = {
      {"backend", slurp(fs::path(FH_SOURCE_DIR) / "docs/faults-backend.md")},
      {"gateway", slurp(fs::path(FH_SOURCE_DIR) / "docs/faults-gateway.md")},
      {"client", slurp(fs::path(FH_SOURCE_DIR) / "docs/faults-client.md")},
      {"process", slurp(fs::path(FH_SOURCE_DIR) / "docs/process-faults.md")},
      {"syscall", slurp(fs::path(FH_SOURCE_DIR) / "docs/process-faults.md")}};
  std::set<std::string> verbs;
  for (const auto& family : fault_families()) {
    const auto& text = doc_of.at(family.party);
    for (const auto& verb : family.verbs) {
      verbs.insert(verb.name);
      EXPECT_NE(text.find(verb.name), std::string::npos)
          << family.party << " verb '" << verb.name << "' is not in its doc";
    }
    for (const auto& key : family.keys)
      EXPECT_NE(text.find(key.name), std::string::npos)
          << family.party << " key '" << key.name << "' (" << family.name << ") is not in its doc";
  }
  for (const char* v : {"abort_request", "close", "reset"}) verbs.insert(v);  // gateway abort's
  // `do: X` as YAML writes it (after `{`, `,` or at a line's start), not prose.
  static const std::regex kDo(R"((?:\n|[{,])[ \t]*-?[ \t]*do: ([a-z_]+))");
  for (const auto& doc : docs()) {
    const auto text = slurp(doc);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), kDo);
         it != std::sregex_iterator(); ++it)
      EXPECT_TRUE(verbs.count((*it)[1]))
          << doc.filename() << " names the verb 'do: " << (*it)[1] << "', which no family declares";
  }
}

TEST(Vocabulary, TheCommittedSchemaIsTheOneTheDeclarationsMake) {
  const auto committed = slurp(fs::path(FH_SOURCE_DIR) / "docs/scenario.schema.json");
  EXPECT_EQ(committed, scenario_schema().dump(2) + "\n")
      << "docs/scenario.schema.json is out of date: build/fcgi-harness schema -o "
         "docs/scenario.schema.json";
}

}  // namespace
}  // namespace fh::scenario
