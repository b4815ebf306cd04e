#include "cli/certify.hpp"

#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "cli/report.hpp"
#include "net/isolation.hpp"
#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "reports/html_report.hpp"
#include "reports/reports.hpp"
#include "runner/interrupt.hpp"
#include "runner/suite.hpp"

namespace fh::cli {

namespace {

namespace fs = std::filesystem;
using scenario::Certification;
using scenario::Verdict;

/// A YAML double-quoted scalar of `text` (a command line in an override).
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

const std::vector<std::string> kPersonalities = {"plain",    "nginx",   "apache",
                                                 "lighttpd", "haproxy", "caddy"};

bool any_match(const std::vector<std::string>& globs, const std::string& text) {
  for (const auto& g : globs)
    if (::fnmatch(g.c_str(), text.c_str(), 0) == 0) return true;
  return false;
}

/// The check's name in certification output: its id, and the variant of the run.
std::string check_name(const scenario::Scenario& s) {
  return s.certify->id + (s.variant.empty() ? "" : "[" + s.variant + "]");
}

/// How the implementation under test enters every check: the overrides, and a matrix when
/// it is certified in several shapes (personalities, transports).
struct Overrides {
  scenario::LoadOptions options;
  std::string error;
};

/// --knob K=V... as the inside of a YAML flow mapping; false (and `error`) for a bad one.
bool knobs_yaml(const std::vector<std::string>& pairs, std::string& yaml, std::string& error) {
  for (const auto& kv : pairs) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      error = "--knob " + kv + ": expected NAME=VALUE";
      return false;
    }
    yaml +=
        (yaml.empty() ? "" : ", ") + quoted(kv.substr(0, eq)) + ": " + quoted(kv.substr(eq + 1));
  }
  return true;
}

// Who was certified, for the report's column: --label, else the adapter with its version,
// else the spawned program's name, else the address connected to.
nlohmann::json subject_of(const CertifyOptions& o) {
  std::string name = o.label;
  std::string how;
  if (!o.adapter.empty()) {
    how = "--adapter " + o.adapter;
    for (const auto& k : o.knobs) how += " --knob " + k;
    if (name.empty()) {
      name = o.adapter;
      const auto peers =
          o.party == "backend" ? peers::backend_catalogue() : peers::gateway_catalogue();
      for (const auto& p : peers)
        if (p.kind == o.adapter && p.installed && !p.version.empty()) name += " " + p.version;
    }
  } else if (!o.spawn.empty()) {
    how = "--spawn '" + o.spawn + "'";
    if (name.empty()) name = fs::path(o.spawn.substr(0, o.spawn.find(' '))).filename().string();
  } else {
    how = "--connect " + o.connect;
    if (name.empty()) name = o.connect;
  }
  if (!o.connect.empty() || o.party == "gateway" || o.transport != "tcp")
    how += " --transport " + o.transport;
  if (o.party == "backend" && o.personality != "plain") how += " --personality " + o.personality;
  return {{"party", o.party}, {"name", name}, {"about", "certify " + o.party + " " + how}};
}

/// Who a --spawn command runs as: --user, else nobody when isolated as root, else the harness.
std::string spawn_user(const CertifyOptions& o) {
  if (!o.user.empty()) return o.user;
  return o.isolate && ::geteuid() == 0 ? "nobody" : "";
}

/// `, user: NAME` for a command peer's override, or nothing.
std::string user_key(const CertifyOptions& o) {
  const auto user = spawn_user(o);
  return user.empty() ? "" : ", user: " + quoted(user);
}

/// Combinations --isolate and --user cannot honour; "" when there is none.
std::string isolation_problem(const CertifyOptions& o) {
  if (o.isolate && !o.connect.empty())
    return "--isolate runs the implementation inside the harness's own network namespace; one "
           "given with --connect already runs outside it: start it with --spawn instead";
  if (!o.user.empty() && o.spawn.empty())
    return "--user " + o.user +
           " applies to a --spawn command; an --adapter's program starts as its own start "
           "script says (docs/real-peers.md)";
  if (!o.user.empty() && ::geteuid() != 0)
    return "--user " + o.user + " needs the harness to run as root";
  return "";
}

