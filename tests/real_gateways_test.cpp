// Real gateways (nginx, lighttpd, apache, apache-fcgid, h2o, haproxy, caddy) in front of the
// FAKE backend, which runs on an io_context the test pumps while the gateway starts; and the
// generic adapters with the Python helpers in tests/data/generic/. A gateway that is not
// installed FAILS with the apt package to install: never a silent skip (issue 4).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "client/http_client.hpp"
#include "fake-backends/fake_backend.hpp"
#include "peers/gateways.hpp"
#include "peers/generic.hpp"
#include "peers/process.hpp"
#include "probe/probe_contract.hpp"
#include "util/sha256.hpp"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace peers = fh::peers;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fh::client::Exchange;
using fh::client::Outcome;
using fh::client::RequestSpec;

const fs::path kGeneric = fs::path(FH_SOURCE_DIR) / "tests" / "data" / "generic";

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A fresh mkdtemp directory, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    char templ[] = "/tmp/fh-gw-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// Every live (not zombie) descendant of `root`, with `root`: the group, and anything a
// gateway's children started in a session of its own (mod_fcgid's applications).
std::set<pid_t> live_tree(pid_t root) {
  std::map<pid_t, pid_t> parent;
  std::set<pid_t> live;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    const pid_t pid = std::stoi(name);
    parent[pid] = ppid;
    if (state != 'Z') live.insert(pid);
  }
  std::set<pid_t> tree;
  for (pid_t pid : live) {
    for (pid_t p = pid; p > 1; p = parent.count(p) ? parent[p] : 0) {
      if (p == root) {
        tree.insert(pid);
        break;
      }
    }
  }
  return tree;
}

bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && line.size() > close + 2 && line[close + 2] != 'Z';
}

// The fake backend on an io_context this test pumps while a real peer starts.
class Rig {
 public:
  explicit Rig(fh::net::Address backend_listen = fh::net::Address::tcp("127.0.0.1", 0))
      : backend_(io_, config(backend_listen)) {
    backend_.start();
  }
  ~Rig() {
    backend_.stop();
    io_.restart();
    io_.run_for(200ms);
  }

  static fh::fake::BackendConfig config(fh::net::Address listen) {
    fh::fake::BackendConfig config;
    config.listen = std::move(listen);
    return config;
  }
  fh::net::Address backend_address() const { return backend_.address(); }
  const fh::fake::FakeBackend& backend() const { return backend_; }
  std::function<void()> pump() {
    return [this] {
      io_.restart();
      io_.poll();
    };
  }

  /// One exchange through `gateway`, bounded by a deadline (a hung gateway is a failure,
  /// never a hung test).
  Exchange request(const fh::net::Address& gateway, RequestSpec spec,
                   std::chrono::milliseconds deadline = 10s) {
    Exchange x;
    bool done = false;
    asio::co_spawn(io_, fh::client::exchange(gateway, std::move(spec), x),
                   [&](std::exception_ptr) { done = true; });
    const auto end = Clock::now() + deadline;
    io_.restart();
    while (!done && Clock::now() < end) io_.run_one_for(50ms);
    EXPECT_TRUE(done) << "no answer within " << deadline.count() << " ms: " << x.summary();
    return x;
  }

 private:
  asio::io_context io_;
  fh::fake::FakeBackend backend_;
};

RequestSpec get(std::string target) {
  RequestSpec spec;
  spec.target = std::move(target);
  spec.headers = {{"Connection", "close"}};
  return spec;
}

RequestSpec post_echo(std::string body) {
  RequestSpec spec = get("/probe?echo=1");
  spec.method = "POST";
  spec.body = std::move(body);
  return spec;
}

