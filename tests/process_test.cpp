// The process core for real peers: process groups started and stopped as a whole, exit
// statuses, grace then SIGKILL, logs, the minimal environment, the subreaper, cleanup when the
// harness exits or is interrupted, and port picking / readiness polling.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "peers/peer.hpp"
#include "peers/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace fh::peers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using test_support::TempDir;

bool proc_exists(pid_t pid) {
  return fs::exists("/proc/" + std::to_string(pid));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

ProcessSpec sh(const std::string& script, const fs::path& log = {}) {
  ProcessSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.log_file = log;
  return spec;
}

// Polls until `pred` holds, reaping orphans meanwhile; false after `deadline`.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 5s) {
  return wait_until(
      [&] {
        reap_orphans();
        return pred();
      },
      deadline, {});
}

TEST(process_core, StartsInOwnGroupAndStops) {
  Process p = Process::start({{"sleep", "30"}, {}, {}, {}, {}});
  ASSERT_TRUE(p.valid());
  EXPECT_EQ(p.pgid(), p.pid());
  EXPECT_EQ(::getpgid(p.pid()), p.pid());  // own group
  EXPECT_EQ(::getsid(p.pid()), p.pid());   // own session
  EXPECT_TRUE(p.running());
  EXPECT_EQ(group_members(p.pgid()), std::vector<pid_t>{p.pid()});
  const pid_t pid = p.pid();
  EXPECT_EQ(p.stop(2s), -SIGTERM);
  EXPECT_FALSE(p.running());
  EXPECT_FALSE(proc_exists(pid));  // reaped, not a zombie
  EXPECT_TRUE(group_members(pid, true).empty());
  EXPECT_EQ(p.stop(2s), -SIGTERM);  // idempotent
}

TEST(process_core, StopTakesTheGrandchildrenToo) {
  Process p = Process::start(sh("sleep 30 & sleep 30"));
  ASSERT_TRUE(eventually([&] { return group_members(p.pgid()).size() >= 3; }))
      << "expected sh and two sleeps in the group";
  const auto members = group_members(p.pgid());
  p.stop(2s);
  for (pid_t m : members) EXPECT_FALSE(proc_exists(m)) << "pid " << m << " left behind";
  EXPECT_TRUE(group_members(p.pgid(), true).empty());
}

TEST(process_core, OrphansComeBackToTheHarnessAndAreReaped) {
  // The subshell forks a sleep and exits: the sleep is orphaned and, the harness being a
  // child subreaper, re-parented to us rather than to PID 1 (real-peers.md §1.2).
  Process p = Process::start(sh("(sleep 30 &); exec sleep 30"));
  pid_t orphan = 0;
  ASSERT_TRUE(eventually([&] {
    for (pid_t m : group_members(p.pgid())) {
      if (m == p.pid()) continue;
      std::istringstream stat(read_file("/proc/" + std::to_string(m) + "/stat"));
      std::string pid_s, comm, state;
      pid_t ppid = 0;
      stat >> pid_s >> comm >> state >> ppid;
      if (ppid == ::getpid()) orphan = m;
    }
    return orphan != 0;
  })) << "no orphan re-parented to the harness";
  p.stop(2s);
  EXPECT_FALSE(proc_exists(orphan));
}

TEST(process_core, ExitStatus) {
  Process p = Process::start(sh("exit 3"));
  ASSERT_TRUE(eventually([&] { return !p.running(); }));
  EXPECT_EQ(p.exit_status(), 3);
  EXPECT_EQ(p.stop(1s), 3);
}

TEST(process_core, ReapOrphansKeepsTrackedStatuses) {
  Process p = Process::start(sh("exit 7"));
  const pid_t pid = p.pid();
  // Let it become a zombie, then let the global reaper take it before the Process asks.
  ASSERT_TRUE(wait_until(
      [&] {
        const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
        return stat.find(") Z ") != std::string::npos;
      },
      5s, {}));
  reap_orphans();
  EXPECT_FALSE(proc_exists(pid));
  EXPECT_EQ(p.exit_status(), 7);
}

