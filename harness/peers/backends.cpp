#include "peers/backends.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "probe/probe_contract.hpp"
#include "util/sha256.hpp"

namespace fh::peers {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const fs::path kPeersDir = FH_PEERS_DIR;
const fs::path kApps = kPeersDir / "apps";

// Every backend knob is a count; `min` is the least the program accepts (a pool of 0
// children starts nothing; PHP_FCGI_CHILDREN=0 is php-cgi's own single process, seed 002).
struct CountKnob {
  std::string name;
  std::uint64_t min = 0;
};

struct KindDef {
  std::string name;
  std::vector<CountKnob> knobs;
  std::vector<std::string> knob_names() const {
    std::vector<std::string> out;
    for (const auto& k : knobs) out.push_back(k.name);
    return out;
  }
};

const std::vector<KindDef>& kind_defs() {
  static const std::vector<KindDef> defs{
      {"php-fpm", {{"pm.max_requests", 0}, {"pm.max_children", 1}}},
      {"php-cgi", {{"PHP_FCGI_MAX_REQUESTS", 0}, {"PHP_FCGI_CHILDREN", 0}}},
      {"uwsgi", {{"max-requests", 0}, {"processes", 1}}},
      {"fcgiwrap", {}},
      {"go", {}},
      {"libfcgi", {}},
      {"perl", {}},
  };
  return defs;
}

const KindDef* find_kind(std::string_view kind) {
  for (const auto& d : kind_defs())
    if (d.name == kind) return &d;
  return nullptr;
}

// PATH plus the sbin directories a non-login shell may lack (php-fpm8.2, fcgiwrap live there).
std::string find_binary(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string dpkg_version(const std::string& package) {
  return trim(capture_output({"dpkg-query", "-W", "-f=${Version}", package}));
}

// A requirement: a program (or file) and the Debian 12 package that provides it.
struct Need {
  std::string what;  // program name, or an absolute file path
  std::string package;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string address_arg(const net::Address& a) {
  return a.is_tcp() ? a.to_string() : a.path;
}

}  // namespace

std::vector<std::string> backend_knobs(std::string_view kind) {
  const KindDef* def = find_kind(kind);
  return def ? def->knob_names() : std::vector<std::string>{};
}

std::string backend_knob_problem(std::string_view kind, const std::string& name,
                                 const std::string& value) {
  const KindDef* def = find_kind(kind);
  if (!def) return "";
  for (const auto& k : def->knobs) {
    if (k.name != name) continue;
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || end != value.data() + value.size() || n < k.min)
      return "knob '" + k.name + "' of " + std::string(kind) + " is a count of at least " +
             std::to_string(k.min) + ", not '" + value + "'";
  }
  return "";
}

std::vector<std::string> backend_kinds() {
  std::vector<std::string> out;
  for (const auto& d : kind_defs()) out.push_back(d.name);
  return out;
}

PeerInfo backend_info(std::string_view kind) {
  PeerInfo info;
  info.kind = std::string(kind);
  std::vector<Need> needs;
  std::string version_package;
  if (kind == "php-fpm") {
    needs = {{"php-fpm8.2", "php8.2-fpm"}};
    version_package = "php8.2-fpm";
  } else if (kind == "php-cgi") {
    needs = {{"php-cgi8.2", "php8.2-cgi"}, {"spawn-fcgi", "spawn-fcgi"}};
    version_package = "php8.2-cgi";
  } else if (kind == "uwsgi") {
    needs = {{"uwsgi", "uwsgi"},
             {"/usr/lib/uwsgi/plugins/python3_plugin.so", "uwsgi-plugin-python3"}};
    version_package = "uwsgi";
  } else if (kind == "fcgiwrap") {
    needs = {{"fcgiwrap", "fcgiwrap"}, {"spawn-fcgi", "spawn-fcgi"}, {"perl", "perl"}};
    version_package = "fcgiwrap";
  } else if (kind == "go") {
    needs = {{"go", "golang-go"}};
  } else if (kind == "libfcgi") {
    needs = {{"cc", "build-essential"},
             {"/usr/include/fcgiapp.h", "libfcgi-dev"},
             {"/usr/include/openssl/evp.h", "libssl-dev"}};
    version_package = "libfcgi-dev";
  } else if (kind == "perl") {
    needs = {{"perl", "perl"}, {"FCGI.pm", "libfcgi-perl"}};
  } else {
    throw PeerError("unknown backend kind '" + info.kind + "'");
  }

  std::vector<std::string> missing_what, missing_packages;
  for (const auto& need : needs) {
    bool found = false;
    if (need.what == "FCGI.pm") {
      found = !trim(capture_output({"perl", "-MFCGI", "-e", "print $FCGI::VERSION"})).empty() &&
              capture_output({"perl", "-MFCGI", "-e", "print 'ok'"}) == "ok";
    } else if (need.what.starts_with("/")) {
      found = fs::exists(need.what);
    } else {
      const std::string path = find_binary(need.what);
      found = !path.empty();
      if (found && info.binary.empty()) info.binary = path;
    }
    if (!found) {
      missing_what.push_back(need.what);
      missing_packages.push_back(need.package);
    }
  }
  if (info.binary.empty()) info.binary = needs.front().what;
  info.apt_package = needs.front().package;
  info.installed = missing_what.empty();
  if (!info.installed) {
    std::string what, pkgs;
    for (const auto& w : missing_what) what += (what.empty() ? "" : ", ") + w;
    for (const auto& p : missing_packages) pkgs += " " + p;
    info.apt_package = pkgs.substr(1);
    info.missing_reason = what + " not found: apt-get install" + pkgs;
    return info;
  }
  if (kind == "go") {
    // "go version go1.19.8 linux/amd64"
    std::istringstream words(capture_output({info.binary, "version"}));
    std::string w;
    for (int i = 0; i < 3 && (words >> w); ++i) {
    }
    info.version = w.starts_with("go") ? w.substr(2) : w;
  } else if (kind == "perl") {
    info.version = "FCGI " + trim(capture_output({"perl", "-MFCGI", "-e", "print $FCGI::VERSION"}));
  } else {
    info.version = dpkg_version(version_package);
  }
  return info;
}

std::vector<PeerInfo> backend_catalogue() {
  std::vector<PeerInfo> out;
  for (const auto& d : kind_defs()) out.push_back(backend_info(d.name));
  return out;
}

// ---------------------------------------------------------------- the adapter

namespace {

// Builds a probe app once per source digest into a cache shared by runs (and by concurrent
// harnesses: the result is renamed into place).
fs::path cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "fcgi-harness";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "fcgi-harness";
  return fs::temp_directory_path() / "fcgi-harness-cache";
}

class RealBackend final : public Backend {
 public:
  RealBackend(std::string kind, PeerOptions options)
      : kind_(std::move(kind)), options_(std::move(options)) {
    const KindDef* def = find_kind(kind_);
    check_knobs(kind_, options_.knobs, def->knob_names());
    if (options_.run_dir.empty()) throw PeerError(kind_ + ": PeerOptions.run_dir is empty");
    if (options_.listen.is_tcp() && options_.listen.port == 0) options_.listen.port = pick_port();
    if (!options_.listen.is_tcp() && options_.listen.path.empty())
      options_.listen.path = (options_.run_dir / (kind_ + ".sock")).string();
    info_ = backend_info(kind_);
  }
  ~RealBackend() override { stop(); }

