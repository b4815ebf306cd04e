#include "observers/strace_timeline.hpp"

#include "observers/syscall_events.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace fh::observers {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// strace prints string arguments in double quotes with backslash escapes. True when the
/// character at `i` belongs to such a string (then `i` may skip an escaped character).
bool skip_quoted(std::string_view s, std::size_t& i, bool& quoted) {
  const char c = s[i];
  if (quoted) {
    if (c == '\\')
      ++i;
    else if (c == '"')
      quoted = false;
    return true;
  }
  if (c == '"') {
    quoted = true;
    return true;
  }
  return false;
}

/// From `pos`, inside the argument list at depth 1: the position of the ')' that closes it,
/// skipping quoted strings (with backslash escapes) and nested ([{ }]). npos if unclosed.
std::size_t find_args_end(std::string_view s, std::size_t pos) {
  int depth = 1;
  bool quoted = false;
  for (std::size_t i = pos; i < s.size(); ++i) {
    const char c = s[i];
    if (skip_quoted(s, i, quoted)) continue;
    if (c == '(' || c == '[' || c == '{') {
      ++depth;
    } else if (c == ')' || c == ']' || c == '}') {
      if (--depth == 0) return c == ')' ? i : std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

bool counts_bytes(const std::string& name) {
  static const std::set<std::string> kIo = {
      "read",    "write",   "readv",   "writev",   "pread64",  "pwrite64",
      "preadv",  "pwritev", "preadv2", "pwritev2", "sendto",   "recvfrom",
      "sendmsg", "recvmsg", "send",    "recv",     "sendfile", "splice"};
  return kIo.count(name) > 0;
}

/// Between `key` and the closing `"` or `)`: sin_port=htons(9000) -> "9000".
std::string value_after(std::string_view s, std::string_view key, char end) {
  const auto at = s.find(key);
  if (at == std::string_view::npos) return {};
  const auto from = at + key.size();
  const auto to = s.find(end, from);
  return to == std::string_view::npos ? std::string() : std::string(s.substr(from, to - from));
}

/// The sockaddr argument of connect/bind/sendto/accept: "127.0.0.1:9000", "[::1]:9000", or a
/// unix path; "" when there is none.
std::string parse_sockaddr(std::string_view args) {
  if (args.find("sa_family=AF_INET6") != std::string_view::npos) {
    const auto port = value_after(args, "sin6_port=htons(", ')');
    const auto addr = value_after(args, "inet_pton(AF_INET6, \"", '"');
    if (!port.empty()) return "[" + addr + "]:" + port;
  } else if (args.find("sa_family=AF_INET") != std::string_view::npos) {
    const auto port = value_after(args, "sin_port=htons(", ')');
    const auto addr = value_after(args, "sin_addr=inet_addr(\"", '"');
    if (!port.empty()) return addr + ":" + port;
  } else if (args.find("sa_family=AF_UNIX") != std::string_view::npos) {
    if (auto path = value_after(args, "sun_path=\"", '"'); !path.empty()) return path;
    if (auto path = value_after(args, "sun_path=@\"", '"'); !path.empty()) return "@" + path;
  }
  return {};
}

/// "SIGKILL" -> 9 (0 when unknown).
int signal_number(std::string_view name) {
  for (int sig = 1; sig < NSIG; ++sig)
    if (const char* abbrev = ::sigabbrev_np(sig); abbrev && name == std::string("SIG") + abbrev)
      return sig;
  return 0;
}

/// Fills the result fields from the text after ") ": "= 1271 <0.000030>",
/// "= -1 EPIPE (Broken pipe) <0.000012>", "= 12<TCP:[...]> <0.1>", "= ?".
void parse_result(std::string_view tail, SyscallRecord& r) {
  tail = trim(tail);
  // -T: the last "<number>" on the line.
  if (!tail.empty() && tail.back() == '>') {
    const auto open = tail.rfind('<');
    if (open != std::string_view::npos && open > 0 && tail[open - 1] == ' ') {
      const std::string number(tail.substr(open + 1, tail.size() - open - 2));
      char* end = nullptr;
      const double d = std::strtod(number.c_str(), &end);
      if (!number.empty() && end && *end == '\0') {
        r.duration = d;
        tail = trim(tail.substr(0, open));
      }
    }
  }
  if (!starts_with(tail, "=")) return;
  tail = trim(tail.substr(1));
  std::size_t used = 0;
  if (!tail.empty() && is_digit(tail[0])) {
    SyscallRecord fd;  // accept4/socket: the returned fd's annotation
    used = parse_fd_annotation(tail, fd);
  }
  if (used == 0) {
    used = tail.find(' ');
    if (used == std::string_view::npos) used = tail.size();
  }
  r.result = std::string(tail.substr(0, used));
  {
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(r.result.c_str(), &end, 0);
    if (end != r.result.c_str() && errno == 0) r.retval = n;
  }
  auto rest = trim(tail.substr(used));
  if (!rest.empty() && rest[0] == 'E') {
    const auto space = rest.find(' ');
    r.errno_name = std::string(rest.substr(0, space));
  }
  if (rest.find("(INJECTED)") != std::string_view::npos)
    r.tampered = "INJECTED";
  else if (rest.find("(DELAYED)") != std::string_view::npos)
    r.tampered = "DELAYED";
  if (r.retval && *r.retval >= 0 && r.errno_name.empty() && counts_bytes(r.name))
    r.bytes = static_cast<std::uint64_t>(*r.retval);
}

/// Splits an annotation's bracket text into local/remote/path.
void split_endpoints(SyscallRecord& r) {
  std::string ends = r.endpoints;
  if (starts_with(r.fd_type, "UNIX")) {
    // 123->124,"/path" or 123,"/path" or 123->124
    const auto comma = ends.find(',');
    if (comma != std::string::npos) {
      std::string path = ends.substr(comma + 1);
      if (path.size() >= 2 && path.front() == '"' && path.back() == '"')
        path = path.substr(1, path.size() - 2);
      r.path = path;
      ends.resize(comma);
    }
  }
  const auto arrow = ends.find("->");
  if (arrow == std::string::npos) {
    r.local = ends;
  } else {
    r.local = ends.substr(0, arrow);
    r.remote = ends.substr(arrow + 2);
  }
}

}  // namespace

std::size_t parse_fd_annotation(std::string_view text, SyscallRecord& record) {
  std::size_t i = 0;
  while (i < text.size() && is_digit(text[i])) ++i;
  if (i == 0 || i >= text.size() || text[i] != '<') return 0;
  const int fd = std::atoi(std::string(text.substr(0, i)).c_str());
  const std::size_t open = i;
  int angle = 0, bracket = 0;
  bool quoted = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (skip_quoted(text, i, quoted)) continue;
    if (c == '[') {
      ++bracket;
    } else if (c == ']') {
      --bracket;
    } else if (bracket == 0 && c == '<') {
      ++angle;
    } else if (bracket == 0 && c == '>') {
      if (--angle == 0) break;
    }
  }
  if (i >= text.size()) return 0;
  const std::string content(text.substr(open + 1, i - open - 1));
  record.fd = fd;
  const auto colon = content.find(":[");
  if (colon != std::string::npos && content.back() == ']') {
    record.fd_type = content.substr(0, colon);
    record.endpoints = content.substr(colon + 2, content.size() - colon - 3);
    split_endpoints(record);
  } else {
    record.fd_type = content;
  }
  return i + 1;
}

std::optional<SyscallRecord> parse_strace_line(std::string_view line) {
  line = trim(line);
  SyscallRecord r;
  if (starts_with(line, "[pid")) {
    const auto close = line.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    r.pid = static_cast<pid_t>(std::atol(std::string(trim(line.substr(4, close - 4))).c_str()));
    line = trim(line.substr(close + 1));
  } else if (const auto space = line.find(' ');
             space != std::string_view::npos && space > 0 &&
             line.substr(0, space).find_first_not_of("0123456789") == std::string_view::npos) {
    // -f with -o FILE: "24610 1795322364.175674 writev(...)", the pid bare.
    r.pid = static_cast<pid_t>(std::atol(std::string(line.substr(0, space)).c_str()));
    line = trim(line.substr(space + 1));
  }
  // -ttt: "1700000000.123456 "
  std::size_t i = 0;
  while (i < line.size() && (is_digit(line[i]) || line[i] == '.')) ++i;
  if (i == 0 || i >= line.size() || line[i] != ' ') return std::nullopt;
  r.wall = std::strtod(std::string(line.substr(0, i)).c_str(), nullptr);
  line = trim(line.substr(i));

  if (starts_with(line, "+++")) {
    r.kind = SyscallRecord::Kind::exit;
    r.name = "exit";
    const auto body = trim(line.substr(3, line.size() >= 6 ? line.size() - 6 : 0));
    r.result = std::string(body);
    if (starts_with(body, "exited with "))
      r.exit_status = std::atoi(std::string(body.substr(12)).c_str());
    else if (starts_with(body, "killed by "))
      r.exit_status = -signal_number(body.substr(10, body.find(' ', 10) - 10));
    return r;
  }
  if (starts_with(line, "---")) {
    r.kind = SyscallRecord::Kind::signal;
    auto body = trim(line.substr(3));
    r.name = std::string(body.substr(0, body.find(' ')));
    if (const auto brace = body.find('{'); brace != std::string_view::npos)
      r.args = std::string(trim(body.substr(brace, body.rfind('}') - brace + 1)));
    return r;
  }

  std::size_t args_from = 0;
  if (starts_with(line, "<... ")) {
    const auto end = line.find(" resumed>");
    if (end == std::string_view::npos) return std::nullopt;
    r.name = std::string(line.substr(5, end - 5));
    args_from = end + 9;
    r.result = "resumed";  // marks a resumed line for the merge (replaced below)
  } else {
    const auto paren = line.find('(');
    if (paren == std::string_view::npos || paren == 0) return std::nullopt;
    r.name = std::string(line.substr(0, paren));
    for (const char c : r.name)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return std::nullopt;
    args_from = paren + 1;
  }
  const auto close = find_args_end(line, args_from);
  const bool resumed = r.result == "resumed";
  r.result.clear();
  if (close == std::string_view::npos) {
    constexpr std::string_view kUnfinished = "<unfinished ...>";
    const auto at = line.rfind(kUnfinished);
    if (at == std::string_view::npos || at < args_from) return std::nullopt;
    auto args = trim(line.substr(args_from, at - args_from));
    if (!args.empty() && args.back() == ',') args.remove_suffix(1);
    r.args = std::string(args);
    r.unfinished = true;
  } else {
    r.args = std::string(trim(line.substr(args_from, close - args_from)));
    parse_result(line.substr(close + 1), r);
  }
  if (!resumed) {
    const auto used = parse_fd_annotation(r.args, r);
    r.sockaddr = parse_sockaddr(r.args);
    if (counts_bytes(r.name) && used > 0) {
      auto data = trim(std::string_view(r.args).substr(used));
      if (starts_with(data, ",")) data = trim(data.substr(1));
      r.data = std::string(data);
    }
  }
  return r;
}

std::vector<SyscallRecord> parse_strace(std::string_view text) {
  std::vector<SyscallRecord> out;
  std::map<pid_t, std::size_t> pending;  // pid -> its unfinished record in `out`
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto parsed = parse_strace_line(line);
    if (!parsed) continue;
    SyscallRecord& r = *parsed;
    const bool resumed = trim(line).find("<... ") != std::string_view::npos &&
                         trim(line).find(" resumed>") != std::string_view::npos;
    if (resumed) {
      auto it = pending.find(r.pid);
      if (it != pending.end() && out[it->second].name == r.name) {
        SyscallRecord& start = out[it->second];
        if (!r.args.empty()) start.args += (start.args.empty() ? "" : ", ") + r.args;
        start.result = r.result;
        start.retval = r.retval;
        start.errno_name = r.errno_name;
        start.bytes = r.bytes;
        start.duration = r.duration;
        start.unfinished = r.unfinished;  // resumed and unfinished again: still pending
        if (start.sockaddr.empty()) start.sockaddr = parse_sockaddr(start.args);
        if (!start.unfinished) pending.erase(it);
        continue;
      }
      // Resumed without its start (attached mid-call): a record of its own, args as seen.
    }
    if (r.unfinished) pending[r.pid] = out.size();
    out.push_back(std::move(r));
  }
  return out;
}