Overrides overrides_of(const CertifyOptions& o) {
  Overrides out;
  if (out.error = isolation_problem(o); !out.error.empty()) return out;
  auto& set = out.options.set;
  if (o.party == "backend") {
    if (int(!o.spawn.empty()) + int(!o.connect.empty()) + int(!o.adapter.empty()) != 1) {
      out.error =
          "certify backend: give exactly one of --spawn 'COMMAND with {addr}', "
          "--connect tcp:HOST:PORT|unix:PATH or --adapter NAME (list --peers)";
      return out;
    }
    std::vector<std::string> transports = {o.transport};
    if (o.transport == "both") transports = {"tcp", "unix"};
    if (!o.adapter.empty()) {
      std::string knobs;
      if (!knobs_yaml(o.knobs, knobs, out.error)) return out;
      set.push_back("topology: {backend: {kind: " + o.adapter +
                    (knobs.empty() ? "" : ", knobs: {" + knobs + "}") + "}}");
    } else if (!o.connect.empty()) {
      set.push_back("topology: {backend: {kind: external, address: " + quoted(o.connect) + "}}");
      transports = {""};  // where it listens is where it listens
    } else {
      if (o.spawn.find("{addr}") == std::string::npos &&
          o.spawn.find("{port}") == std::string::npos &&
          o.spawn.find("{path}") == std::string::npos) {
        out.error =
            "certify backend --spawn: the command line must say where to listen: {addr} "
            "(127.0.0.1:PORT or unix:/PATH), or {host} {port} / {path}";
        return out;
      }
      set.push_back("topology: {backend: {kind: command, command: " + quoted(o.spawn) +
                    user_key(o) + "}}");
    }
    std::vector<std::string> personalities = {o.personality};
    if (o.personality == "all") personalities = kPersonalities;
    for (const auto& p : personalities)
      if (std::find(kPersonalities.begin(), kPersonalities.end(), p) == kPersonalities.end()) {
        out.error = "--personality " + p +
                    ": one of plain, nginx, apache, lighttpd, haproxy, "
                    "caddy, all";
        return out;
      }
    if (personalities.size() == 1 && transports.size() == 1) {
      set.push_back("topology: {gateway: {personality: " + personalities[0] + "}}");
      if (!transports[0].empty())
        set.push_back("topology: {backend: {transport: " + transports[0] + "}}");
      return out;
    }
    for (const auto& p : personalities)
      for (const auto& t : transports) {
        std::string name = p + (t.empty() || transports.size() == 1 ? "" : "-" + t);
        std::string yaml = "topology: {gateway: {personality: " + p + "}";
        if (!t.empty()) yaml += ", backend: {transport: " + t + "}";
        out.options.matrix.emplace_back(name, yaml + "}");
      }
    return out;
  }
  // gateway
  if (o.adapter.empty() == o.spawn.empty()) {
    out.error =
        "certify gateway: give exactly one of --adapter NAME (fcgi-harness list --peers) "
        "or --spawn 'COMMAND with {http_port} and {backend_addr}'";
    return out;
  }
  // Where the fake backend listens, so the gateway's unix-socket upstream is certified too.
  if (o.transport == "both") {
    for (const std::string t : {"tcp", "unix"})
      out.options.matrix.emplace_back(t, "topology: {backend: {transport: " + t + "}}");
  } else {
    set.push_back("topology: {backend: {transport: " + o.transport + "}}");
  }
  if (!o.adapter.empty()) {
    std::string knobs;
    if (!knobs_yaml(o.knobs, knobs, out.error)) return out;
    set.push_back("topology: {gateway: {kind: " + o.adapter +
                  (knobs.empty() ? "" : ", knobs: {" + knobs + "}") + "}}");
  } else {
    std::string yaml =
        "topology: {gateway: {kind: command, command: " + quoted(o.spawn) + user_key(o);
    if (!o.config.empty()) yaml += ", config: " + quoted(fs::absolute(o.config).string());
    if (!o.ready_path.empty()) yaml += ", ready_path: " + quoted(o.ready_path);
    set.push_back(yaml + "}}");
  }
  return out;
}