  const PeerInfo& info() const override { return info_; }
  net::Address address() const override { return options_.listen; }
  Process* process() override { return proc_ ? &*proc_ : nullptr; }
  std::vector<fs::path> artefacts() const override { return artefacts_; }
  fs::path document_root() const override { return options_.run_dir / "docroot"; }

  void start() override {
    if (!info_.installed) throw PeerError(kind_ + ": " + info_.missing_reason);
    if (proc_) throw PeerError(kind_ + ": already started");
    fs::create_directories(document_root());
    if (!options_.listen.is_tcp()) fs::remove(options_.listen.path);
    log_ = options_.run_dir / (kind_ + ".log");
    artefacts_.push_back(log_);
    ProcessSpec spec = prepare();
    spec.cwd = options_.run_dir;
    spec.log_file = log_;
    try {
      proc_.emplace(Process::start(spec));
    } catch (const ProcessError& e) {
      throw PeerError(kind_ + ": " + e.what());
    }
    wait_ready();
  }

  void stop() override {
    if (proc_ && proc_->valid()) proc_->stop(grace_, stop_signal_);
  }

 private:
  std::string knob(const std::string& name, const std::string& fallback) const {
    auto it = options_.knobs.find(name);
    return it == options_.knobs.end() ? fallback : it->second;
  }

  std::string failure(const std::string& what) const {
    return kind_ + " " + what + " (" + options_.listen.to_string() + "); log " + log_.string() +
           ":\n" + file_tail(log_);
  }