// The probe checks every gateway must pass: the exact 1000-byte pattern, a POST echoed back,
// and the backend's 404 passed through.
void check_probes(Rig& rig, const fh::net::Address& gateway, const std::string& who) {
  SCOPED_TRACE(who);
  const Exchange sized = rig.request(gateway, get("/probe?size=1000"));
  EXPECT_EQ(sized.outcome, Outcome::complete) << sized.summary();
  EXPECT_EQ(sized.status, 200) << sized.summary();
  EXPECT_EQ(sized.body_bytes, 1000u);
  EXPECT_EQ(sized.body_sha256, fh::probe::pattern_sha256(1000));

  std::string body;
  for (int i = 0; i < 20000; ++i) body += static_cast<char>((i * 7 + i / 256) & 0xff);
  const Exchange echo = rig.request(gateway, post_echo(body));
  EXPECT_EQ(echo.outcome, Outcome::complete) << echo.summary();
  EXPECT_EQ(echo.status, 200) << echo.summary();
  EXPECT_EQ(echo.body_bytes, body.size());
  EXPECT_EQ(echo.body_sha256, fh::util::sha256_hex(body));

  const Exchange missing = rig.request(gateway, get("/probe?status=404"));
  EXPECT_EQ(missing.outcome, Outcome::complete) << missing.summary();
  EXPECT_EQ(missing.status, 404) << missing.summary();
}

// Stops `peer` and checks that nothing it started is left (zombies excepted: real-peers.md
// §1.2), the group included.
void stop_and_check_reaped(peers::Peer& peer, double& stop_ms) {
  ASSERT_NE(peer.process(), nullptr);
  const pid_t leader = peer.process()->pid();
  const auto tree = live_tree(leader);
  EXPECT_FALSE(tree.empty());
  const auto t0 = Clock::now();
  peer.stop();
  stop_ms = ms_since(t0);
  EXPECT_TRUE(peers::group_members(leader).empty()) << "group " << leader << " still has members";
  for (pid_t pid : tree) EXPECT_FALSE(alive(pid)) << "process " << pid << " outlived stop()";
}

peers::PeerInfo require_installed(const std::string& kind) {
  const auto info = peers::gateway_info(kind);
  // Never a silent skip: the message says what to install.
  EXPECT_TRUE(info.installed) << info.missing_reason;
  return info;
}

