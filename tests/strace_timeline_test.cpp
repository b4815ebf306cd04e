// The syscall timeline (issue 5): the strace -f -ttt -T -yy parser on literal lines, and
// strace attached to a real nginx in front of a real libfcgi backend. A missing strace, nginx
// or backend FAILS naming the apt package: never a silent skip.
#include "observers/strace_timeline.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "peers/process.hpp"

namespace {

namespace fs = std::filesystem;
namespace peers = fh::peers;
using fh::observers::parse_strace;
using fh::observers::parse_strace_line;
using fh::observers::StraceTimeline;
using fh::observers::SyscallRecord;
using namespace std::chrono_literals;

TEST(StraceParser, WritevOnTcpWithEndpointsBytesAndDuration) {
  const auto r = parse_strace_line(
      "[pid  4242] 1763782523.123456 writev(12<TCP:[127.0.0.1:41234->127.0.0.1:9000]>, "
      "[{iov_base=\"\\1\\1\\0\\1\\0\\10\\0\\0\", iov_len=8}, {iov_base=\"a)b\\\"c\", "
      "iov_len=1263}], 2) = 1271 <0.000031>");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, SyscallRecord::Kind::syscall);
  EXPECT_EQ(r->pid, 4242);
  EXPECT_DOUBLE_EQ(r->wall, 1763782523.123456);
  EXPECT_EQ(r->name, "writev");
  EXPECT_EQ(r->fd, 12);
  EXPECT_EQ(r->fd_type, "TCP");
  EXPECT_EQ(r->endpoints, "127.0.0.1:41234->127.0.0.1:9000");
  EXPECT_EQ(r->local, "127.0.0.1:41234");
  EXPECT_EQ(r->remote, "127.0.0.1:9000");
  EXPECT_EQ(r->result, "1271");
  ASSERT_TRUE(r->bytes);
  EXPECT_EQ(*r->bytes, 1271u);
  ASSERT_TRUE(r->duration);
  EXPECT_DOUBLE_EQ(*r->duration, 0.000031);
  EXPECT_TRUE(r->errno_name.empty());
  EXPECT_EQ(r->data,
            "[{iov_base=\"\\1\\1\\0\\1\\0\\10\\0\\0\", iov_len=8}, {iov_base=\"a)b\\\"c\", "
            "iov_len=1263}], 2");
  EXPECT_TRUE(r->tampered.empty());
  EXPECT_EQ(r->describe(), "fd 12 127.0.0.1:41234->127.0.0.1:9000 = 1271 " + r->data);
}

TEST(StraceParser, InjectedAndDelayedCallsAreMarked) {
  // A syscall fault on an observed peer: the fault's strace writes the timeline's log.
  const auto injected = parse_strace_line(
      "77 1.25 writev(9<TCP:[127.0.0.1:1->127.0.0.1:2]>, [{iov_base=\"\\1\\5\\0\\1\\0\\0\\0\\0\", "
      "iov_len=8}], 1) = -1 EPIPE (Broken pipe) (INJECTED) <0.000010>");
  ASSERT_TRUE(injected);
  EXPECT_EQ(injected->pid, 77);
  EXPECT_EQ(injected->errno_name, "EPIPE");
  EXPECT_EQ(injected->tampered, "INJECTED");
  EXPECT_EQ(injected->describe(),
            "fd 9 127.0.0.1:1->127.0.0.1:2 = -1 EPIPE (INJECTED) "
            "[{iov_base=\"\\1\\5\\0\\1\\0\\0\\0\\0\", iov_len=8}], 1");
  const auto delayed = parse_strace_line(
      "77 1.5 writev(9<TCP:[127.0.0.1:1->127.0.0.1:2]>, [{iov_base=\"x\", iov_len=1}], 1) = 1 "
      "(DELAYED) <0.300100>");
  ASSERT_TRUE(delayed);
  EXPECT_EQ(delayed->tampered, "DELAYED");
  ASSERT_TRUE(delayed->bytes);
  EXPECT_EQ(*delayed->bytes, 1u);
  ASSERT_TRUE(delayed->duration);
  EXPECT_DOUBLE_EQ(*delayed->duration, 0.3001);
}

