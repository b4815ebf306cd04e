// Real FastCGI backends of Debian 12 serving the probe-app contract, driven with the codec
// directly (a blocking client): each started on a port (or unix socket) picked at run time in a
// fresh temp dir, checked, stopped, and nothing of its process group left. A missing program is
// a FAILURE naming the apt package (ci/install-peers.sh installs them), never a skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "peers/backends.hpp"
#include "probe/probe_contract.hpp"
#include "tests/support/temp_dir.hpp"
#include "util/sha256.hpp"

namespace fh::peers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using test_support::TempDir;

std::string sha256(std::string_view data) {
  util::Sha256 h;
  h.update(data);
  return h.hex_digest();
}

std::string every_byte_value(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 % 256);
  return s;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Case {
  std::string kind;
  bool unix_socket;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.kind << (c.unix_socket ? " unix" : " tcp");
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.kind + (info.param.unix_socket ? "_unix" : "_tcp");
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

class RealBackend : public testing::TestWithParam<Case> {};

TEST_P(RealBackend, ServesTheProbeContractAndLeavesNothingRunning) {
  const Case& c = GetParam();
  const PeerInfo info = backend_info(c.kind);
  ASSERT_TRUE(info.installed) << c.kind << ": " << info.missing_reason
                              << " (ci/install-peers.sh installs every peer)";

  TempDir dir("fh_real_backend");
  PeerOptions options;
  options.run_dir = dir.path();
  options.listen = c.unix_socket ? net::Address::unix_socket((dir.path() / "b.sock").string())
                                 : net::Address::tcp("127.0.0.1", pick_port());
  auto backend = make_backend(c.kind, options);
  const auto t0 = Clock::now();
  ASSERT_NO_THROW(backend->start());
  const double start_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::printf("[ timing   ] %s %s %s ready in %.1f ms\n", c.kind.c_str(), info.version.c_str(),
              backend->address().to_string().c_str(), start_ms);
  ASSERT_NE(backend->process(), nullptr);
  const pid_t pgid = backend->process()->pgid();
  const auto members = group_members(pgid);
  ASSERT_FALSE(members.empty());

  FcgiRequest base;
  base.document_root = backend->document_root().string();
  const auto address = backend->address();

  {  // size=N: exactly N pattern bytes
    FcgiRequest r = base;
    r.query = "size=200000";
    const auto res = fcgi_exchange(address, r, 10s);
    EXPECT_TRUE(res.ended) << res.error;
    EXPECT_EQ(res.status, 200) << res.headers;
    EXPECT_EQ(res.body.size(), 200000u);
    EXPECT_EQ(sha256(res.body), probe::pattern_sha256(200000));
    EXPECT_NE(res.headers.find("application/octet-stream"), std::string::npos) << res.headers;
  }
  {  // chunk/delay_ms: the pieces arrive as separate STDOUT records (streamed, not buffered)
    FcgiRequest r = base;
    r.query = "size=3000&chunk=1000&delay_ms=30";
    const auto res = fcgi_exchange(address, r, 10s);
    EXPECT_TRUE(res.ended) << res.error;
    EXPECT_EQ(res.body, probe::pattern(0, 3000));
    // fcgiwrap 1.1.0 relays the CGI's output through libfcgi's buffered stream without a flush
    // per read: the script's three flushed pieces arrive as one record (measured here).
    EXPECT_GE(res.stdout_records, c.kind == "fcgiwrap" ? 1u : 3u);
  }
  {  // echo=1: the body is the request body, every byte value
    FcgiRequest r = base;
    r.method = "POST";
    r.query = "echo=1";
    r.body = every_byte_value(100000);
    const auto res = fcgi_exchange(address, r, 10s);
    EXPECT_TRUE(res.ended) << res.error;
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body.size(), r.body.size());
    EXPECT_TRUE(res.body == r.body) << "echoed body differs";
  }
  {  // status=404
    FcgiRequest r = base;
    r.query = "status=404&size=10";
    const auto res = fcgi_exchange(address, r, 10s);
    EXPECT_TRUE(res.ended) << res.error;
    EXPECT_EQ(res.status, 404) << res.headers;
    EXPECT_EQ(res.body, probe::pattern(0, 10));
  }
  {  // default: the params listing with the stdin digest
    FcgiRequest r = base;
    r.method = "POST";
    r.body = "hello probe";
    const auto res = fcgi_exchange(address, r, 10s);
    EXPECT_TRUE(res.ended) << res.error;
    EXPECT_NE(res.body.find("REQUEST_METHOD=POST\n"), std::string::npos) << res.body;
    EXPECT_NE(res.body.find("STDIN-BYTES=11\n"), std::string::npos) << res.body;
    EXPECT_NE(res.body.find("STDIN-SHA256=" + sha256(r.body) + "\n"), std::string::npos)
        << res.body;
  }

  const auto s0 = Clock::now();
  backend->stop();
  std::printf("[ timing   ] %s stopped in %.1f ms\n", c.kind.c_str(),
              std::chrono::duration<double, std::milli>(Clock::now() - s0).count());
  EXPECT_TRUE(group_members(pgid, true).empty()) << "processes left in group " << pgid;
  for (pid_t m : members) EXPECT_FALSE(fs::exists("/proc/" + std::to_string(m))) << m;
  backend->stop();  // idempotent
  for (const auto& a : backend->artefacts()) EXPECT_TRUE(fs::exists(a)) << a;
}