void print_check(std::ostream& out, const runner::ScenarioReport& r, bool verbose) {
  const auto& c = *r.scenario.certify;
  std::string verdict(scenario::verdict_name(r.verdict));
  verdict.resize(std::max<std::size_t>(verdict.size(), 14), ' ');
  std::string name = check_name(r.scenario);
  name.resize(std::max<std::size_t>(name.size(), 48), ' ');
  std::string level(scenario::level_name(c.level));
  level.resize(8, ' ');
  out << verdict << name << level << r.scenario.title;
  if (r.runs.size() > 1) {
    char rate[96];
    std::snprintf(rate, sizeof rate, "  (%zu runs; failure rate %.2f, 95%% CI %.2f-%.2f)",
                  r.runs.size(), r.failure_rate, r.failure_rate_ci.low, r.failure_rate_ci.high);
    out << rate;
  }
  out << "\n";
  const bool judged_down = r.verdict != Verdict::pass && r.verdict != Verdict::informational;
  if (judged_down || verbose) {
    out << "    requirement: " << c.requirement << "\n";
    if (!c.bug.empty()) out << "    field bug: " << c.bug << "\n";
    std::istringstream reason(r.reason);
    for (std::string line; std::getline(reason, line);) out << "    " << line << "\n";
  }
  for (const auto& run : r.runs)
    if (!run.evidence_dir.empty()) {
      out << "    evidence: "
          << (r.runs.size() > 1 ? run.evidence_dir.parent_path() : run.evidence_dir).string()
          << "/\n";
      break;
    }
  out.flush();
}