TEST(StraceParser, ErrnoNamesAndUnixSockets) {
  const auto epipe = parse_strace_line(
      "1763782523.200000 writev(5<UNIX-STREAM:[123->124,\"/tmp/run x/b.sock\"]>, "
      "[{iov_base=\"x\", iov_len=1}], 1) = -1 EPIPE (Broken pipe) <0.000012>");
  ASSERT_TRUE(epipe);
  EXPECT_EQ(epipe->pid, 0);  // a single tracee gets no [pid] prefix
  EXPECT_EQ(epipe->fd, 5);
  EXPECT_EQ(epipe->fd_type, "UNIX-STREAM");
  EXPECT_EQ(epipe->local, "123");
  EXPECT_EQ(epipe->remote, "124");
  EXPECT_EQ(epipe->path, "/tmp/run x/b.sock");
  EXPECT_EQ(epipe->retval, -1);
  EXPECT_EQ(epipe->errno_name, "EPIPE");
  EXPECT_FALSE(epipe->bytes);
  EXPECT_EQ(epipe->describe(),
            "fd 5 123->124,\"/tmp/run x/b.sock\" = -1 EPIPE [{iov_base=\"x\", iov_len=1}], 1");

  const auto reset = parse_strace_line(
      "[pid 7] 1.5 recvfrom(9<TCPv6:[[::1]:8080->[::1]:5555]>, 0x7ffd, 4096, 0, NULL, NULL) = -1 "
      "ECONNRESET (Connection reset by peer) <0.000004>");
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->fd_type, "TCPv6");
  EXPECT_EQ(reset->local, "[::1]:8080");
  EXPECT_EQ(reset->remote, "[::1]:5555");
  EXPECT_EQ(reset->errno_name, "ECONNRESET");

  const auto again = parse_strace_line(
      "[pid 7] 1.6 read(3<pipe:[5678]>, 0x55d0, 1024) = -1 EAGAIN (Resource temporarily "
      "unavailable) <0.000002>");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->fd_type, "pipe");
  EXPECT_EQ(again->endpoints, "5678");
  EXPECT_EQ(again->errno_name, "EAGAIN");

  const auto devnull = parse_strace_line("[pid 7] 1.7 close(2</dev/null>) = 0 <0.000001>");
  ASSERT_TRUE(devnull);
  EXPECT_EQ(devnull->fd, 2);
  EXPECT_EQ(devnull->fd_type, "/dev/null");
  EXPECT_EQ(devnull->retval, 0);
}

TEST(StraceParser, ConnectSockaddrAndAcceptedFd) {
  const auto c = parse_strace_line(
      "[pid 100] 1763782523.300000 connect(14<TCP:[987654]>, {sa_family=AF_INET, "
      "sin_port=htons(9000), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 EINPROGRESS "
      "(Operation now in progress) <0.000040>");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->name, "connect");
  EXPECT_EQ(c->fd, 14);
  EXPECT_EQ(c->endpoints, "987654");
  EXPECT_EQ(c->sockaddr, "127.0.0.1:9000");
  EXPECT_EQ(c->errno_name, "EINPROGRESS");
  EXPECT_EQ(c->describe(), "fd 14 987654 -> 127.0.0.1:9000 = -1 EINPROGRESS");

  const auto u = parse_strace_line(
      "[pid 100] 2.0 connect(6<UNIX-STREAM:[4321]>, {sa_family=AF_UNIX, "
      "sun_path=\"/run/php/fpm.sock\"}, 110) = 0 <0.000020>");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->sockaddr, "/run/php/fpm.sock");

  const auto a = parse_strace_line(
      "[pid 100] 2.1 accept4(6<TCP:[127.0.0.1:8080]>, {sa_family=AF_INET, sin_port=htons(5555), "
      "sin_addr=inet_addr(\"127.0.0.1\")}, [112 => 16], SOCK_NONBLOCK) = "
      "12<TCP:[127.0.0.1:8080->127.0.0.1:5555]> <0.000010>");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->fd, 6);
  EXPECT_EQ(a->local, "127.0.0.1:8080");
  EXPECT_EQ(a->result, "12<TCP:[127.0.0.1:8080->127.0.0.1:5555]>");
  EXPECT_EQ(a->retval, 12);
  EXPECT_FALSE(a->bytes);  // accept4 returns an fd, not a byte count
}