  // Ready = a real request got the probe's answer: spawn-fcgi binds before the app loads
  // (real-peers.md §1.5).
  void wait_ready() {
    FcgiRequest probe;
    probe.query = "size=16";
    probe.document_root = document_root().string();
    std::string last_error;
    const bool ready = wait_until(
        [&] {
          if (!proc_->running())
            throw PeerError(failure("exited with status " +
                                    std::to_string(proc_->exit_status().value_or(-1)) +
                                    " while starting"));
          if (!can_connect(options_.listen)) return false;
          const FcgiResponse r = fcgi_exchange(options_.listen, probe, 2s, options_.pump);
          last_error = r.error.empty() ? "status " + std::to_string(r.status) + " body '" +
                                             r.body.substr(0, 100) + "'"
                                       : r.error;
          return r.ended && r.status == 200 && r.body == probe::pattern(0, 16);
        },
        20s, options_.pump);
    if (!ready) {
      stop();
      throw PeerError(failure("not ready after 20 s (last probe: " + last_error + ")"));
    }
  }

  // Copies an app into the run (the CGI and PHP apps are found through SCRIPT_FILENAME).
  void install_script(const std::string& app) {
    const fs::path to = document_root() / "probe";
    fs::copy_file(kApps / app, to, fs::copy_options::overwrite_existing);
    fs::permissions(to, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  }

  // spawn-fcgi -n execs the app in place (no fork, no pid file); always -a, its default bind
  // is 0.0.0.0 (real-peers.md §3).
  std::vector<std::string> spawn_fcgi() const {
    std::vector<std::string> argv{find_binary("spawn-fcgi"), "-n"};
    if (options_.listen.is_tcp()) {
      argv.insert(argv.end(),
                  {"-a", options_.listen.host, "-p", std::to_string(options_.listen.port)});
    } else {
      argv.insert(argv.end(), {"-s", options_.listen.path, "-M", "0666"});
    }
    argv.push_back("--");
    return argv;
  }

  fs::path build_cached(const std::string& source, const std::string& name,
                        const std::function<ProcessSpec(const fs::path& out)>& compile) {
    const std::string text = read_text(kApps / source);
    util::Sha256 digest;
    digest.update(text);
    digest.update(info_.version);
    const fs::path dir = cache_dir() / "bin";
    fs::create_directories(dir);
    const fs::path bin = dir / (name + "-" + digest.hex_digest().substr(0, 16));
    if (fs::exists(bin)) return bin;
    const fs::path tmp = bin.string() + ".tmp" + std::to_string(::getpid());
    const fs::path build_log = options_.run_dir / (name + "-build.log");
    artefacts_.push_back(build_log);
    ProcessSpec spec = compile(tmp);
    spec.log_file = build_log;
    if (spec.cwd.empty()) spec.cwd = options_.run_dir;
    Process p = Process::start(spec);
    if (!wait_until([&] { return !p.running(); }, 120s, options_.pump) || p.exit_status() != 0 ||
        !fs::exists(tmp)) {
      p.stop(100ms);
      throw PeerError(kind_ + ": building " + source + " failed; " + build_log.string() + ":\n" +
                      file_tail(build_log));
    }
    fs::rename(tmp, bin);
    return bin;
  }

  ProcessSpec prepare() {
    ProcessSpec spec;
    if (kind_ == "php-fpm") {
      install_script("probe.php");
      const fs::path conf = options_.run_dir / "php-fpm.conf";
      render_file(kPeersDir / "templates" / "backend-php-fpm.conf", conf,
                  {{"run_dir", options_.run_dir.string()},
                   {"listen", address_arg(options_.listen)},
                   {"document_root", document_root().string()},
                   {"pm.max_children", knob("pm.max_children", "2")},
                   {"pm.max_requests", knob("pm.max_requests", "0")}});
      artefacts_.push_back(conf);
      artefacts_.push_back(options_.run_dir / "php-fpm.log");
      // -R: workers may run as root (like the harness); -n: no php.ini, the pool sets it all.
      spec.argv = {info_.binary, "-F", "-R", "-n", "-y", conf.string()};
      stop_signal_ = SIGQUIT;  // graceful (real-peers.md §4), the group is killed after grace_
    } else if (kind_ == "php-cgi") {
      install_script("probe.php");
      spec.argv = spawn_fcgi();
      spec.argv.insert(spec.argv.end(), {info_.binary, "-n", "-d", "output_buffering=0", "-d",
                                         "expose_php=0", "-d", "cgi.force_redirect=0"});
      spec.env["PHP_FCGI_CHILDREN"] = knob("PHP_FCGI_CHILDREN", "0");
      if (options_.knobs.count("PHP_FCGI_MAX_REQUESTS"))
        spec.env["PHP_FCGI_MAX_REQUESTS"] = knob("PHP_FCGI_MAX_REQUESTS", "");
    } else if (kind_ == "uwsgi") {
      // Without --die-on-term TERM means reload (real-peers.md §3).
      spec.argv = {info_.binary,
                   "--plugin",
                   "python3",
                   "--fastcgi-socket",
                   address_arg(options_.listen),
                   "--wsgi-file",
                   (kApps / "probe_wsgi.py").string(),
                   "--master",
                   "--processes",
                   knob("processes", "2"),
                   "--need-app",
                   "--strict",
                   "--die-on-term",
                   "--logto",
                   log_.string()};
      if (!options_.listen.is_tcp()) spec.argv.push_back("--chmod-socket=666");
      if (options_.knobs.count("max-requests"))
        spec.argv.insert(spec.argv.end(), {"--max-requests", knob("max-requests", "")});
      grace_ = 3s;  // uWSGI takes about 1 s to exit
    } else if (kind_ == "fcgiwrap") {
      install_script("probe_cgi.pl");
      spec.argv = spawn_fcgi();
      // -f: the CGI's stderr goes to FCGI_STDERR.
      spec.argv.insert(spec.argv.end(), {info_.binary, "-f"});
    } else if (kind_ == "go") {
      const fs::path bin = build_cached("probe_go.go", "probe_go", [&](const fs::path& out) {
        ProcessSpec b;
        b.argv = {info_.binary, "build", "-o", out.string(), (kApps / "probe_go.go").string()};
        // Offline and self-contained: caches under the harness's cache dir, no proxy, no cgo.
        b.env = {{"GOCACHE", (cache_dir() / "go-build").string()},
                 {"GOPATH", (cache_dir() / "gopath").string()},
                 {"GOPROXY", "off"},
                 {"GOFLAGS", "-mod=mod"},
                 {"CGO_ENABLED", "0"}};
        return b;
      });
      spec.argv = {bin.string(), options_.listen.is_tcp() ? "tcp" : "unix",
                   address_arg(options_.listen)};
    } else if (kind_ == "libfcgi") {
      const fs::path bin = build_cached("probe_fcgi.c", "probe_fcgi", [&](const fs::path& out) {
        ProcessSpec b;
        b.argv = {info_.binary, "-O2",     "-o", out.string(), (kApps / "probe_fcgi.c").string(),
                  "-lfcgi",     "-lcrypto"};
        return b;
      });
      spec.argv = {bin.string(), address_arg(options_.listen)};
    } else if (kind_ == "perl") {
      // FCGI_SOCKET_PATH: the app opens its own listener (host:port or a path).
      spec.env["FCGI_SOCKET_PATH"] = address_arg(options_.listen);
      spec.argv = {info_.binary, (kApps / "probe_fcgi.pl").string()};
    }
    return spec;
  }

  std::string kind_;
  PeerOptions options_;
  PeerInfo info_;
  std::optional<Process> proc_;
  std::vector<fs::path> artefacts_;
  fs::path log_;
  int stop_signal_ = SIGTERM;
  std::chrono::milliseconds grace_ = 2s;
};

}  // namespace

std::unique_ptr<Backend> make_backend(std::string_view kind, PeerOptions options) {
  if (!find_kind(kind)) {
    std::string list;
    for (const auto& k : backend_kinds()) list += (list.empty() ? "" : ", ") + k;
    throw PeerError("unknown backend kind '" + std::string(kind) + "' (valid: " + list + ")");
  }
  return std::make_unique<RealBackend>(std::string(kind), std::move(options));
}

// ---------------------------------------------------------------- blocking FastCGI client

fcgi::NameValues cgi_params(const FcgiRequest& request) {
  const std::string uri = request.query.empty() ? request.path : request.path + "?" + request.query;
  fcgi::NameValues p{
      {"GATEWAY_INTERFACE", "CGI/1.1"},
      {"SERVER_PROTOCOL", "HTTP/1.1"},  // net/http/fcgi rejects a request without it
      {"SERVER_SOFTWARE", "fcgi-harness"},
      {"SERVER_NAME", "localhost"},
      {"SERVER_ADDR", "127.0.0.1"},
      {"SERVER_PORT", "80"},
      {"REMOTE_ADDR", "127.0.0.1"},
      {"REMOTE_PORT", "40000"},
      {"REQUEST_METHOD", request.method},
      {"REQUEST_URI", uri},  // Go takes the URL, query included, from here
      {"QUERY_STRING", request.query},
      {"SCRIPT_NAME", request.path},
      {"SCRIPT_FILENAME", request.document_root + request.path},
      {"DOCUMENT_ROOT", request.document_root},
      {"PATH_INFO", ""},
      {"HTTP_HOST", "localhost"},
  };
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    p.push_back({"CONTENT_LENGTH", std::to_string(request.body.size())});
    p.push_back({"CONTENT_TYPE", "application/octet-stream"});
  }
  for (const auto& kv : request.extra_params) p.push_back(kv);
  return p;
}