std::vector<scenario::Scenario> load_catalogue(const std::string& dir, const std::string& party,
                                               const scenario::LoadOptions& options,
                                               std::vector<std::string>& errors) {
  std::vector<std::string> paths;
  for (const auto& p : party.empty() ? std::vector<std::string>{"backend", "gateway"}
                                     : std::vector<std::string>{party})
    paths.push_back((fs::path(dir) / p).string());
  const auto files = runner::find_scenario_files(paths, errors);
  auto loaded = runner::load_scenarios(files, errors, options);
  std::vector<scenario::Scenario> out;
  for (auto& s : loaded) {
    if (!s.certify) {
      errors.push_back(s.file + ": a scenario of the catalogue without `certify:`");
      continue;
    }
    if (!party.empty() && s.certify->party != party) {
      errors.push_back(s.file + ": certify.id " + s.certify->id + " is not a " + party +
                       " check, but the file is in the " + party + " folder");
      continue;
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::string default_catalogue() {
  return std::string(FH_CATALOGUE_DIR);
}

/// `|` would end a Markdown table cell.
std::string cell(std::string text) {
  for (std::size_t at = 0; (at = text.find('|', at)) != std::string::npos; at += 2)
    text.replace(at, 1, "\\|");
  return text;
}

int list_catalogue(const std::string& party, const std::string& catalogue, bool markdown,
                   std::ostream& out, std::ostream& err) {
  std::vector<std::string> errors;
  auto checks =
      load_catalogue(catalogue.empty() ? default_catalogue() : catalogue, party, {}, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << "error: " << e << "\n";
    return 2;
  }
  std::sort(checks.begin(), checks.end(),
            [](const auto& a, const auto& b) { return check_name(a) < check_name(b); });
  std::map<std::string, int> by_level;
  if (markdown) {
    out << "| check | level | requirement |\n|---|---|---|\n";
    for (const auto& s : checks) {
      const auto& c = *s.certify;
      out << "| `" << check_name(s) << "` | " << scenario::level_name(c.level) << " | "
          << cell(s.title) << ": " << cell(c.requirement)
          << (c.bug.empty() ? "" : " Field bug: " + cell(c.bug)) << " |\n";
    }
    return 0;
  }
  for (const auto& s : checks) {
    const auto& c = *s.certify;
    std::string name = check_name(s);
    name.resize(std::max<std::size_t>(name.size(), 48), ' ');
    std::string level(scenario::level_name(c.level));
    ++by_level[level];
    level.resize(8, ' ');
    out << name << level << s.title << "\n    " << c.requirement << "\n";
    if (!c.bug.empty()) out << "    field bug: " << c.bug << "\n";
  }
  out << checks.size() << " check(s):";
  for (const auto& [level, n] : by_level) out << " " << n << " " << level;
  out << "\n";
  return 0;
}

int certify(const CertifyOptions& o, std::ostream& out, std::ostream& err) {
  const auto overrides = overrides_of(o);
  if (!overrides.error.empty()) {
    err << "error: " << overrides.error << "\n";
    return 2;
  }
  // Decided before the namespace is entered: inside a user namespace the harness is uid 0.
  const auto user = spawn_user(o);
  std::string isolation;  // how the implementation is contained, for the header and the report
  if (o.isolate) {
    try {
      const auto entered = net::enter_loopback_only_namespace();
      isolation = "a network namespace of its own holding only ";
      for (std::size_t i = 0; i < entered.interfaces.size(); ++i)
        isolation += (i ? ", " : "") + entered.interfaces[i];
      if (entered.user_namespace) isolation += " (in a user namespace)";
    } catch (const std::exception& e) {
      err << "error: " << e.what() << "\n";
      return 2;
    }
  }
  if (!user.empty())
    isolation += (isolation.empty() ? "" : "; ") + std::string("the command runs as ") + user;
  std::vector<std::string> errors;
  auto checks = load_catalogue(o.catalogue.empty() ? default_catalogue() : o.catalogue, o.party,
                               overrides.options, errors);
  if (!errors.empty()) {
    for (const auto& e : errors) err << "error: " << e << "\n";
    err << errors.size() << " error(s); nothing was run.\n";
    return 2;
  }
  std::vector<scenario::Scenario> selected;
  for (auto& s : checks) {
    const auto name = check_name(s);
    if (!o.cases.empty() && !any_match(o.cases, s.certify->id) && !any_match(o.cases, name))
      continue;
    if (any_match(o.exclude, s.certify->id) || any_match(o.exclude, name)) continue;
    selected.push_back(std::move(s));
  }
  if (selected.empty()) {
    err << "error: no check of the catalogue matches --cases/--exclude\n";
    return 2;
  }
  std::stable_sort(selected.begin(), selected.end(),
                   [](const auto& a, const auto& b) { return check_name(a) < check_name(b); });
  out << "certifying the " << o.party << " "
      << (!o.spawn.empty()     ? "spawned as: " + o.spawn
          : !o.connect.empty() ? "at " + o.connect
                               : "adapter " + o.adapter)
      << " against " << selected.size() << " check(s)\n";
  if (!isolation.empty()) out << "isolated: " << isolation << "\n";
  AcceptanceInputs acceptance;
  if (!load_acceptance(o.quirks, "", o.baseline, acceptance, err)) return 2;
  const auto keep = o.keep == "all"    ? runner::KeepEvidence::all
                    : o.keep == "none" ? runner::KeepEvidence::none
                                       : runner::KeepEvidence::failures;
  auto suite = runner::run_suite(
      selected, o.repeat, [&](const auto& r) { print_check(out, r, o.verbose); }, o.artifacts, keep,
      o.party);

  // The summary by level: what an implementer reads first.
  std::map<Certification::Level, std::map<Verdict, int>> by_level;
  for (const auto& r : suite.scenarios) ++by_level[r.scenario.certify->level][r.verdict];
  out << "\n";
  for (const auto& [level, counts] : by_level) {
    out << scenario::level_name(level) << ":";
    bool first = true;
    for (const auto& [v, n] : counts) {
      out << (first ? " " : ", ") << n << " " << scenario::verdict_name(v);
      first = false;
    }
    out << "\n";
  }
  auto results = reports::to_json(suite);
  results["subject"] = subject_of(o);
  if (!isolation.empty()) results["subject"]["isolation"] = isolation;
  const bool failed = judge_and_print(results, acceptance, o.strict, out);
  try {
    write_reports(suite, results, {o.json, o.junit, o.markdown, o.html},
                  "fcgi-harness certify " + o.party);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 1;
  }
  if (runner::interrupted()) return 128 + runner::interrupt_signal();
  return failed ? 1 : 0;
}

}  // namespace fh::cli