TEST(StraceParser, UnfinishedResumedSignalsExitsAndNoise) {
  const std::string log =
      "strace: Process 100 attached\n"
      "[pid   100] 10.000001 recvfrom(12<TCP:[127.0.0.1:8080->127.0.0.1:5555]>,  <unfinished "
      "...>\n"
      "[pid   101] 10.000002 write(3<TCP:[127.0.0.1:41234->127.0.0.1:9000]>, \"abc\", 3) = 3 "
      "<0.000005>\n"
      "[pid   100] 10.000009 <... recvfrom resumed>\"GET / HTTP/1.1\\r\\n\", 4096, 0, NULL, "
      "NULL) = 16 <0.000008>\n"
      "[pid   101] 10.000010 --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=101, "
      "si_uid=0} ---\n"
      "[pid   102] 10.000011 shutdown(7<UNIX-STREAM:[1->2]>, SHUT_WR <unfinished ...>\n"
      "[pid   101] 10.000020 +++ exited with 3 +++\n"
      "[pid   103] 10.000021 +++ killed by SIGKILL +++\n"
      "strace: Process 100 detached\n";
  const auto records = parse_strace(log);
  ASSERT_EQ(records.size(), 6u);
  const auto& recv = records[0];
  EXPECT_EQ(recv.pid, 100);
  EXPECT_EQ(recv.name, "recvfrom");
  EXPECT_DOUBLE_EQ(recv.wall, 10.000001);  // the start, not the resume
  EXPECT_FALSE(recv.unfinished);
  EXPECT_EQ(recv.fd, 12);
  EXPECT_EQ(recv.remote, "127.0.0.1:5555");
  ASSERT_TRUE(recv.bytes);
  EXPECT_EQ(*recv.bytes, 16u);
  EXPECT_NE(recv.args.find("GET / HTTP/1.1"), std::string::npos) << recv.args;
  ASSERT_TRUE(recv.duration);
  EXPECT_DOUBLE_EQ(*recv.duration, 0.000008);

  EXPECT_EQ(records[1].name, "write");
  EXPECT_EQ(records[1].bytes.value_or(0), 3u);

  EXPECT_EQ(records[2].kind, SyscallRecord::Kind::signal);
  EXPECT_EQ(records[2].name, "SIGPIPE");
  EXPECT_EQ(records[2].pid, 101);

  EXPECT_EQ(records[3].name, "shutdown");
  EXPECT_TRUE(records[3].unfinished);  // never resumed: strace detached
  EXPECT_EQ(records[3].args, "7<UNIX-STREAM:[1->2]>, SHUT_WR");
  EXPECT_EQ(records[3].describe(), "fd 7 1->2 <unfinished>");

  EXPECT_EQ(records[4].kind, SyscallRecord::Kind::exit);
  EXPECT_EQ(records[4].exit_status, 3);
  EXPECT_EQ(records[5].exit_status, -SIGKILL);
}

// Real lines, captured here from strace 6.1 -f -ttt -T -yy -o FILE on nginx 1.22.1 (a file
// gets the pid bare, not "[pid N]").
TEST(StraceParser, RealNginxLinesWithBarePids) {
  const auto records = parse_strace(
      "24610 1795322364.173689 socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = 10<TCP:[503240]> "
      "<0.000011>\n"
      "24610 1795322364.174538 connect(10<TCP:[503240]>, {sa_family=AF_INET, "
      "sin_port=htons(23875), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 EINPROGRESS "
      "(Operation now in progress) <0.000106>\n"
      "24610 1795322364.175674 writev(10<TCP:[127.0.0.1:56664->127.0.0.1:23875]>, "
      "[{iov_base=\"\\1\\1\\0\\1\\0\\10\\0\\0\\0\\1\\0\\0\\0\\0\\0\\0\\1\\4\\0\\1\\1\\351\\7\\0\\f"
      "\\10QUERY_STRINGsize=100\\16\\3REQUEST_METHODGE\"..., iov_len=536}], 1) = 536 "
      "<0.000085>\n"
      "24610 1795322364.175868 readv(10<TCP:[127.0.0.1:56664->127.0.0.1:23875]>, "
      "[{iov_base=\"\", iov_len=3904}], 1) = 0 <0.000005>\n"
      "24610 1795322364.175986 write(5</tmp/fh-strace-aOtw5w/nginx/access.log>, \"127.0.0.1 - - "
      "[22/Nov/2026:04:39:24 +0000] \\\"GET /probe?size=100 \"..., 90) = 90 <0.000008>\n");
  ASSERT_EQ(records.size(), 5u);
  for (const auto& r : records) EXPECT_EQ(r.pid, 24610);
  EXPECT_EQ(records[0].result, "10<TCP:[503240]>");
  EXPECT_EQ(records[0].retval, 10);
  EXPECT_EQ(records[1].sockaddr, "127.0.0.1:23875");
  EXPECT_EQ(records[1].errno_name, "EINPROGRESS");
  EXPECT_EQ(records[2].name, "writev");
  EXPECT_EQ(records[2].remote, "127.0.0.1:23875");
  EXPECT_EQ(records[2].bytes.value_or(0), 536u);
  EXPECT_DOUBLE_EQ(records[2].duration.value_or(0), 0.000085);
  EXPECT_EQ(records[3].name, "readv");
  EXPECT_EQ(records[3].bytes.value_or(99), 0u);  // EOF: zero bytes, still a count
  EXPECT_EQ(records[4].fd_type, "/tmp/fh-strace-aOtw5w/nginx/access.log");
  EXPECT_EQ(records[4].bytes.value_or(0), 90u);
}