TEST(process_core, GraceThenSigkillForATermIgnoringChild) {
  TempDir dir("fh_process");
  const fs::path log = dir.path() / "log";
  // Ignored signals survive exec, so the sleep ignores TERM too; "ready" says the trap is set.
  Process p = Process::start(sh("trap '' TERM; echo ready; exec sleep 30", log));
  ASSERT_TRUE(eventually([&] { return read_file(log).find("ready") != std::string::npos; }));
  const auto t0 = Clock::now();
  EXPECT_EQ(p.stop(300ms), -SIGKILL);
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(group_members(p.pgid(), true).empty());
}

TEST(process_core, FrozenGroupStillStopsGracefully) {
  Process p = Process::start({{"sleep", "30"}, {}, {}, {}, {}});
  p.signal_group(SIGSTOP);
  ASSERT_TRUE(eventually([&] {
    return read_file("/proc/" + std::to_string(p.pid()) + "/stat").find(") T ") !=
           std::string::npos;
  }));
  // SIGCONT follows the TERM, so the TERM acts before the grace runs out.
  EXPECT_EQ(p.stop(3s), -SIGTERM);
}

TEST(process_core, LogCapturesStdoutAndStderr) {
  TempDir dir("fh_process");
  const fs::path log = dir.path() / "peer.log";
  Process p = Process::start(sh("echo to-stdout; echo to-stderr >&2; read x; echo stdin=$x", log));
  ASSERT_TRUE(eventually([&] { return !p.running(); }));
  const std::string text = read_file(log);
  EXPECT_NE(text.find("to-stdout"), std::string::npos) << text;
  EXPECT_NE(text.find("to-stderr"), std::string::npos) << text;
  EXPECT_NE(text.find("stdin=\n"), std::string::npos) << "stdin is /dev/null: " << text;
}