std::string wrong_answer(const FcgiResponse& r) {
  return (r.error.empty() ? "no END_REQUEST" : r.error) + " after " +
         std::to_string(r.bytes_received) + " bytes (" + std::to_string(r.stdout_records) +
         " STDOUT records)";
}

FcgiResponse fcgi_exchange(const net::Address& address, const FcgiRequest& request,
                           std::chrono::milliseconds timeout, const std::function<void()>& pump) {
  FcgiResponse response;
  const auto deadline = Clock::now() + timeout;
  const int fd = connect_socket(address, std::min<std::chrono::milliseconds>(timeout, 1000ms));
  if (fd < 0) {
    response.error = "connect to " + address.to_string() + " failed";
    return response;
  }
  constexpr std::uint16_t id = 1;
  fcgi::Bytes out;
  fcgi::append_record(fcgi::make_begin_request(id, fcgi::Role::Responder, 0), out);
  out += fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Params, id,
                                            fcgi::encode_name_values(cgi_params(request)), true));
  out += fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Stdin, id, request.body, true));

  std::size_t written = 0;
  fcgi::RecordDecoder decoder;
  std::vector<fcgi::Record> records;
  char buffer[65536];
  bool eof = false;
  while (!response.ended && !eof) {
    if (Clock::now() >= deadline) {
      response.error = "timeout after " + std::to_string(timeout.count()) + " ms";
      break;
    }
    pollfd p{fd, static_cast<short>(POLLIN | (written < out.size() ? POLLOUT : 0)), 0};
    const int wait_ms = pump ? 2 : 50;
    const int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno != EINTR) {
      response.error = std::string("poll: ") + std::strerror(errno);
      break;
    }
    if (pump) pump();
    if (n <= 0) continue;
    if ((p.revents & POLLOUT) && written < out.size()) {
      const ssize_t w = ::send(fd, out.data() + written, out.size() - written, MSG_NOSIGNAL);
      if (w > 0) written += static_cast<std::size_t>(w);
      // A backend may answer and close without reading the whole body: keep reading.
      if (w < 0 && errno != EAGAIN && errno != EINTR) written = out.size();
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t r = ::recv(fd, buffer, sizeof buffer, 0);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        eof = true;
        if (r < 0) response.error = std::string("recv: ") + std::strerror(errno);
      }
      if (r <= 0) continue;
      response.bytes_received += static_cast<std::size_t>(r);
      records.clear();
      if (auto error =
              decoder.feed(std::string_view(buffer, static_cast<std::size_t>(r)), records)) {
        response.error = "protocol error: " + error->message;
        break;
      }
      for (const auto& rec : records) {
        if (rec.is(fcgi::RecordType::Stdout)) {
          response.stdout_data += rec.content;
          if (!rec.content.empty()) ++response.stdout_records;
        } else if (rec.is(fcgi::RecordType::Stderr)) {
          response.stderr_data += rec.content;
        } else if (rec.is(fcgi::RecordType::EndRequest)) {
          if (auto body = fcgi::decode_end_request(rec)) {
            response.app_status = body.value().app_status;
            response.protocol_status = body.value().protocol_status;
          }
          response.ended = true;
        }
      }
    }
  }
  ::close(fd);
  if (!response.ended && response.error.empty()) response.error = "closed before END_REQUEST";

  // CGI response (RFC 3875 §6): header lines, an empty line, the body.
  const std::string& s = response.stdout_data;
  std::size_t head_end = s.find("\r\n\r\n");
  std::size_t body_at = head_end == std::string::npos ? std::string::npos : head_end + 4;
  if (const std::size_t lf = s.find("\n\n"); lf != std::string::npos && lf < head_end) {
    head_end = lf;
    body_at = lf + 2;
  }
  if (head_end != std::string::npos) {
    response.headers = s.substr(0, head_end);
    response.body = s.substr(body_at);
    response.status = 200;
    std::istringstream lines(response.headers);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.size() >= 7 && ::strncasecmp(line.c_str(), "Status:", 7) == 0)
        response.status = std::atoi(line.c_str() + 7);
    }
  }
  return response;
}

}  // namespace fh::peers