TEST(StraceParser, PublishesOnTheRunsSteadyClock) {
  const auto records = parse_strace(
      "[pid 5] 1000.250000 writev(12<TCP:[127.0.0.1:41234->127.0.0.1:9000]>, [], 2) = 1271 "
      "<0.100000>\n"
      "[pid 5] 1000.500000 write(12<TCP:[127.0.0.1:41234->127.0.0.1:9000]>, \"\", 0) = -1 EPIPE "
      "(Broken pipe) <0.000002>\n");
  const auto steady = fh::events::Clock::now();
  fh::events::Bus bus(steady);
  const std::chrono::system_clock::time_point wall_origin{std::chrono::seconds(1000)};
  EXPECT_EQ(fh::observers::publish_records(records, bus, "gateway", steady, wall_origin), 2u);
  ASSERT_EQ(bus.log().size(), 2u);
  const auto& e = bus.log()[0];
  EXPECT_EQ(e.party, "gateway");
  EXPECT_EQ(e.name, "syscall:writev");
  EXPECT_EQ(e.value, 1271u);
  EXPECT_EQ(e.detail.rfind("fd 12 127.0.0.1:41234->127.0.0.1:9000 = 1271", 0), 0u) << e.detail;
  EXPECT_NE(e.detail.find("took 100.000 ms"), std::string::npos) << e.detail;
  EXPECT_NEAR(bus.ms_since_origin(e.at), 350.0, 0.01);  // when it returned: start + duration
  EXPECT_EQ(bus.log()[1].value, 0u);
  EXPECT_NE(bus.log()[1].detail.find("= -1 EPIPE"), std::string::npos) << bus.log()[1].detail;
  EXPECT_NEAR(bus.ms_since_origin(bus.log()[1].at), 500.0, 0.01);
}