TEST(process_core, MinimalEnvironmentAndCwd) {
  TempDir dir("fh_process");
  ::setenv("FH_PROCESS_TEST_LEAK", "1", 1);
  ProcessSpec spec = sh("env; pwd", dir.path() / "env.log");
  spec.cwd = dir.path();
  spec.env = {{"PHP_FCGI_CHILDREN", "0"}};
  Process p = Process::start(spec);
  ASSERT_TRUE(eventually([&] { return !p.running(); }));
  const std::string text = read_file(dir.path() / "env.log");
  EXPECT_NE(text.find("PATH="), std::string::npos) << text;
  EXPECT_NE(text.find("HOME=" + dir.path().string() + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("PHP_FCGI_CHILDREN=0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("FH_PROCESS_TEST_LEAK"), std::string::npos) << text;
  EXPECT_NE(text.find("\n" + dir.path().string() + "\n"), std::string::npos) << "cwd: " << text;
  ::unsetenv("FH_PROCESS_TEST_LEAK");
}

TEST(process_core, StartFailuresAreErrors) {
  try {
    Process::start({{"fh-no-such-program"}, {}, {}, {}, {}});
    FAIL() << "expected ProcessError";
  } catch (const ProcessError& e) {
    EXPECT_NE(std::string(e.what()).find("fh-no-such-program"), std::string::npos);
  }
  EXPECT_THROW(Process::start({{"sleep", "1"}, {}, "/nonexistent/dir", {}, {}}), ProcessError);
  EXPECT_THROW(Process::start({{}, {}, {}, {}, {}}), ProcessError);
}

TEST(process_core, RunsAsTheGivenUserWithItsGroups) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing user needs root";
  const auto nobody = fh::peers::find_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  EXPECT_FALSE(fh::peers::find_user("fh-no-such-user").has_value());
  fh::test_support::TempDir dir("fh_user");
  auto spec = sh("id -u; id -g; id -G; echo $USER", dir.path() / "id.log");
  spec.user = nobody;
  Process p = Process::start(spec);
  ASSERT_TRUE(eventually([&] { return !p.running(); }));
  std::ostringstream want;
  want << nobody->uid << "\n" << nobody->gid << "\n";
  for (std::size_t i = 0; i < nobody->groups.size(); ++i)
    want << (i ? " " : "") << nobody->groups[i];
  want << "\nnobody\n";
  EXPECT_EQ(read_file(dir.path() / "id.log"), want.str());
}

TEST(process_core, MoveAndDestructorStop) {
  pid_t pid = 0;
  {
    Process a = Process::start({{"sleep", "30"}, {}, {}, {}, {}});
    pid = a.pid();
    Process b = std::move(a);
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.pid(), pid);
    EXPECT_TRUE(b.running());
  }
  EXPECT_FALSE(proc_exists(pid));
}

// Forks a "harness" that starts a group with a grandchild (no PDEATHSIG on it), then ends the
// way `how` says; returns the group's pgid after that harness is gone.
pid_t group_left_by_a_harness_that(const std::function<void()>& how) {
  Process::start({{"true"}, {}, {}, {}, {}}).stop(1s);  // this process is the subreaper now
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  const pid_t harness = ::fork();
  if (harness == 0) {
    ::close(fds[0]);
    Process p = Process::start(sh("sleep 30 & sleep 30"));
    const pid_t pgid = p.pgid();
    [[maybe_unused]] auto n = ::write(fds[1], &pgid, sizeof pgid);
    wait_until([&] { return group_members(pgid).size() >= 3; }, 5s, {});
    how();
    ::_exit(99);  // not reached
  }
  ::close(fds[1]);
  pid_t pgid = 0;
  const bool got = ::read(fds[0], &pgid, sizeof pgid) == sizeof pgid;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(harness, &status, 0);
  if (!got) throw std::runtime_error("the forked harness reported no group");
  return pgid;
}

TEST(process_core, InterruptedHarnessLeavesNoProcess) {
  const pid_t pgid = group_left_by_a_harness_that([] {
    ::raise(SIGTERM);  // like `kill <harness>`; the handler kills, then re-raises
    for (;;) ::pause();
  });
  EXPECT_TRUE(eventually([&] { return group_members(pgid).empty(); }, 3s))
      << group_members(pgid).size() << " processes left in group " << pgid;
}

TEST(process_core, ExitingHarnessLeavesNoProcess) {
  const pid_t pgid = group_left_by_a_harness_that([] { std::exit(0); });
  EXPECT_TRUE(eventually([&] { return group_members(pgid).empty(); }, 3s))
      << group_members(pgid).size() << " processes left in group " << pgid;
}

// A child that leaves its parent's process group (setsid, as a daemon does) is not reached by
// the group's signals; stop() finds it by its custody mark and kills it, and says so.
TEST(process_custody, StopKillsAChildThatLeftTheGroup) {
  TempDir dir("fh_custody");
  const auto pid_file = dir.path() / "escaped.pid";
  Process p = Process::start(
      sh("setsid sh -c 'echo $$ > " + pid_file.string() + "; exec sleep 30' & sleep 30"));
  ASSERT_TRUE(eventually([&] { return !read_file(pid_file).empty(); }));
  const pid_t escaped = std::stoi(read_file(pid_file));
  ASSERT_NE(::getpgid(escaped), p.pgid());  // really outside the group
  p.stop(200ms);
  EXPECT_EQ(p.escaped_processes(), 1u);
  EXPECT_TRUE(eventually([&] { return !proc_exists(escaped) || ::kill(escaped, 0) != 0; }))
      << "the setsid'd child " << escaped << " survived stop()";
}

TEST(process_custody, APeerIgnoringItsStopSignalIsKilledAndNoted) {
  Process p = Process::start(sh("trap '' TERM; sleep 30 & wait; sleep 30"));
  EXPECT_TRUE(eventually([&] { return group_members(p.pgid()).size() >= 2; }));
  p.stop(100ms);
  EXPECT_TRUE(p.stop_was_forced());
  EXPECT_FALSE(p.group_alive());
}

// A program that is still starting (here: forking and computing for 300 ms) has not settled;
// once every member idles, it has. One that never idles is reported, at the deadline.
TEST(process_group, SettledOnlyOnceEveryMemberIdles) {
  Process busy_start = Process::start(
      sh("end=$(($(date +%s%N) + 300000000)); while [ $(date +%s%N) -lt $end ]; do :; done; "
         "sleep 30 & exec sleep 30"));
  const auto t0 = Clock::now();
  EXPECT_TRUE(wait_group_settled(busy_start.pgid(), 50ms, 3s, {}));
  EXPECT_GE(Clock::now() - t0, 300ms);
  EXPECT_EQ(group_members(busy_start.pgid()).size(), 2u);  // both sleeps, as settled
  busy_start.stop(1s);

  Process spinning = Process::start(sh("while :; do :; done"));
  const auto t1 = Clock::now();
  EXPECT_FALSE(wait_group_settled(spinning.pgid(), 50ms, 300ms, {}));
  EXPECT_GE(Clock::now() - t1, 300ms);
  spinning.stop(1s);
}

// A harness killed between creating its run folder and writing the folder's owner file: the
// owner is in the folder's name too, so the next start removes it, and never a live run's.
TEST(process_custody, AFolderWithoutItsOwnerFileIsKnownByItsName) {
  TempDir tmp("fh_custody");
  const char* saved = std::getenv("TMPDIR");
  const std::string saved_tmpdir = saved ? saved : "";
  ::setenv("TMPDIR", tmp.path().c_str(), 1);
  const fs::path mine = custody::make_run_folder();
  EXPECT_EQ(mine.filename().string().rfind("fcgi-harness-" + custody::run_token() + "-", 0), 0u)
      << mine;
  fs::remove(mine / custody::kOwnerFile);  // as if killed before it was written
  Process exited = Process::start({{"true"}, {}, {}, {}, {}});
  const std::string dead = std::to_string(exited.pid()) + "-1";
  exited.stop(1s);
  ASSERT_FALSE(custody::token_alive(dead));
  const fs::path theirs = tmp.path() / ("fcgi-harness-" + dead + "-AbC123");
  const fs::path unnamed = tmp.path() / "fcgi-harness-XyZ789";  // owner unknown: kept (1 h)
  fs::create_directories(theirs);
  fs::create_directories(unnamed);
  custody::clean_up_after_dead_runs();
  EXPECT_FALSE(fs::exists(theirs));
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(unnamed));
  fs::remove_all(mine);
  if (saved)
    ::setenv("TMPDIR", saved_tmpdir.c_str(), 1);
  else
    ::unsetenv("TMPDIR");
}