// Non-default values of every knob (the unix-socket test runs the defaults): the config they
// render must start and serve the probes.
std::map<std::string, std::string> tuned_knobs(const std::string& kind) {
  static const std::map<std::string, std::map<std::string, std::string>> knobs = {
      {"nginx",
       {{"fastcgi_keep_conn", "on"},
        {"fastcgi_buffering", "off"},
        {"fastcgi_request_buffering", "off"},
        {"fastcgi_read_timeout", "20s"}}},
      {"lighttpd", {{"server.stream-response-body", "2"}, {"server.stream-request-body", "1"}}},
      {"apache", {{"enablereuse", "on"}, {"flushpackets", "on"}, {"timeout", "20"}}},
      // Two requests per relay process: the three probes see mod_fcgid rotate it.
      {"apache-fcgid", {{"FcgidMaxRequestsPerProcess", "2"}}},
      {"h2o", {{"fastcgi.timeout.io", "20000"}, {"fastcgi.timeout.keepalive", "5000"}}},
      {"haproxy",
       {{"keep-conn", "off"}, {"mpxs-conns", "on"}, {"max-reqs", "4"}, {"http-reuse", "always"}}},
      {"caddy", {{"flush_interval", "-1"}}},
  };
  return knobs.at(kind);
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class RealGateway : public ::testing::TestWithParam<std::string> {};

TEST_P(RealGateway, ServesProbesOverTcpAndStopsItsGroup) {
  const auto info = require_installed(GetParam());
  if (!info.installed) return;
  TempDir dir;
  Rig rig;
  peers::PeerOptions options;
  options.run_dir = dir.path;
  options.listen = fh::net::Address::tcp("127.0.0.1", 0);
  options.upstream = rig.backend_address();
  options.knobs = tuned_knobs(GetParam());
  options.pump = rig.pump();
  auto gateway = peers::make_gateway(GetParam(), options);

  const auto t0 = Clock::now();
  ASSERT_NO_THROW(gateway->start());
  const double start_ms = ms_since(t0);
  const auto address = gateway->address();
  EXPECT_EQ(address.host, "127.0.0.1");
  EXPECT_GT(address.port, 0);
  EXPECT_LT(address.port, 32768);
  EXPECT_EQ(rig.backend().requests_begun(), 0u) << "readiness must not reach the backend";

  check_probes(rig, address, info.kind + " " + info.version);
  EXPECT_EQ(rig.backend().requests_begun(), 3u);

  const auto artefacts = gateway->artefacts();
  EXPECT_GE(artefacts.size(), 2u);  // config and at least one log
  for (const auto& f : artefacts) EXPECT_EQ(f.parent_path(), dir.path) << f;
  ASSERT_FALSE(artefacts.empty());
  const std::string config = read_text(artefacts.front());
  for (const auto& [knob, value] : options.knobs) {
    // haproxy spells on/off as "[no] option name" (checked by KeepConnKnobSetsTheBeginRequestFlag).
    if (GetParam() == "haproxy" && (value == "on" || value == "off")) continue;
    EXPECT_NE(config.find(value), std::string::npos) << knob << "=" << value << " not in config";
  }

  double stop_ms = 0;
  stop_and_check_reaped(*gateway, stop_ms);
  std::cout << "[ timing   ] " << info.kind << " " << info.version << ": start+ready " << start_ms
            << " ms, graceful stop " << stop_ms << " ms\n";
  RecordProperty("start_ms", static_cast<int>(start_ms));
  RecordProperty("stop_ms", static_cast<int>(stop_ms));
}

TEST_P(RealGateway, ServesProbesOverAUnixSocketUpstream) {
  const auto info = require_installed(GetParam());
  if (!info.installed) return;
  TempDir dir;
  // In the run directory: Apache's children (nobody) must reach the socket.
  Rig rig(fh::net::Address::unix_socket((dir.path / "backend.sock").string()));
  peers::PeerOptions options;
  options.run_dir = dir.path;
  options.upstream = rig.backend_address();
  options.pump = rig.pump();
  auto gateway = peers::make_gateway(GetParam(), options);
  ASSERT_NO_THROW(gateway->start());

  SCOPED_TRACE(GetParam() + " unix");
  const Exchange sized = rig.request(gateway->address(), get("/probe?size=100000"));
  EXPECT_EQ(sized.outcome, Outcome::complete) << sized.summary();
  EXPECT_EQ(sized.status, 200);
  EXPECT_EQ(sized.body_sha256, fh::probe::pattern_sha256(100000));
  double stop_ms = 0;
  stop_and_check_reaped(*gateway, stop_ms);
  std::cout << "[ timing   ] " << info.kind << " (unix upstream): graceful stop " << stop_ms
            << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(Kinds, RealGateway, ::testing::ValuesIn(peers::gateway_kinds()),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

TEST(RealGateways, CatalogueNamesBinaryVersionAndPackage) {
  const auto catalogue = peers::gateway_catalogue();
  ASSERT_EQ(catalogue.size(), 7u);
  for (const auto& info : catalogue) {
    SCOPED_TRACE(info.kind);
    EXPECT_FALSE(info.apt_package.empty());
    EXPECT_FALSE(info.binary.empty());
    if (info.installed) {
      EXPECT_FALSE(info.version.empty());
      EXPECT_TRUE(info.missing_reason.empty());
    } else {
      EXPECT_NE(info.missing_reason.find("apt-get install " + info.apt_package), std::string::npos)
          << info.missing_reason;
    }
  }
  EXPECT_THROW(peers::gateway_info("iis"), peers::PeerError);
}

TEST(RealGateways, UnknownKnobAndBadValueNameWhatIsValid) {
  peers::PeerOptions options;
  options.knobs = {{"fastcgi_keepconn", "on"}};
  try {
    peers::make_gateway("nginx", options);
    ADD_FAILURE() << "an unknown knob was accepted";
  } catch (const peers::PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("fastcgi_keep_conn"), std::string::npos) << e.what();
  }
  options.knobs = {{"server.stream-response-body", "3"}};
  try {
    peers::make_gateway("lighttpd", options);
    ADD_FAILURE() << "a bad value was accepted";
  } catch (const peers::PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("0, 1 or 2"), std::string::npos) << e.what();
  }
  for (const auto& kind : peers::gateway_kinds()) {
    EXPECT_FALSE(peers::gateway_knobs(kind).empty()) << kind;
  }
}

// The knob reaches the program: FCGI_KEEP_CONN on BEGIN_REQUEST follows nginx's
// fastcgi_keep_conn (default off) and haproxy's keep-conn (default on, real-peers.md §2).
TEST(RealGateways, KeepConnKnobSetsTheBeginRequestFlag) {
  struct Case {
    std::string kind;
    std::map<std::string, std::string> knobs;
    const char* flag;
  };
  const std::vector<Case> cases = {{"nginx", {}, "keep_conn=0"},
                                   {"nginx", {{"fastcgi_keep_conn", "on"}}, "keep_conn=1"},
                                   {"haproxy", {}, "keep_conn=1"},
                                   {"haproxy", {{"keep-conn", "off"}}, "keep_conn=0"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.kind + " " + c.flag);
    if (!require_installed(c.kind).installed) continue;
    TempDir dir;
    Rig rig;
    peers::PeerOptions options;
    options.run_dir = dir.path;
    options.upstream = rig.backend_address();
    options.knobs = c.knobs;
    options.pump = rig.pump();
    auto gateway = peers::make_gateway(c.kind, options);
    ASSERT_NO_THROW(gateway->start());
    const Exchange x = rig.request(gateway->address(), get("/probe?size=10"));
    EXPECT_EQ(x.status, 200) << x.summary();
    std::string flags;
    for (const auto& e : rig.backend().log()) {
      if (e.what == "begin_request") flags += e.detail + "; ";
    }
    EXPECT_NE(flags.find(c.flag), std::string::npos) << flags;
    gateway->stop();
  }
}

// A port that already answers would make the readiness probe reach the wrong program
// (real-peers.md §1.1): start() refuses it.
TEST(RealGateways, PortInUseIsRefused) {
  if (!require_installed("nginx").installed) return;
  TempDir dir;
  Rig rig;
  peers::PeerOptions options;
  options.run_dir = dir.path;
  options.upstream = rig.backend_address();
  options.pump = rig.pump();
  auto first = peers::make_gateway("nginx", options);
  ASSERT_NO_THROW(first->start());
  TempDir dir2;
  options.run_dir = dir2.path;
  options.listen = first->address();
  auto second = peers::make_gateway("haproxy", options);
  try {
    second->start();
    ADD_FAILURE() << "a gateway started on a port in use";
  } catch (const peers::PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("already in use"), std::string::npos) << e.what();
  }
  EXPECT_EQ(second->process(), nullptr);
  first->stop();
}