TEST(StraceParser, HarnessRecordsAreSplitBySocket) {
  // The client, the fake gateway (listening on 8080) and the fake backend (9000) share the
  // harness process: each record goes to the party its socket belongs to.
  const auto records = parse_strace(
      "9 1.0 accept(6<TCP:[127.0.0.1:9000]>, NULL, NULL) = 14<TCP:[127.0.0.1:9000->127.0.0.1:5]> "
      "<0.1>\n"
      "9 1.1 connect(13<TCP:[786233]>, {sa_family=AF_INET, sin_port=htons(9000), "
      "sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 EINPROGRESS <0.1>\n"
      "9 1.2 sendto(13<TCP:[127.0.0.1:5->127.0.0.1:9000]>, \"\\1\\5\\0\\1\\0\\0\\0\\0\", 8, 0, "
      "NULL, 0) = 8 <0.1>\n"
      "9 1.3 recvfrom(12<TCP:[127.0.0.1:8080->127.0.0.1:7]>, \"GET\", 512, 0, NULL, NULL) = 3 "
      "<0.1>\n"
      "9 1.4 sendto(11<TCP:[127.0.0.1:7->127.0.0.1:8080]>, \"GET\", 3, 0, NULL, 0) = 3 <0.1>\n"
      "9 1.5 write(3</tmp/x.log>, \"x\", 1) = 1 <0.1>\n"
      "9 1.6 recvfrom(14<TCP:[127.0.0.1:9000->127.0.0.1:5]>, \"\\1\", 65536, 0, NULL, NULL) = 1 "
      "<0.1>\n");
  ASSERT_EQ(records.size(), 7u);
  auto split = fh::observers::split_harness_records(records, {8080, 9000, ""});
  ASSERT_EQ(split["backend"].size(), 2u);
  EXPECT_EQ(split["backend"][0].name, "accept");
  EXPECT_EQ(split["backend"][1].name, "recvfrom");
  ASSERT_EQ(split["gateway"].size(), 3u);
  EXPECT_EQ(split["gateway"][0].name, "connect");  // by its sockaddr: no endpoints yet
  EXPECT_EQ(split["gateway"][1].bytes.value_or(0), 8u);
  EXPECT_EQ(split["gateway"][2].name, "recvfrom");  // the client's connection, accepted
  ASSERT_EQ(split["client"].size(), 1u);
  EXPECT_EQ(split["client"][0].name, "sendto");
  EXPECT_EQ(split.count("harness"), 0u);  // the log file is nobody's lane

  // A unix backend: its path names its sockets; the gateway's connection follows its inode.
  const auto unix_records = parse_strace(
      "9 2.0 connect(13<UNIX-STREAM:[500]>, {sa_family=AF_UNIX, sun_path=\"/run/b.sock\"}, 110) "
      "= 0 <0.1>\n"
      "9 2.1 sendto(13<UNIX-STREAM:[500->501]>, \"x\", 1, 0, NULL, 0) = 1 <0.1>\n"
      "9 2.2 recvfrom(14<UNIX-STREAM:[501->500,\"/run/b.sock\"]>, \"x\", 9, 0, NULL, NULL) = 1 "
      "<0.1>\n");
  auto by_path = fh::observers::split_harness_records(unix_records, {8080, 0, "/run/b.sock"});
  EXPECT_EQ(by_path["gateway"].size(), 2u);
  EXPECT_EQ(by_path["backend"].size(), 1u);
}

struct TempDir {
  fs::path path;
  TempDir() {
    char templ[] = "/tmp/fh-strace-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

// One HTTP/1.0 request on a plain blocking socket; the whole answer.
std::string http_get(const fh::net::Address& address, const std::string& target) {
  const int fd = peers::connect_socket(address, 2000ms);
  if (fd < 0) return {};
  // connect_socket gives a non-blocking socket: send/recv are retried every millisecond.
  const std::string request = "GET " + target + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  std::string answer;
  std::size_t sent = 0;
  const auto end = std::chrono::steady_clock::now() + 5s;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < end) {
    if (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
    } else {
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n == 0) break;
      if (n > 0) answer.append(buffer, static_cast<std::size_t>(n));
    }
    ::usleep(1000);
  }
  ::close(fd);
  return answer;
}

// Without strace in PATH, attach() fails naming the apt package.
TEST(StraceTimeline, MissingStraceNamesTheAptPackage) {
  const char* saved = std::getenv("PATH");
  const std::string path = saved ? saved : "";
  ::setenv("PATH", "/nonexistent", 1);
  const auto missing = fh::observers::strace_missing_reason();
  StraceTimeline timeline({.dir = "/tmp"});
  std::string what;
  try {
    timeline.attach(::getpid(), {});
  } catch (const fh::observers::StraceError& e) {
    what = e.what();
  }
  ::setenv("PATH", path.c_str(), 1);
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->find("apt-get install strace"), std::string::npos) << *missing;
  EXPECT_NE(what.find("apt-get install strace"), std::string::npos) << what;
  EXPECT_FALSE(timeline.attached());
}

// Children for the test below, killed and reaped however it ends.
struct Children {
  std::vector<pid_t> pids;
  pid_t fork_running(const std::function<void()>& body) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      body();
      ::_exit(0);
    }
    pids.push_back(pid);
    return pid;
  }
  ~Children() {
    for (const pid_t pid : pids) ::kill(pid, SIGKILL);
    for (const pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  }
};