INSTANTIATE_TEST_SUITE_P(real_backends, RealBackend,
                         testing::Values(Case{"php-fpm", false}, Case{"php-fpm", true},
                                         Case{"php-cgi", false}, Case{"uwsgi", false},
                                         Case{"fcgiwrap", false}, Case{"fcgiwrap", true},
                                         Case{"go", false}, Case{"go", true},
                                         Case{"libfcgi", false}, Case{"libfcgi", true},
                                         Case{"perl", false}, Case{"perl", true}),
                         case_name);

TEST(real_backends, CatalogueNamesEveryKindWithVersionOrPackage) {
  const auto catalogue = backend_catalogue();
  ASSERT_EQ(catalogue.size(), backend_kinds().size());
  for (const auto& info : catalogue) {
    EXPECT_FALSE(info.apt_package.empty()) << info.kind;
    if (info.installed) {
      EXPECT_FALSE(info.version.empty()) << info.kind;
    } else {
      EXPECT_NE(info.missing_reason.find("apt-get install"), std::string::npos) << info.kind;
    }
  }
}

TEST(real_backends, UnknownKindAndKnobAreErrorsNamingTheValidOnes) {
  TempDir dir("fh_real_backend");
  PeerOptions options;
  options.run_dir = dir.path();
  try {
    make_backend("php-fpn", options);
    FAIL() << "expected PeerError";
  } catch (const PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("php-fpm, php-cgi"), std::string::npos) << e.what();
  }
  options.knobs = {{"pm.max_request", "5"}};
  try {
    make_backend("php-fpm", options);
    FAIL() << "expected PeerError";
  } catch (const PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("pm.max_requests, pm.max_children"), std::string::npos)
        << e.what();
  }
}

TEST(real_backends, PhpFpmKnobsReachThePoolConfig) {
  TempDir dir("fh_real_backend");
  PeerOptions options;
  options.run_dir = dir.path();
  options.listen = net::Address::tcp("127.0.0.1", 0);  // the adapter picks the port
  options.knobs = {{"pm.max_requests", "5"}, {"pm.max_children", "1"}};
  auto backend = make_backend("php-fpm", options);
  ASSERT_TRUE(backend->info().installed) << backend->info().missing_reason;
  ASSERT_NO_THROW(backend->start());
  EXPECT_NE(backend->address().port, 0);
  const std::string conf = read_file(dir.path() / "php-fpm.conf");
  EXPECT_NE(conf.find("pm.max_requests = 5\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("pm.max_children = 1\n"), std::string::npos) << conf;
  backend->stop();
}

TEST(real_backends, PhpCgiMaxRequestsEndsTheProcess) {
  // PHP_FCGI_CHILDREN=0: one php-cgi that exits after PHP_FCGI_MAX_REQUESTS requests and is
  // not restarted (real-peers.md §3). The readiness probe is request 1.
  TempDir dir("fh_real_backend");
  PeerOptions options;
  options.run_dir = dir.path();
  options.listen = net::Address::tcp("127.0.0.1", 0);
  options.knobs = {{"PHP_FCGI_MAX_REQUESTS", "3"}, {"PHP_FCGI_CHILDREN", "0"}};
  auto backend = make_backend("php-cgi", options);
  ASSERT_TRUE(backend->info().installed) << backend->info().missing_reason;
  ASSERT_NO_THROW(backend->start());
  FcgiRequest r;
  r.query = "size=5";
  r.document_root = backend->document_root().string();
  for (int i = 2; i <= 3; ++i) {
    const auto res = fcgi_exchange(backend->address(), r, 5s);
    EXPECT_TRUE(res.ended) << "request " << i << ": " << res.error;
  }
  Process* p = backend->process();
  EXPECT_TRUE(wait_until([&] { return !p->running(); }, 5s, {}))
      << "php-cgi still running after PHP_FCGI_MAX_REQUESTS";
  EXPECT_EQ(p->exit_status(), 0);
  backend->stop();
}

}  // namespace
}  // namespace fh::peers