TEST(process_custody, TokensNameOneProcessForever) {
  EXPECT_TRUE(custody::token_alive(custody::run_token()));
  Process p = Process::start({{"true"}, {}, {}, {}, {}});
  const pid_t pid = p.pid();
  p.stop(1s);
  EXPECT_FALSE(custody::token_alive(std::to_string(pid) + "-0"));
  // This very pid with another start time: a reused pid is not the harness that was.
  EXPECT_FALSE(custody::token_alive(std::to_string(::getpid()) + "-1"));
  EXPECT_FALSE(custody::token_alive("not-a-token"));
}

TEST(process_ports, PickPortIsFreeAndBelowEphemeralRange) {
  std::set<std::uint16_t> seen;
  for (int i = 0; i < 20; ++i) {
    const auto port = pick_port();
    EXPECT_GE(port, 1024);
    EXPECT_LT(port, 32768);
    EXPECT_TRUE(seen.insert(port).second) << "port handed out twice: " << port;
    EXPECT_FALSE(can_connect(net::Address::tcp("127.0.0.1", port)));
  }
}

// Two harnesses on one machine: a port the other picked (and its program may not have bound
// yet) is never picked here, and its claim ends with the other harness.
TEST(process_ports, APortAnotherHarnessPickedIsNeverPickedHere) {
  int ports[2], done[2];
  ASSERT_EQ(::pipe(ports), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t other = ::fork();
  ASSERT_GE(other, 0);
  if (other == 0) {  // the other harness: picks 200 ports, holds them until told
    ::close(ports[0]);
    ::close(done[1]);
    for (int i = 0; i < 200; ++i) {
      const auto port = pick_port();
      if (::write(ports[1], &port, sizeof port) != sizeof port) ::_exit(1);
    }
    ::close(ports[1]);
    char byte;
    (void)!::read(done[0], &byte, 1);
    ::_exit(0);
  }
  ::close(ports[1]);
  ::close(done[0]);
  std::set<std::uint16_t> theirs;
  std::uint16_t port = 0;
  while (::read(ports[0], &port, sizeof port) == sizeof port) theirs.insert(port);
  ::close(ports[0]);
  ASSERT_EQ(theirs.size(), 200u);
  // 500 random picks from 17,768 ports would meet about 6 of theirs if claims were ignored.
  for (int i = 0; i < 500; ++i) {
    const auto mine = pick_port();
    EXPECT_EQ(theirs.count(mine), 0u) << "port " << mine << " picked by both harnesses";
  }
  EXPECT_FALSE(claim_port(*theirs.begin()));
  ::close(done[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(other, &status, 0), other);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(claim_port(*theirs.begin()));  // the kernel freed it with the other harness
}

TEST(process_ports, WaitTcpReadyPumpsAndSeesTheListener) {
  boost::asio::io_context io;
  const auto address = net::Address::tcp("127.0.0.1", pick_port());
  int pumps = 0;
  const auto t0 = Clock::now();
  EXPECT_FALSE(wait_tcp_ready(address, 50ms, [&] {
    ++pumps;
    io.poll();
  }));
  EXPECT_GE(Clock::now() - t0, 50ms);
  EXPECT_GE(pumps, 3);  // every 1-5 ms

  auto acceptor = net::listen(io.get_executor(), address);
  EXPECT_TRUE(wait_tcp_ready(address, 1s, [&] { io.poll(); }));
}

TEST(process_ports, WaitReadyOnUnixSocket) {
  TempDir dir("fh_process");
  boost::asio::io_context io;
  const auto address = net::Address::unix_socket((dir.path() / "s.sock").string());
  EXPECT_FALSE(wait_tcp_ready(address, 20ms, {}));
  auto acceptor = net::listen(io.get_executor(), address);
  EXPECT_TRUE(wait_tcp_ready(address, 1s, {}));
}

TEST(peer_render, ReplacesPlaceholdersAndKeepsOtherBraces) {
  const std::map<std::string, std::string> vars{{"port", "23201"}, {"run_dir", "/tmp/r"}};
  EXPECT_EQ(render("listen = 127.0.0.1:{port}\npid = {run_dir}/x.pid\n", vars),
            "listen = 127.0.0.1:23201\npid = /tmp/r/x.pid\n");
  EXPECT_EQ(render("events { worker_connections 256; }\nhttp {\n}", vars),
            "events { worker_connections 256; }\nhttp {\n}");
  EXPECT_EQ(render("{{port} {}", vars), "{port} {}");
  try {
    render("a {nope} b", vars);
    FAIL() << "expected PeerError";
  } catch (const PeerError& e) {
    EXPECT_NE(std::string(e.what()).find("{nope}"), std::string::npos) << e.what();
  }
}

TEST(peer_render, UnknownKnobNamesTheValidOnes) {
  check_knobs("php-fpm", {{"pm.max_requests", "5"}}, {"pm.max_requests", "pm.max_children"});
  try {
    check_knobs("php-fpm", {{"pm.max_request", "5"}}, {"pm.max_requests", "pm.max_children"});
    FAIL() << "expected PeerError";
  } catch (const PeerError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("pm.max_request'"), std::string::npos) << what;
    EXPECT_NE(what.find("pm.max_requests, pm.max_children"), std::string::npos) << what;
  }
}

TEST(peer_render, CaptureOutput) {
  EXPECT_EQ(capture_output({"sh", "-c", "echo v1.2"}), "v1.2\n");
  EXPECT_EQ(capture_output({"fh-no-such-program"}), "");
}

}  // namespace
}  // namespace fh::peers