std::string SyscallRecord::describe() const {
  std::string text;
  switch (kind) {
    case Kind::exit:
      return result;
    case Kind::signal:
      return name + (args.empty() ? "" : " " + args);
    case Kind::syscall:
      break;
  }
  if (fd >= 0) {
    text = "fd " + std::to_string(fd);
    if (!endpoints.empty())
      text += " " + endpoints;
    else if (!fd_type.empty())
      text += " " + fd_type;
  }
  if (!sockaddr.empty()) text += (text.empty() ? "" : " ") + std::string("-> ") + sockaddr;
  if (unfinished) return text + (text.empty() ? "" : " ") + "<unfinished>";
  text += (text.empty() ? "= " : " = ") + result;
  if (!errno_name.empty()) text += " " + errno_name;
  if (!tampered.empty()) text += " (" + tampered + ")";
  // What was written or read, so a record can be recognised (the empty STDIN is
  // "\1\5\0\1\0\0\0\0"); -s already bounds each buffer.
  if (!data.empty()) text += " " + (data.size() > 120 ? data.substr(0, 117) + "..." : data);
  return text;
}

std::optional<std::string> strace_missing_reason() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && ::access((fs::path(dir) / "strace").c_str(), X_OK) == 0)
      return std::nullopt;
  return "strace not found in PATH: apt-get install strace";
}

