// fcgi-harness: runs FastCGI scenarios and grades what it observes.
// Exit codes: 0 nothing FAILed or ERRORed; 1 something did; 2 usage or scenario-file errors.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cli/certify.hpp"
#include "cli/listings.hpp"
#include "cli/report.hpp"
#include "cli/serve.hpp"
#include "peers/custody.hpp"
#include "reports/html_report.hpp"
#include "reports/reports.hpp"
#include "runner/interrupt.hpp"
#include "runner/suite.hpp"
#include "scenario/schema.hpp"

namespace {

using fh::scenario::Verdict;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct Style {
  bool colour = false;
  std::string paint(Verdict v, std::string_view text) const {
    if (!colour) return std::string(text);
    const char* code = "";
    switch (v) {
      case Verdict::pass:
        code = "\033[32m";
        break;
      case Verdict::non_strict:
        code = "\033[33m";
        break;
      case Verdict::informational:
        code = "\033[36m";
        break;
      case Verdict::fail:
        code = "\033[31m";
        break;
      case Verdict::error:
        code = "\033[35m";
        break;
      case Verdict::skip:
        code = "\033[90m";
        break;
    }
    return code + std::string(text) + "\033[0m";
  }
};

std::string padded(std::string_view text, std::size_t width) {
  std::string out(text);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}

std::string indent(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) out += prefix + line + "\n";
  return out;
}

std::string format_ms(double ms) {
  char buf[32];
  if (ms < 10000)
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  else
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  return buf;
}

void print_scenario(std::ostream& out, const fh::runner::ScenarioReport& r, const Style& style,
                    bool verbose, std::size_t width) {
  const auto name = std::string(fh::scenario::verdict_name(r.verdict));
  out << style.paint(r.verdict, padded(name, 14)) << padded(r.scenario.display_name(), width)
      << "  " << padded(format_ms(r.duration_ms), 9);
  if (r.runs.size() > 1) {
    out << "  " << r.runs.size() << " runs:";
    for (const auto& [v, n] : r.counts) out << " " << n << " " << fh::scenario::verdict_name(v);
    char buf[96];
    std::snprintf(buf, sizeof buf, "; failure rate %.2f (95%% CI %.2f-%.2f)", r.failure_rate,
                  r.failure_rate_ci.low, r.failure_rate_ci.high);
    out << buf;
  } else {
    out << "  " << r.scenario.title;
  }
  if (r.scenario.expected_verdict)
    out << (r.as_expected() ? "  [as expected: emulates " : "  [NOT AS EXPECTED: emulates ")
        << r.scenario.emulates << "]";
  out << "\n";
  // The reason of every FAIL is shown, also of an expected one: it names the bug's symptom.
  const bool bad = r.failed() || r.verdict == Verdict::fail || r.verdict == Verdict::error;
  if (bad || r.verdict == Verdict::skip || (verbose && r.verdict != Verdict::pass))
    out << indent(r.reason, "    ");
  // The joined timeline of the first run that earned the scenario's verdict: always for an
  // unexpected FAIL or ERROR, with -v for any verdict but PASS and SKIP. An expected FAIL
  // (an emulated bug detected) keeps its timeline in its evidence folder.
  if ((r.failed() || verbose) && r.verdict != Verdict::pass && r.verdict != Verdict::skip) {
    for (const auto& run : r.runs) {
      if (run.verdict != r.verdict) continue;
      if (!run.timeline.empty()) out << "    timeline:\n";
      for (const auto& line : run.timeline) out << "      " << line << "\n";
      break;
    }
  }
  // Where the evidence went (the first kept run; the others are beside it).
  for (const auto& run : r.runs)
    if (!run.evidence_dir.empty()) {
      const auto where = r.runs.size() > 1 ? run.evidence_dir.parent_path() : run.evidence_dir;
      out << "    evidence: " << where.string() << "/\n";
      break;
    }
  out.flush();
}