// A program that exits instead of becoming ready fails start() with its exit status and log.
TEST(GenericPeers, ExitingProgramFailsStartWithItsLog) {
  TempDir dir;
  peers::PeerOptions options;
  options.run_dir = dir.path;
  options.upstream = fh::net::Address::tcp("127.0.0.1", 9);
  options.knobs = {{"command", "/bin/sh -c 'echo cannot bind {http_host}:{http_port}; exit 3'"}};
  auto gateway = peers::make_generic_gateway(options);
  try {
    gateway->start();
    ADD_FAILURE() << "an exiting program became ready";
  } catch (const peers::PeerError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("exited with status 3"), std::string::npos) << what;
    EXPECT_NE(what.find("cannot bind 127.0.0.1:"), std::string::npos) << what;
  }
}

// A backend given only as a command line (a Python FastCGI server written for the test)
// behind a gateway given only as a command line and a config template (issue 4, done-when).
TEST(GenericPeers, CommandLineGatewayInFrontOfCommandLineBackend) {
  TempDir dir;
  Rig rig;  // only its io_context and client are used here
  peers::PeerOptions backend_options;
  backend_options.run_dir = dir.path / "backend";
  backend_options.knobs = {
      {"command", "/usr/bin/python3 " + (kGeneric / "fcgi_probe_server.py").string() + " {addr}"}};
  backend_options.pump = rig.pump();
  auto backend = peers::make_generic_backend(backend_options);
  const auto t0 = Clock::now();
  ASSERT_NO_THROW(backend->start());
  const double backend_ms = ms_since(t0);

  peers::PeerOptions gateway_options;
  gateway_options.run_dir = dir.path / "gateway";
  gateway_options.upstream = backend->address();
  gateway_options.knobs = {
      {"command", "/usr/bin/python3 '" + (kGeneric / "http_gateway.py").string() + "' {config}"},
      {"config", (kGeneric / "http_gateway.conf.in").string()},
      {"stop_signal", "INT"}};
  gateway_options.pump = rig.pump();
  auto gateway = peers::make_generic_gateway(gateway_options);
  const auto t1 = Clock::now();
  ASSERT_NO_THROW(gateway->start());
  const double gateway_ms = ms_since(t1);
  std::cout << "[ timing   ] generic backend ready " << backend_ms << " ms, generic gateway "
            << gateway_ms << " ms\n";

  check_probes(rig, gateway->address(), "generic gateway + generic backend");
  const auto artefacts = gateway->artefacts();
  ASSERT_FALSE(artefacts.empty());
  std::ifstream config(artefacts.front());
  std::stringstream text;
  text << config.rdbuf();
  EXPECT_NE(text.str().find("backend = " + backend->address().to_string()), std::string::npos)
      << text.str();

  double stop_ms = 0;
  stop_and_check_reaped(*gateway, stop_ms);
  stop_and_check_reaped(*backend, stop_ms);
}