// TracerPid is set at PTRACE_SEIZE, before strace interrupts the tracee and restarts it with
// syscall tracing. A starved strace kept that gap open by chance (the real-peer soak: a
// backend's close that was to be delayed went untraced); the shim holds it open 200 ms every
// time. The tracee writes its count to /dev/null every millisecond: every write after attach
// returns must be in the log.
TEST(StraceTimeline, TracesEveryCallAfterAttachReturnsEvenWhenStraceSeizesSlowly) {
  const auto missing = fh::observers::strace_missing_reason();
  ASSERT_FALSE(missing) << *missing;
  auto* count = static_cast<std::atomic<std::uint64_t>*>(
      ::mmap(nullptr, sizeof(std::atomic<std::uint64_t>), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(count, MAP_FAILED);
  new (count) std::atomic<std::uint64_t>(0);
  Children children;
  const pid_t writer = children.fork_running([count] {
    const int fd = ::open("/dev/null", O_WRONLY);
    for (char line[32];;) {
      const int n =
          std::snprintf(line, sizeof line, "%llu\n", static_cast<unsigned long long>(++*count));
      [[maybe_unused]] const auto written = ::write(fd, line, static_cast<std::size_t>(n));
      ::usleep(1000);
    }
  });
  TempDir dir;
  StraceTimeline timeline(
      {.dir = dir.path,
       .stem = "writer",
       .trace = "write",
       .strace_env = {{"LD_PRELOAD", FH_SLOW_SEIZE_SHIM}, {"FH_SLEEP_AFTER_SEIZE_MS", "200"}}});
  ASSERT_NO_THROW(timeline.attach_processes({writer}, {}));
  const std::uint64_t at_return = count->load();
  std::this_thread::sleep_for(50ms);
  timeline.stop();
  std::optional<std::uint64_t> first;
  for (const auto& r : timeline.records()) {
    if (const auto quote = r.args.find(", \""); r.name == "write" && !first && quote != r.args.npos)
      first = std::strtoull(r.args.c_str() + quote + 3, nullptr, 10);
  }
  ASSERT_TRUE(first) << peers::file_tail(timeline.log_path(), 2000);
  EXPECT_LE(*first, at_return + 1)
      << "the count was " << at_return << " when attach returned, but strace's first write is "
      << *first << ": the calls in between went untraced";
  ::munmap(count, sizeof(std::atomic<std::uint64_t>));
}

// A group whose leader forks while strace is still attaching (php-fpm forks its children
// right after opening its socket): the child is in no list, and its parent, not yet traced,
// is followed by nobody. attach() lists the group again and starts over until every member
// is traced; the shim holds strace 300 ms before each seize while the leader forks at 100 ms.
TEST(StraceTimeline, AChildForkedWhileStraceAttachesIsTracedToo) {
  const auto missing = fh::observers::strace_missing_reason();
  ASSERT_FALSE(missing) << *missing;
  Children children;
  const pid_t leader = children.fork_running([] {
    ::setpgid(0, 0);
    const auto write_forever = [] {
      const int fd = ::open("/dev/null", O_WRONLY);
      for (;;) {
        [[maybe_unused]] const auto written = ::write(fd, "x", 1);
        ::usleep(1000);
      }
    };
    ::usleep(100 * 1000);
    if (::fork() == 0) write_forever();
    write_forever();
  });
  ::setpgid(leader, leader);  // either of the two calls wins; both ask the same
  TempDir dir;
  StraceTimeline timeline(
      {.dir = dir.path,
       .stem = "group",
       .trace = "write",
       .strace_env = {{"LD_PRELOAD", FH_SLOW_SEIZE_SHIM}, {"FH_SLEEP_BEFORE_SEIZE_MS", "300"}}});
  ASSERT_NO_THROW(timeline.attach(leader, {}));
  const auto members = peers::group_members(leader);
  ASSERT_EQ(members.size(), 2u) << "the leader and the child it forked";
  for (const pid_t pid : members)
    EXPECT_EQ(fh::observers::tracer_of(pid), timeline.tracer_pid()) << "pid " << pid;
  std::this_thread::sleep_for(50ms);
  timeline.stop();
  std::set<pid_t> writers;
  for (const auto& r : timeline.records())
    if (r.name == "write") writers.insert(r.pid);
  EXPECT_EQ(writers, std::set<pid_t>(members.begin(), members.end()))
      << peers::file_tail(timeline.log_path(), 2000);
  for (const pid_t pid : members) ::kill(pid, SIGKILL);  // the child is not the test's own
}

TEST(StraceTimeline, SeesNginxTalkToItsFastcgiBackend) {
  const auto missing = fh::observers::strace_missing_reason();
  ASSERT_FALSE(missing) << *missing;
  const auto gateway_info = peers::gateway_info("nginx");
  ASSERT_TRUE(gateway_info.installed) << gateway_info.missing_reason;
  const auto backend_info = peers::backend_info("libfcgi");
  ASSERT_TRUE(backend_info.installed) << backend_info.missing_reason;

  TempDir dir;
  peers::PeerOptions backend_options;
  backend_options.run_dir = dir.path / "backend";
  backend_options.listen = fh::net::Address::tcp("127.0.0.1", peers::pick_port());
  auto backend = peers::make_backend("libfcgi", backend_options);
  ASSERT_NO_THROW(backend->start());

  peers::PeerOptions gateway_options;
  gateway_options.run_dir = dir.path / "nginx";
  gateway_options.upstream = backend->address();
  auto gateway = peers::make_gateway("nginx", gateway_options);
  ASSERT_NO_THROW(gateway->start());
  ASSERT_NE(gateway->process(), nullptr);
  const pid_t nginx = gateway->process()->pgid();
  const auto nginx_pids = peers::group_members(nginx);

  StraceTimeline timeline({.dir = dir.path / "run", .stem = "gateway-nginx-strace"});
  const auto steady_origin = fh::events::Clock::now();
  const auto system_origin = std::chrono::system_clock::now();
  ASSERT_NO_THROW(timeline.attach(nginx, {}));
  const pid_t tracer = timeline.tracer_pid();
  EXPECT_EQ(timeline.pids().size(), nginx_pids.size());

  const std::string answer = http_get(gateway->address(), "/probe?size=100");
  EXPECT_NE(answer.find(" 200 "), std::string::npos) << answer;
  timeline.stop();
  EXPECT_FALSE(timeline.attached());
  EXPECT_NE(::kill(tracer, 0), 0) << "strace " << tracer << " outlived stop()";

  const auto records = timeline.records();
  ASSERT_FALSE(records.empty()) << peers::file_tail(timeline.log_path());
  const std::string backend_port = std::to_string(backend->address().port);
  const std::string backend_end = "127.0.0.1:" + backend_port;
  const SyscallRecord* connect = nullptr;
  const SyscallRecord* request = nullptr;
  for (const auto& r : records) {
    if (!connect && r.name == "connect" && r.sockaddr == backend_end) connect = &r;
    // The FastCGI request: BEGIN_REQUEST (version 1, type 1) first, on the backend's socket.
    if (!request && (r.name == "writev" || r.name == "write") && r.remote == backend_end &&
        r.args.find("\"\\1\\1\\0") != std::string::npos && r.bytes.value_or(0) > 8)
      request = &r;
  }
  ASSERT_NE(connect, nullptr) << "no connect() to " << backend_end << " in\n"
                              << peers::file_tail(timeline.log_path(), 6000);
  EXPECT_NE(connect->fd, -1);
  ASSERT_NE(request, nullptr) << "no FastCGI request written to " << backend_end << " in\n"
                              << peers::file_tail(timeline.log_path(), 6000);
  EXPECT_EQ(request->fd_type, "TCP");
  EXPECT_GE(request->wall, connect->wall);

  fh::events::Bus bus(steady_origin);
  EXPECT_EQ(timeline.publish_to(bus, "gateway", steady_origin, system_origin), records.size());
  const auto* published = bus.nth({"gateway", "syscall:" + request->name}, 1);
  ASSERT_NE(published, nullptr);
  EXPECT_GE(bus.ms_since_origin(published->at), 0.0);
  EXPECT_LT(bus.ms_since_origin(published->at), 10000.0);
  std::cout << "[ timeline ] " << records.size() << " records; request: " << published->detail
            << "\n";

  gateway->stop();
  backend->stop();
  EXPECT_TRUE(peers::group_members(nginx).empty()) << "nginx group " << nginx << " left behind";
  EXPECT_NE(::kill(tracer, 0), 0);
}

}  // namespace