std::vector<pid_t> untraced_members(pid_t pgid, pid_t tracer) {
  std::vector<pid_t> untraced;
  for (const pid_t pid : peers::group_members(pgid))
    if (tracer_of(pid) != tracer && ::kill(pid, 0) == 0) untraced.push_back(pid);
  return untraced;
}

pid_t tracer_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("TracerPid:", 0) == 0) return static_cast<pid_t>(std::atol(line.c_str() + 10));
  return 0;
}

std::vector<SyscallRecord> read_strace_log(const fs::path& log) {
  std::ifstream in(log, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return parse_strace(text.str());
}

std::vector<std::string> strace_timeline_args(const std::string& trace, unsigned string_limit) {
  return {"-f", "-ttt", "-T", "-yy", "-s", std::to_string(string_limit), "-e", "trace=" + trace};
}

namespace {

/// The pids of `pids` still alive that strace has not yet said it attached to.
std::vector<pid_t> not_yet_attached(const std::vector<pid_t>& pids, const std::string& said) {
  std::vector<pid_t> left;
  for (const pid_t pid : pids)
    if (::kill(pid, 0) == 0 &&
        said.find("Process " + std::to_string(pid) + " attached") == std::string::npos)
      left.push_back(pid);
  return left;
}

}  // namespace

std::string pid_list(const std::vector<pid_t>& pids) {
  std::string list;
  for (const pid_t pid : pids) list += (list.empty() ? "" : ",") + std::to_string(pid);
  return list;
}

std::vector<pid_t> attach_whole_group(pid_t pgid, const std::string& who,
                                      const std::function<pid_t(const std::vector<pid_t>&)>& start,
                                      const std::function<void()>& undo) {
  for (int attempt = 1;; ++attempt) {
    const auto pids = peers::group_members(pgid);
    if (pids.empty()) throw StraceError(who + ": no process is left in its group");
    const pid_t tracer = start(pids);
    const auto missed = untraced_members(pgid, tracer);
    if (missed.empty()) return pids;
    undo();
    if (attempt == 3)
      throw StraceError(who + " kept forking while strace attached: " + pid_list(missed) +
                        " untraced after 3 attempts");
  }
}

peers::Process attach_strace(const std::vector<std::string>& options,
                             const std::vector<pid_t>& pids, const fs::path& stderr_to,
                             const StraceSaid& said, const std::function<void()>& pump,
                             std::chrono::milliseconds deadline,
                             const std::function<void()>& on_started,
                             const std::map<std::string, std::string>& env) {
  peers::ProcessSpec spec;
  spec.argv = {"strace"};
  spec.env = env;
  spec.argv.insert(spec.argv.end(), options.begin(), options.end());
  for (const pid_t pid : pids) {
    spec.argv.push_back("-p");
    spec.argv.push_back(std::to_string(pid));
  }
  spec.log_file = stderr_to;
  std::optional<peers::Process> strace;
  try {
    strace.emplace(peers::Process::start(spec));
  } catch (const peers::ProcessError& e) {
    throw StraceError("strace: " + std::string(e.what()));
  }
  if (on_started) on_started();
  std::vector<pid_t> left = pids;
  const bool attached = peers::wait_until(
      [&] {
        if (!strace->running()) return true;         // failed: reported below
        left = not_yet_attached(left, said.live());  // once said, said
        return left.empty();
      },
      deadline, pump);
  if (!attached || !strace->running()) {
    if (strace->valid()) strace->stop(2000ms, SIGINT);
    throw StraceError("strace did not attach to pid" + std::string(left.size() > 1 ? "s " : " ") +
                      pid_list(left.empty() ? pids : left) + " within " +
                      std::to_string(deadline.count()) + " ms: " + said.complaints());
  }
  return std::move(*strace);
}

StraceTimeline::StraceTimeline(Options options) : options_(std::move(options)) {}

StraceTimeline::~StraceTimeline() {
  stop();
}

fs::path StraceTimeline::log_path() const {
  return options_.dir / (options_.stem + ".log");
}

void StraceTimeline::attach(pid_t pgid, const std::function<void()>& pump,
                            std::chrono::milliseconds deadline) {
  if (auto missing = strace_missing_reason()) throw StraceError(*missing);
  attach_whole_group(
      pgid, "process group " + std::to_string(pgid),
      [&](const std::vector<pid_t>& pids) {
        attach_processes(pids, pump, deadline);
        return tracer_;
      },
      [this] { stop(); });
}

void StraceTimeline::attach_processes(const std::vector<pid_t>& pids,
                                      const std::function<void()>& pump,
                                      std::chrono::milliseconds deadline) {
  if (strace_) throw StraceError("strace is already attached");
  if (auto missing = strace_missing_reason()) throw StraceError(*missing);
  if (pids.empty()) throw StraceError("no process to trace");
  pids_ = pids;
  std::error_code ignored;
  fs::create_directories(options_.dir, ignored);
  const auto errors = options_.dir / (options_.stem + ".err");
  auto options = strace_timeline_args(options_.trace, options_.string_limit);
  options.push_back("-o");
  options.push_back(log_path().string());
  const auto said = [&] { return peers::file_tail(errors, 1 << 16); };
  strace_.emplace(
      attach_strace(options, pids_, errors, {said, said}, pump, deadline, {}, options_.strace_env));
  tracer_ = strace_->pid();
}

void StraceTimeline::stop() {
  if (!strace_) return;
  // strace detaches from every tracee on SIGINT and flushes its log; the tracees run on.
  if (strace_->valid()) strace_->stop(2000ms, SIGINT);
  strace_.reset();
}

std::vector<SyscallRecord> StraceTimeline::records() const {
  auto records = read_strace_log(log_path());
  // A single tracee gets no [pid N] prefix.
  if (pids_.size() == 1)
    for (auto& r : records)
      if (r.pid == 0) r.pid = pids_.front();
  return records;
}

std::size_t StraceTimeline::publish_to(events::Bus& bus, const std::string& role,
                                       events::Clock::time_point steady_origin,
                                       std::chrono::system_clock::time_point system_origin) const {
  return publish_records(records(), bus, role, steady_origin, system_origin);
}

namespace {

std::uint16_t port_of(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return 0;
  return static_cast<std::uint16_t>(std::atoi(endpoint.c_str() + colon + 1));
}

}  // namespace

std::map<std::string, std::vector<SyscallRecord>> split_harness_records(
    const std::vector<SyscallRecord>& records, const HarnessSockets& sockets) {
  std::map<std::string, std::vector<SyscallRecord>> out;
  std::set<std::string> gateway_unix;  // local inodes of the fake gateway's unix connections
  for (const auto& r : records) {
    if (r.kind != SyscallRecord::Kind::syscall) continue;
    std::string party;
    if (r.fd_type == "TCP" || r.fd_type == "TCPv6") {
      const auto local = port_of(r.local), remote = port_of(r.remote),
                 target = port_of(r.sockaddr);  // connect() before the socket has endpoints
      if (sockets.backend_port && local == sockets.backend_port)
        party = "backend";
      else if (sockets.gateway_port && local == sockets.gateway_port)
        party = "gateway";
      else if (sockets.backend_port &&
               (remote == sockets.backend_port || target == sockets.backend_port))
        party = "gateway";
      else if (sockets.gateway_port &&
               (remote == sockets.gateway_port || target == sockets.gateway_port))
        party = "client";
    } else if (r.fd_type.rfind("UNIX", 0) == 0 && !sockets.backend_path.empty()) {
      if (r.path == sockets.backend_path) {
        party = "backend";
      } else if (r.sockaddr == sockets.backend_path || gateway_unix.count(r.local)) {
        party = "gateway";
        gateway_unix.insert(r.local);
      }
    }
    if (!party.empty()) out[party].push_back(r);
  }
  return out;
}

std::size_t publish_records(const std::vector<SyscallRecord>& records, events::Bus& bus,
                            const std::string& role, events::Clock::time_point steady_origin,
                            std::chrono::system_clock::time_point system_origin) {
  std::vector<const SyscallRecord*> ordered;
  for (const auto& r : records) ordered.push_back(&r);
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto* a, const auto* b) {
    return a->wall + a->duration.value_or(0) < b->wall + b->duration.value_or(0);
  });
  const std::chrono::duration<double> origin = system_origin.time_since_epoch();
  for (const SyscallRecord* r : ordered) {
    const bool gateway = role == "gateway";
    events::Event e;
    // Placed when the call returned (-ttt is its start): that is when a write's bytes were on
    // the wire and a read had its data, so the lanes line up with the pcap's packets.
    const auto since = std::chrono::duration<double>(r->wall + r->duration.value_or(0)) - origin;
    e.at = steady_origin + std::chrono::duration_cast<events::Clock::duration>(since);
    const events::EventDecl* decl = nullptr;
    std::string_view part;
    switch (r->kind) {
      case SyscallRecord::Kind::syscall:
        decl = gateway ? &syscall_events::gateway_syscall : &syscall_events::backend_syscall;
        part = r->name;
        e.value = r->bytes.value_or(0);
        break;
      case SyscallRecord::Kind::signal:
        decl = gateway ? &syscall_events::gateway_signal : &syscall_events::backend_signal;
        part = r->name;
        break;
      case SyscallRecord::Kind::exit:
        decl = gateway ? &syscall_events::gateway_process_exited
                       : &syscall_events::backend_process_exited;
        e.value = static_cast<std::uint64_t>(r->pid);
        break;
    }
    e.decl = decl;
    e.party = std::string(decl->party);
    e.name = decl->member(part);
    e.detail = r->describe() + " (pid " + std::to_string(r->pid);
    if (r->duration) {
      char took[48];
      std::snprintf(took, sizeof took, ", took %.3f ms", *r->duration * 1000);
      e.detail += took;
    }
    e.detail += ")";
    bus.publish(std::move(e));
  }
  return ordered.size();
}

std::vector<std::string> syscall_events::traced_syscalls() {
  // kTimelineTrace: strace's %network class spelled out, and the I/O calls.
  return {"accept",      "accept4",    "bind",     "connect",  "getpeername",
          "getsockname", "getsockopt", "listen",   "recv",     "recvfrom",
          "recvmmsg",    "recvmsg",    "send",     "sendmmsg", "sendmsg",
          "sendto",      "setsockopt", "shutdown", "socket",   "socketpair",
          "read",        "write",      "readv",    "writev",   "close"};
}

}  // namespace fh::observers