// The generic backend on a unix socket behind a real gateway (nginx): real + user-supplied.
TEST(GenericPeers, CommandLineBackendOnUnixSocketBehindNginx) {
  if (!require_installed("nginx").installed) return;
  TempDir dir;
  Rig rig;
  peers::PeerOptions backend_options;
  backend_options.run_dir = dir.path;
  backend_options.listen = fh::net::Address::unix_socket("");
  backend_options.knobs = {
      {"command", (kGeneric / "fcgi_probe_server.py").string() + " unix:{path}"}};
  backend_options.pump = rig.pump();
  auto backend = peers::make_generic_backend(backend_options);
  ASSERT_NO_THROW(backend->start());
  EXPECT_EQ(backend->address().path, (dir.path / "backend.sock").string());

  peers::PeerOptions gateway_options;
  gateway_options.run_dir = dir.path / "nginx";
  gateway_options.upstream = backend->address();
  gateway_options.pump = rig.pump();
  auto gateway = peers::make_gateway("nginx", gateway_options);
  ASSERT_NO_THROW(gateway->start());
  check_probes(rig, gateway->address(), "nginx + generic backend (unix)");
  gateway->stop();
  backend->stop();
}

TEST(GenericPeers, CommandLineErrorsAreClear) {
  EXPECT_EQ(peers::split_command_line(R"(a 'b c' "d \"e\"" f\ g)"),
            (std::vector<std::string>{"a", "b c", "d \"e\"", "f g"}));
  EXPECT_THROW(peers::split_command_line("a 'b"), peers::PeerError);
  EXPECT_EQ(peers::signal_from_name("SIGQUIT"), SIGQUIT);
  EXPECT_THROW(peers::signal_from_name("STOPIT"), peers::PeerError);

  TempDir dir;
  peers::PeerOptions options;
  options.run_dir = dir.path;
  options.knobs = {{"command", "/nonexistent/fh-gateway {http_port}"}};
  auto missing = peers::make_generic_gateway(options);
  EXPECT_FALSE(missing->info().installed);
  EXPECT_THROW(missing->start(), peers::PeerError);

  options.knobs = {{"command", "/bin/true {no_such_placeholder}"}};
  try {
    peers::make_generic_gateway(options)->start();
    ADD_FAILURE() << "an unknown placeholder was accepted";
  } catch (const peers::PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_placeholder"), std::string::npos) << e.what();
  }
  options.knobs = {{"command", "/bin/true"}, {"readyness", "x"}};
  EXPECT_THROW(peers::make_generic_backend(options), peers::PeerError);
}

}  // namespace