/// How many of the reports (--json, --junit, --markdown paths) go to stdout ("-"). More than
/// one is a usage error, said here; with one, the human lines go to stderr so stdout stays
/// the report.
int reports_on_stdout(const std::string& json, const std::string& junit,
                      const std::string& markdown) {
  const int n = int(json == "-") + int(junit == "-") + int(markdown == "-");
  if (n > 1) std::cerr << "error: only one of --json, --junit and --markdown can write to stdout\n";
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fcgi-harness: runs FastCGI scenarios (client -> gateway -> backend, with scripted faults) "
      "and grades\n"
      "what it observes as PASS, NON-STRICT, INFORMATIONAL, FAIL, ERROR or SKIP.",
      "fcgi-harness"};
  app.footer(
      "Examples:\n"
      "  fcgi-harness run                                 run every scenario under scenarios/\n"
      "  fcgi-harness run scenarios/faults --filter 'close-*'   only the matching ids\n"
      "  fcgi-harness run scenarios/basic/large-response.yaml --repeat 20 --json out.json\n"
      "  fcgi-harness run --junit results.xml             JUnit XML for Jenkins / GitHub Actions\n"
      "  fcgi-harness list scenarios/                     ids, variants and titles\n"
      "  fcgi-harness list --events                       every event a scenario can name\n"
      "  fcgi-harness list --faults                       every fault family, verb and key\n"
      "  fcgi-harness schema -o scenario.schema.json      the format, for editors\n"
      "\n"
      "Exit status: 0 when nothing FAILed or ERRORed, 1 when something did, 2 for usage or\n"
      "scenario-file errors (then nothing runs). Colour only on a terminal, never with NO_COLOR.\n"
      "The scenario format, the verdicts and the JSON result are described in README.md.");
  app.require_subcommand(1);
  app.fallthrough();  // -v works before or after the subcommand
  app.set_version_flag("--version", "fcgi-harness 0.1.0");
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose,
               "diagnostics (spdlog debug) and the joined timeline of every non-PASS "
               "scenario (an unexpected FAIL or ERROR prints it anyway)");

  std::vector<std::string> paths;
  std::string filter, json_path, junit_path, markdown_path, html_path, run_label,
      artifacts_dir = "fcgi-harness-artifacts";
  std::string keep = "failures";
  int repeat = 1;
  auto* run = app.add_subcommand("run", "run scenarios and print one verdict line per scenario");
  run->add_option("paths", paths, "scenario files or folders (searched recursively for *.yaml)")
      ->default_str("scenarios/");
  run->add_option("--filter", filter,
                  "only scenarios whose id, id[variant] or file matches this glob");
  run->add_option("--repeat", repeat,
                  "run each scenario N times; reports verdict counts and failure rate")
      ->check(CLI::Range(1, 100000));
  run->add_option("--json", json_path, "write the JSON result to FILE ('-' for stdout)");
  run->add_option("--junit", junit_path, "write JUnit XML to FILE ('-' for stdout)");
  run->add_option("--markdown", markdown_path,
                  "write a Markdown summary to FILE (counts, then what did not pass); it is "
                  "also appended to $GITHUB_STEP_SUMMARY when that is set");
  run->add_option("--html", html_path,
                  "write the HTML report to FILE: one self-contained page, the scenarios grouped "
                  "by folder, each with its detail and, where evidence was kept, its timeline "
                  "as swimlanes (see also: fcgi-harness report)");
  run->add_option("--label", run_label, "the results' name in reports (default: run)");
  std::string quirks_path, baseline_path;
  run->add_option("--quirks", quirks_path,
                  "the allowed quirks and known races (YAML: check glob, implementation, "
                  "allowed grade, max_rate, reason, expires); default ./quirks.yaml "
                  "when it exists, 'none' for none. An expired quirk fails the run");
  run->add_option("--baseline", baseline_path,
                  "a committed results file (run --json): fail only on regressions (worse "
                  "than it, or new and failing) and report improvements")
      ->check(CLI::ExistingFile);
  run->add_option("--artifacts", artifacts_dir,
                  "where runs' evidence goes: DIR/<id[variant]>/ (run-N/ with --repeat), "
                  "emptied before the scenario runs: timeline.json (the joined timeline), "
                  "capture.pcapng (observe: {wire: true}), the real programs' configs, logs "
                  "and strace logs under peers/")
      ->default_str("fcgi-harness-artifacts");
  run->add_option("--keep", keep,
                  "whose evidence is kept: failures (runs graded FAIL or ERROR, expected or "
                  "not), all, none")
      ->check(CLI::IsMember({"failures", "all", "none"}))
      ->default_str("failures");
  run->footer("Example: fcgi-harness run scenarios/faults --repeat 20 --json faults.json");

  std::vector<std::string> list_paths;
  std::string list_filter;
  auto* list = app.add_subcommand(
      "list", "list the scenarios (id, variant, file, title) without running them");
  list->add_option("paths", list_paths, "scenario files or folders")->default_str("scenarios/");
  list->add_option("--filter", list_filter, "only scenarios matching this glob");
  fh::scenario::LoadOptions overrides;
  std::vector<std::string> matrix;
  for (auto* sub : {run, list}) {
    sub->add_option(
        "--set", overrides.set,
        "YAML merged into every scenario, like a variant's set (repeatable), e.g. "
        "--set 'topology: {gateway: {kind: nginx, knobs: {fastcgi_buffering: \"off\"}}}'");
    sub->add_option("--matrix", matrix,
                    "NAME=YAML: run every scenario once per entry, as id[variant+NAME] "
                    "(repeatable), e.g. --matrix 'srb0=topology: {gateway: {knobs: "
                    "{server.stream-response-body: \"0\"}}}'");
  }
  bool list_peers = false, list_events = false, list_faults = false;
  list->add_flag("--peers", list_peers,
                 "the real gateways and backends scenarios can use: installed or not, version, "
                 "apt package, knobs");
  list->add_flag("--events", list_events,
                 "every event a scenario can name, by party: meaning, value, detail, and what "
                 "the topology needs to see it");
  list->add_flag("--faults", list_faults,
                 "every fault family, by party: where its keys go, its verbs and keys, the "
                 "events it publishes");
  std::string schema_out = "-";
  auto* schema = app.add_subcommand(
      "schema",
      "write the JSON Schema of the scenario format (for editors with the YAML language "
      "server: put `# yaml-language-server: $schema=PATH` at the top of a scenario)");
  schema->add_option("-o,--output", schema_out, "where to write it ('-' for stdout)")
      ->default_str("-");
  schema->footer("Example: fcgi-harness schema -o scenario.schema.json");

  std::vector<std::string> report_inputs, report_labels;
  std::string report_out = "report.html", report_title = "fcgi-harness report";
  auto* report = app.add_subcommand(
      "report",
      "merge results (run --json, certify --json) into one self-contained HTML report: the "
      "matrix of implementations x checks by spec section, each cell's detail and timeline");
  report->add_option("results", report_inputs, "results JSON files, one column each")
      ->required()
      ->check(CLI::ExistingFile);
  report->add_option("-o,--output", report_out, "the HTML file to write")
      ->default_str("report.html");
  report->add_option("--title", report_title, "the page's title")
      ->default_str("fcgi-harness report");
  report->add_option("--label", report_labels,
                     "the columns' names, in the order of the files (default: the name each "
                     "results file records, else its file name)");
  report->footer(
      "Example:\n"
      "  fcgi-harness certify gateway --adapter nginx --json nginx.json\n"
      "  fcgi-harness certify gateway --adapter lighttpd --json lighttpd.json\n"
      "  fcgi-harness report nginx.json lighttpd.json -o report.html\n"
      "Evidence links are relative to the report: keep the evidence folders (--artifacts) "
      "beside it when you archive it.");

  fh::cli::CertifyOptions certify_options;
  bool certify_list = false;
  auto* certify = app.add_subcommand(
      "certify",
      "certify a FastCGI backend or gateway against the catalogue (scenarios/certify/): one "
      "check per requirement of FastCGI 1.0, RFC 3875 and RFC 9112, and the field bugs");
  certify->add_flag("--list", certify_list,
                    "list the catalogue's checks (id, level, requirement) and exit");
  bool certify_markdown = false;
  certify->add_flag("--markdown", certify_markdown, "with --list: as a Markdown table");
  certify->add_option("--catalogue", certify_options.catalogue,
                      "the catalogue's folder (default: the built-in one)");
  // Before the subcommands: CLI11 gives a subcommand its parent's footer when it is made.
  certify->footer(
      "Examples:\n"
      "  fcgi-harness certify --list\n"
      "  fcgi-harness certify backend --spawn 'python3 app.py {addr}' --personality all\n"
      "  fcgi-harness certify backend --adapter php-fpm --transport both\n"
      "  fcgi-harness certify backend --connect unix:/run/app.sock --cases 'backend/5.*'\n"
      "  fcgi-harness certify gateway --adapter nginx --knob fastcgi_buffering=off\n"
      "  fcgi-harness certify gateway --spawn './gw --port {http_port} --fcgi {backend_addr}'\n"
      "  fcgi-harness certify backend --spawn './app {addr}' --isolate    # loopback only, as "
      "nobody\n"
      "Exit status: 0 when no check FAILed or ERRORed (NON-STRICT too with --strict), 1 when "
      "one did, 2 for usage errors.");
  auto* certify_backend = certify->add_subcommand(
      "backend", "certify a backend; the fake gateway drives it (with --personality)");
  auto* certify_gateway = certify->add_subcommand(
      "gateway", "certify a gateway; the fake backend answers it (with each check's faults)");
  certify_backend
      ->add_option("--spawn", certify_options.spawn,
                   "start it with this command line; {addr} is where it must listen "
                   "(127.0.0.1:PORT or unix:/PATH; also {host} {port} {path})")
      ->excludes(certify_backend->add_option(
          "--connect", certify_options.connect,
          "it is already running at tcp:HOST:PORT, HOST:PORT or unix:PATH"));
  certify_backend->add_option("--adapter", certify_options.adapter,
                              "a real backend the harness has an adapter for (list --peers)");
  certify_backend->add_option("--knob", certify_options.knobs, "K=V for the adapter (repeatable)");
  certify_backend
      ->add_option("--transport", certify_options.transport,
                   "with --spawn or --adapter: where it listens: tcp, unix or both")
      ->check(CLI::IsMember({"tcp", "unix", "both"}));
  certify_backend->add_option("--personality", certify_options.personality,
                              "the fake gateway's: plain (default), nginx, apache, lighttpd, "
                              "haproxy, caddy, or all (each check once per personality)");
  certify_gateway
      ->add_option("--transport", certify_options.transport,
                   "where the fake backend listens, so where the gateway connects: tcp, unix "
                   "or both (each check once per transport)")
      ->check(CLI::IsMember({"tcp", "unix", "both"}));
  certify_gateway->add_option("--adapter", certify_options.adapter,
                              "a real gateway the harness has an adapter for (list --peers)");
  certify_gateway->add_option("--knob", certify_options.knobs, "K=V for the adapter (repeatable)");
  certify_gateway->add_option(
      "--spawn", certify_options.spawn,
      "start it with this command line ({http_port}, {backend_addr}, {config}, {run_dir})");
  certify_gateway->add_option("--config", certify_options.config,
                              "with --spawn: a config template rendered with the same "
                              "placeholders, as {config}");
  certify_gateway->add_option("--ready-path", certify_options.ready_path,
                              "with --spawn: the path polled until it answers (default /)");
  for (auto* sub : {certify_backend, certify_gateway}) {
    sub->add_option("--cases", certify_options.cases,
                    "only the checks whose id matches this glob (repeatable)");
    sub->add_option("--exclude", certify_options.exclude,
                    "not the checks whose id matches this glob (repeatable)");
    sub->add_flag("--strict", certify_options.strict, "NON-STRICT fails the certification too");
    sub->add_flag("--isolate", certify_options.isolate,
                  "run the harness and what it starts in a network namespace of their own, "
                  "holding only loopback (as root; otherwise in a user namespace too), and a "
                  "--spawn command as nobody unless --user");
    sub->add_option("--user", certify_options.user,
                    "run the --spawn command as this account (the harness must be root)");
    sub->add_option("--repeat", certify_options.repeat, "run each check N times (timing races)")
        ->check(CLI::Range(1, 100000));
    sub->add_option("--json", certify_options.json, "write the JSON result to FILE ('-': stdout)");
    sub->add_option("--junit", certify_options.junit, "write JUnit XML to FILE");
    sub->add_option("--markdown", certify_options.markdown,
                    "write a Markdown summary to FILE (also appended to $GITHUB_STEP_SUMMARY "
                    "when that is set)");
    sub->add_option("--html", certify_options.html,
                    "write the HTML report to FILE: the checks grouped by spec section, each "
                    "with its requirement, verdict and, for failures, the timeline as swimlanes");
    sub->add_option("--quirks", certify_options.quirks,
                    "allowed quirks (YAML: check glob, implementation, allowed grade, "
                    "max_rate, reason, expires): an allowed result does not fail the "
                    "certification, an expired quirk does");
    sub->add_option("--baseline", certify_options.baseline,
                    "a committed results file (certify --json): fail only on regressions")
        ->check(CLI::ExistingFile);
    sub->add_option("--label", certify_options.label,
                    "the implementation's name in reports (default: the adapter and its version, "
                    "or the spawned program's name)");
    sub->add_option("--artifacts", certify_options.artifacts,
                    "where the evidence of failed checks goes")
        ->default_str("fcgi-harness-artifacts");
    sub->add_option("--keep", certify_options.keep, "failures, all or none")
        ->check(CLI::IsMember({"failures", "all", "none"}));
  }

  fh::cli::ServeOptions serve_options;
  auto* serve = app.add_subcommand(
      "serve", "run an embedded fake as a standalone server (until Ctrl-C or SIGTERM)");
  serve->require_subcommand(1);
  serve->footer(
      "Examples:\n"
      "  fcgi-harness serve backend --listen 127.0.0.1:9000 --events -\n"
      "  fcgi-harness serve backend --listen unix:/tmp/fake.sock --set 'record_size: 1000'\n"
      "  fcgi-harness serve gateway --listen 127.0.0.1:8080 --backend 127.0.0.1:9000 \\\n"
      "      --set 'personality: nginx'");
  auto* serve_backend = serve->add_subcommand(
      "backend", "the fake FastCGI backend (the probe app), with a scenario's backend keys");
  auto* serve_gateway = serve->add_subcommand(
      "gateway", "the fake HTTP -> FastCGI gateway, with a scenario's gateway keys");
  for (auto* sub : {serve_backend, serve_gateway}) {
    sub->add_option("--listen", serve_options.listen,
                    sub == serve_backend ? "HOST:PORT, tcp:HOST:PORT or unix:PATH"
                                         : "HOST:PORT or tcp:HOST:PORT")
        ->required();
    sub->add_option("--config", serve_options.config,
                    "a YAML file of its keys (those of topology.backend / topology.gateway, "
                    "kind fake: docs/faults-*.md, fcgi-harness list --faults)");
    sub->add_option("--set", serve_options.set,
                    "YAML keys merged over the file (repeatable), e.g. --set 'faults: [{at: "
                    "params_complete, do: close}]'");
    sub->add_option("--events", serve_options.events,
                    "write every event as a JSON line to FILE ('-': stdout)");
  }
  serve_gateway
      ->add_option("--backend", serve_options.backend,
                   "the FastCGI backend: HOST:PORT, tcp:HOST:PORT or unix:PATH")
      ->required();
  serve_gateway->add_option("--document-root", serve_options.document_root,
                            "SCRIPT_FILENAME = this + the request path (default /srv/probe)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  fh::runner::install_interrupt_handlers();
  auto logger = spdlog::stderr_color_mt("fcgi-harness");
  spdlog::set_default_logger(logger);
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);

  // A run killed together with its watchdog (custody.hpp) left processes or folders: they go
  // before anything starts. Another running harness's are not touched.
  if (const auto left = fh::peers::custody::clean_up_after_dead_runs();
      left.processes + left.folders + left.cgroups > 0) {
    std::cerr << "note: removed what killed runs left: " << left.processes << " process(es), "
              << left.folders << " temporary folder(s), " << left.cgroups << " cgroup(s)\n";
  }

  if (certify->parsed()) {
    certify_options.verbose = verbose;
    if (certify_list) {
      const std::string party = certify_backend->parsed()   ? "backend"
                                : certify_gateway->parsed() ? "gateway"
                                                            : "";
      return fh::cli::list_catalogue(party, certify_options.catalogue, certify_markdown, std::cout,
                                     std::cerr);
    }
    if (!certify_backend->parsed() && !certify_gateway->parsed()) {
      std::cerr << "error: certify backend|gateway (or certify --list); see certify --help\n";
      return kExitUsage;
    }
    certify_options.party = certify_backend->parsed() ? "backend" : "gateway";
    const int on_stdout =
        reports_on_stdout(certify_options.json, certify_options.junit, certify_options.markdown);
    if (on_stdout > 1) return kExitUsage;
    return fh::cli::certify(certify_options, on_stdout ? std::cerr : std::cout, std::cerr);
  }
  if (serve_backend->parsed()) return fh::cli::serve_backend(serve_options, std::cerr);
  if (serve_gateway->parsed()) return fh::cli::serve_gateway(serve_options, std::cerr);
  if (report->parsed())
    return fh::cli::write_report(report_inputs, report_labels, report_title, report_out, std::cerr);
  if (schema->parsed()) {
    try {
      fh::reports::write_text_file(schema_out, fh::scenario::scenario_schema().dump(2) + "\n");
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  if (list->parsed() && (list_peers + list_events + list_faults) > 1) {
    std::cerr << "error: list takes one of --peers, --events, --faults\n";
    return kExitUsage;
  }
  if (list->parsed() && list_peers) return fh::cli::print_peers(std::cout), kExitOk;
  if (list->parsed() && list_events) return fh::cli::print_events(std::cout), kExitOk;
  if (list->parsed() && list_faults) return fh::cli::print_faults(std::cout), kExitOk;
  const bool listing = list->parsed();
  auto& chosen_paths = listing ? list_paths : paths;
  const auto& chosen_filter = listing ? list_filter : filter;
  if (chosen_paths.empty()) chosen_paths.push_back("scenarios/");

  std::vector<std::string> errors;
  for (const auto& entry : matrix) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      errors.push_back("--matrix " + entry + ": expected NAME=YAML");
      continue;
    }
    overrides.matrix.emplace_back(entry.substr(0, eq), entry.substr(eq + 1));
  }
  auto files = fh::runner::find_scenario_files(chosen_paths, errors);
  auto selected = fh::runner::load_scenarios(files, errors, overrides, chosen_filter);
  if (!errors.empty()) {
    for (const auto& e : errors) std::cerr << "error: " << e << "\n";
    std::cerr << errors.size() << " scenario error(s); nothing was run.\n";
    return kExitUsage;
  }
  if (selected.empty()) {
    std::cerr << "error: no scenario matches the filter '" << chosen_filter << "'\n";
    return kExitUsage;
  }

  std::size_t width = 0;
  for (const auto& s : selected) width = std::max(width, s.display_name().size());

  if (listing) {
    for (const auto& s : selected)
      std::cout << padded(s.display_name(), width) << "  " << padded(s.file, 40) << "  " << s.title
                << (s.skip ? "  [skip: " + *s.skip + "]" : "") << "\n";
    std::cout << selected.size() << " scenario(s)\n";
    return kExitOk;
  }

  const int on_stdout = reports_on_stdout(json_path, junit_path, markdown_path);
  if (on_stdout > 1) return kExitUsage;
  fh::cli::AcceptanceInputs acceptance;
  if (!fh::cli::load_acceptance(quirks_path, fh::cli::kDefaultQuirks, baseline_path, acceptance,
                                std::cerr))
    return kExitUsage;
  const bool report_on_stdout = on_stdout == 1;
  std::ostream& out = report_on_stdout ? std::cerr : std::cout;
  Style style;
  style.colour = ::isatty(report_on_stdout ? STDERR_FILENO : STDOUT_FILENO) &&
                 std::getenv("NO_COLOR") == nullptr;
  auto suite = fh::runner::run_suite(
      selected, repeat, [&](const auto& r) { print_scenario(out, r, style, verbose, width); },
      artifacts_dir,
      keep == "all"    ? fh::runner::KeepEvidence::all
      : keep == "none" ? fh::runner::KeepEvidence::none
                       : fh::runner::KeepEvidence::failures);

  out << "\n" << suite.scenarios.size() << " scenario(s)";
  if (repeat > 1) out << " x " << repeat << " runs";
  out << ":";
  bool first = true;
  for (const auto& [v, n] : suite.counts) {
    out << (first ? " " : ", ")
        << style.paint(v, std::to_string(n) + " " + std::string(fh::scenario::verdict_name(v)));
    first = false;
  }
  std::size_t expected = 0;
  for (const auto& r : suite.scenarios) expected += r.as_expected() ? 1 : 0;
  if (expected > 0) out << " (" << expected << " as expected: emulated bugs detected)";
  out << " in " << format_ms(suite.duration_ms) << "\n";

  auto results = fh::reports::to_json(suite);
  results["subject"] = {{"name", run_label.empty() ? "run" : run_label},
                        {"about", "fcgi-harness run"}};
  const bool failed = fh::cli::judge_and_print(results, acceptance, false, out);
  try {
    fh::cli::write_reports(suite, results, {json_path, junit_path, markdown_path, html_path},
                           "fcgi-harness run");
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitFailed;
  }
  if (fh::runner::interrupted()) {
    std::cerr << "interrupted: " << suite.scenarios.size() << " of " << selected.size()
              << " scenario(s) ran; every program the harness started was stopped\n";
    return 128 + fh::runner::interrupt_signal();
  }
  return failed ? kExitFailed : kExitOk;
}
