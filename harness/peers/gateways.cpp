#include "peers/gateways.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>

#include "peers/generic.hpp"

namespace fh::peers {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct Knob {
  std::string name;
  std::string fallback;  // used when not given; "" = not written
  std::string pattern;   // ECMAScript regex a value must match
  std::string what;      // for the error message: "on or off"
};

// What differs between gateways; the flow (render, start, ready, stop) is GatewayPeer's.
struct Kind {
  std::string kind;
  std::string binary;
  std::string apt_package;
  std::vector<std::string> version_argv;
  std::string template_name;  // in FH_PEERS_DIR/templates
  std::string config_name;    // written into run_dir
  int stop_signal;            // graceful, or what exits cleanly at once (real-peers.md §2, §4)
  std::vector<Knob> knobs;
  std::string required_file;  // a module the binary alone does not prove
};

const std::string kOnOff = "on|off";
const std::string kCount = "[0-9]+";

const std::vector<Kind>& kinds() {
  static const std::vector<Kind> table = {
      {"nginx",
       "nginx",
       "nginx-light",
       {"nginx", "-v"},
       "gateway-nginx.conf",
       "nginx.conf",
       SIGQUIT,
       {{"fastcgi_keep_conn", "off", kOnOff, "on or off"},
        {"fastcgi_buffering", "on", kOnOff, "on or off"},
        {"fastcgi_request_buffering", "on", kOnOff, "on or off"},
        {"fastcgi_read_timeout", "60s", "[0-9]+(ms|s|m|h)?", "an nginx time (500ms, 30s)"}},
       ""},
      {"lighttpd",
       "lighttpd",
       "lighttpd",
       {"lighttpd", "-v"},
       "gateway-lighttpd.conf",
       "lighttpd.conf",
       SIGINT,
       {{"server.stream-response-body", "0", "[012]", "0, 1 or 2"},
        {"server.stream-request-body", "0", "[012]", "0, 1 or 2"}},
       ""},
      {"apache",
       "apache2",
       "apache2",
       {"apache2", "-v"},
       "gateway-apache.conf",
       "httpd.conf",
       // Not WINCH: its graceful stop ticks once a second (about 1 s per run). Stop comes when
       // the run is over with nothing in flight, and TERM exits in about 30 ms (§2, §4).
       SIGTERM,
       {{"enablereuse", "off", kOnOff, "on or off"},
        {"flushpackets", "off", "on|off|auto", "on, off or auto"},
        {"timeout", "60", kCount, "seconds"}},
       "/usr/lib/apache2/modules/mod_proxy_fcgi.so"},
      {"apache-fcgid",
       "apache2",
       "apache2 libapache2-mod-fcgid",
       {"apache2", "-v"},
       "gateway-apache-fcgid.conf",
       "httpd.conf",
       SIGTERM,  // as apache; the applications it spawned are in its group

       {{"FcgidMaxRequestsPerProcess", "0", kCount, "a count (0: unlimited)"},
        {"app", "", "[^\"\n]*", "a command line without double quotes"},
        // The spawned application's environment (FcgidInitialEnv): "NAME=VALUE NAME=VALUE",
        // e.g. PHP_FCGI_MAX_REQUESTS=5 for php-cgi.
        {"FcgidInitialEnv", "", "([A-Za-z_][A-Za-z0-9_]*=[^ \"\n]* *)*", "NAME=VALUE words"}},
       "/usr/lib/apache2/modules/mod_fcgid.so"},
      {"h2o",
       "h2o",
       "h2o",
       {"h2o", "--version"},
       "gateway-h2o.yaml",
       "h2o.conf",
       SIGTERM,
       {{"fastcgi.timeout.io", "30000", kCount, "milliseconds"},
        {"fastcgi.timeout.keepalive", "0", kCount, "milliseconds (0: no keep-alive)"}},
       ""},
      {"haproxy",
       "haproxy",
       "haproxy",
       {"haproxy", "-v"},
       "gateway-haproxy.cfg",
       "haproxy.cfg",
       // Not USR1: its soft stop waits for the kept backend connections (keep-conn is on by
       // default): 5 s after every run here. Stop comes when the run is over,
       // nothing is in flight, and TERM exits in about 1 ms (real-peers.md §2, §4).
       SIGTERM,
       {{"keep-conn", "on", kOnOff, "on or off"},
        {"mpxs-conns", "off", kOnOff, "on or off"},
        {"max-reqs", "1", "[1-9][0-9]*", "a count of at least 1"},
        // safe (the default) never sends a session's first request over an idle connection:
        // each new client connection opens a backend connection and the idle ones stay open
        // (pool-purge-delay, 5 s), holding php-fpm's static workers.
        {"http-reuse", "safe", "never|safe|aggressive|always",
         "never, safe, aggressive or always"}},
       ""},
      {"caddy",
       "caddy",
       "caddy",
       {"caddy", "version"},
       "gateway-caddy.Caddyfile",
       "Caddyfile",
       SIGTERM,
       {{"flush_interval", "", "-1|[0-9]+(ns|us|ms|s|m|h)?", "-1 or a Go duration (100ms)"}},
       ""},
  };
  return table;
}

const Kind& find_kind(std::string_view name) {
  for (const auto& k : kinds()) {
    if (k.kind == name) return k;
  }
  std::string valid;
  for (const auto& k : kinds()) valid += (valid.empty() ? "" : ", ") + k.kind;
  throw PeerError("unknown gateway kind '" + std::string(name) + "' (valid: " + valid + ")");
}

fs::path find_binary(const std::string& name) {
  std::string dirs;
  if (const char* path = std::getenv("PATH")) dirs = path;
  dirs += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";  // apache2 is in sbin
  std::size_t start = 0;
  while (start < dirs.size()) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    if (end > start) {
      const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return {};
}

std::string first_version(const std::string& text) {
  static const std::regex version(R"((\d+\.\d+(\.\d+)?))");
  std::smatch m;
  return std::regex_search(text, m, version) ? m.str(1) : "";
}

PeerInfo probe_info(const Kind& k) {
  PeerInfo info;
  info.kind = k.kind;
  info.apt_package = k.apt_package;
  const fs::path binary = find_binary(k.binary);
  info.binary = binary.empty() ? k.binary : binary.string();
  const std::string install = ": apt-get install " + k.apt_package;
  if (binary.empty()) {
    info.missing_reason = k.kind + ": " + k.binary + " not found in PATH" + install;
    return info;
  }
  if (!k.required_file.empty() && !fs::exists(k.required_file)) {
    info.missing_reason = k.kind + ": " + k.required_file + " not found" + install;
    return info;
  }
  auto argv = k.version_argv;
  argv[0] = binary.string();
  info.version = first_version(capture_output(argv));
  if (k.kind == "apache-fcgid") {
    const auto fcgid = first_version(
        capture_output({"dpkg-query", "-W", "-f=${Version}", "libapache2-mod-fcgid"}));
    if (!fcgid.empty()) info.version += " mod_fcgid " + fcgid;
  }
  info.installed = true;
  return info;
}

std::string host_port(const net::Address& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

// The upstream in each config language (real-peers.md §2, TCP and unix forms).
std::string upstream_form(const std::string& kind, const net::Address& up) {
  const bool tcp = up.is_tcp();
  if (kind == "nginx") return tcp ? host_port(up) : "unix:" + up.path;
  if (kind == "lighttpd") {
    return tcp ? "\"host\" => \"" + up.host + "\", \"port\" => " + std::to_string(up.port)
               : "\"socket\" => \"" + up.path + "\"";
  }
  if (kind == "apache") {
    return tcp ? "fcgi://" + host_port(up) + "/" : "unix:" + up.path + "|fcgi://localhost/";
  }
  if (kind == "h2o") {
    const std::string indent = "          ";
    return tcp ? indent + "host: " + up.host + "\n" + indent + "port: " + std::to_string(up.port) +
                     "\n" + indent + "type: tcp"
               : indent + "port: " + up.path + "\n" + indent + "type: unix";
  }
  if (kind == "haproxy") {
    if (!tcp) return up.path;
    return up.host.find(':') != std::string::npos
               ? "ipv6@" + up.host + ":" + std::to_string(up.port)
               : host_port(up);
  }
  if (kind == "caddy") return tcp ? host_port(up) : "unix/" + up.path;
  return up.to_string();  // apache-fcgid: the relay's argument
}

// Apache's children run as nobody (it refuses root children): they must reach the run
// directory, and connect to a unix-socket upstream, which needs write permission on it.
void open_for_apache_children(const fs::path& run_dir, const net::Address& upstream) {
  auto check_reachable = [](fs::path dir, const std::string& what) {
    for (dir = fs::absolute(dir); !dir.empty(); dir = dir.parent_path()) {
      struct stat st {};
      if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
        throw PeerError("apache: its children run as nobody and cannot reach " + what +
                        " through " + dir.string() + " (mode without o+x)");
      }
      if (dir == dir.parent_path()) break;
    }
  };
  fs::permissions(run_dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
  check_reachable(run_dir, "the run directory");
  if (!upstream.is_tcp() && !upstream.path.empty()) {
    std::error_code ec;
    fs::permissions(upstream.path,
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                        fs::perms::group_write | fs::perms::others_read | fs::perms::others_write,
                    ec);
    check_reachable(fs::path(upstream.path).parent_path(), "the upstream socket");
  }
}

class GatewayPeer final : public CommandPeer {
 public:
  GatewayPeer(const Kind& kind, PeerOptions options)
      : CommandPeer(gateway_info(kind.kind), std::move(options)), kind_(kind) {
    std::vector<std::string> names;
    for (const auto& k : kind_.knobs) names.push_back(k.name);
    check_knobs(kind_.kind, options_.knobs, names);
    for (const auto& k : kind_.knobs) {
      const auto it = options_.knobs.find(k.name);
      values_[k.name] = it == options_.knobs.end() ? k.fallback : it->second;
      if (it == options_.knobs.end()) continue;
      if (auto problem = gateway_knob_problem(kind_.kind, k.name, it->second); !problem.empty())
        throw PeerError(kind_.kind + ": " + problem);
    }
  }

 private:
  Launch prepare() override {
    const fs::path& dir = options_.run_dir;
    address_ = options_.listen;
    if (!address_.is_tcp()) throw PeerError(kind_.kind + ": gateways listen on tcp");
    if (address_.host.empty()) address_.host = "127.0.0.1";
    if (address_.port == 0) address_.port = pick_port();
    const auto& up = options_.upstream;
    const bool has_upstream = !up.is_tcp() || up.port != 0;
    if (!has_upstream && !(kind_.kind == "apache-fcgid" && !values_["app"].empty())) {
      throw PeerError(kind_.kind + ": no upstream address" +
                      (kind_.kind == "apache-fcgid" ? " and no knob 'app'" : ""));
    }
    for (const char* sub : {"tmp", "docroot", "run"}) fs::create_directories(dir / sub);
    {  // what GET /.fh-ready finds where the gateway serves it as a static file
      std::ofstream ready(dir / "docroot" / ".fh-ready");
      ready << "ready\n";
    }

    std::map<std::string, std::string> vars = {
        {"run_dir", dir.string()},
        {"http_host", address_.host},
        {"http_port", std::to_string(address_.port)},
        {"http_listen", host_port(address_)},
        {"upstream", has_upstream ? upstream_form(kind_.kind, up) : ""},
    };
    const auto on = [&](const std::string& knob) { return values_[knob] == "on"; };
    const std::string& k = kind_.kind;
    if (k == "nginx") {
      for (const auto& [name, value] : values_) vars[name] = value;
    } else if (k == "lighttpd") {
      vars["stream_response_body"] = values_["server.stream-response-body"];
      vars["stream_request_body"] = values_["server.stream-request-body"];
    } else if (k == "apache") {
      for (const auto& [name, value] : values_) vars[name] = value;
    } else if (k == "apache-fcgid") {
      vars["max_requests_per_process"] = values_["FcgidMaxRequestsPerProcess"];
      vars["app"] = values_["app"];
      std::string env_lines;
      std::istringstream words(values_["FcgidInitialEnv"]);
      for (std::string word; words >> word;) {
        const auto eq = word.find('=');
        env_lines += "FcgidInitialEnv " + word.substr(0, eq) + " \"" + word.substr(eq + 1) + "\"\n";
      }
      vars["initial_env"] = env_lines;
      if (!vars["app"].empty() && !fs::exists(dir / "docroot" / "probe")) {
        // The application is spawned by mod_fcgid itself (php-cgi, the real-world pairing):
        // it finds the PHP probe at SCRIPT_FILENAME, unless a backend installed its own.
        const fs::path probe = dir / "docroot" / "probe";
        fs::copy_file(fs::path(FH_PEERS_DIR) / "apps" / "probe.php", probe);
        fs::permissions(probe, fs::perms::owner_all | fs::perms::group_read |
                                   fs::perms::group_exec | fs::perms::others_read |
                                   fs::perms::others_exec);
      }
      if (vars["app"].empty()) {
        const fs::path relay = dir / "fcgid-relay.py";
        fs::copy_file(templates() / "gateway-fcgid-relay.py", relay,
                      fs::copy_options::overwrite_existing);
        fs::permissions(relay, fs::perms::owner_all | fs::perms::group_read |
                                   fs::perms::group_exec | fs::perms::others_read |
                                   fs::perms::others_exec);
        vars["app"] = relay.string() + " " + upstream_form(k, up);
      }
    } else if (k == "h2o") {
      vars["timeout_io"] = values_["fastcgi.timeout.io"];
      vars["timeout_keepalive"] = values_["fastcgi.timeout.keepalive"];
    } else if (k == "haproxy") {
      vars["keep_conn"] = (on("keep-conn") ? "" : "no ") + std::string("option keep-conn");
      vars["mpxs_conns"] = (on("mpxs-conns") ? "" : "no ") + std::string("option mpxs-conns");
      vars["max_reqs"] = values_["max-reqs"];
      vars["http_reuse"] = values_["http-reuse"];
    } else if (k == "caddy") {
      const auto& flush = values_["flush_interval"];
      vars["flush_interval"] = flush.empty() ? "" : "flush_interval " + flush;
    }
    if (k == "apache" || k == "apache-fcgid") open_for_apache_children(dir, up);

    Launch launch;
    const fs::path config =
        render_file(templates() / kind_.template_name, dir / kind_.config_name, vars);
    const std::string binary = info_.binary;
    if (k == "nginx") {
      // -e: the compiled-in error log path (/var/log/nginx) is opened before the config.
      launch.spec.argv = {binary,          "-p", dir.string() + "/",          "-c",
                          config.string(), "-e", (dir / "error.log").string()};
    } else if (k == "lighttpd") {
      launch.spec.argv = {binary, "-D", "-f", config.string()};
    } else if (k == "apache" || k == "apache-fcgid") {
      launch.spec.argv = {binary, "-d", dir.string(), "-f", config.string(), "-DFOREGROUND"};
    } else if (k == "h2o") {
      launch.spec.argv = {binary, "-c", config.string()};
    } else if (k == "haproxy") {
      launch.spec.argv = {binary, "-db", "-f", config.string()};  // logs to stdout (the .out)
    } else if (k == "caddy") {
      launch.spec.argv = {binary, "run", "--config", config.string(), "--adapter", "caddyfile"};
      // Caddy writes autosave.json and a local CA under its XDG dirs even with auto_https off.
      launch.spec.env = {{"HOME", (dir / "caddy-home").string()},
                         {"XDG_CONFIG_HOME", (dir / "caddy-home" / "config").string()},
                         {"XDG_DATA_HOME", (dir / "caddy-home" / "data").string()}};
    }
    launch.spec.cwd = dir;
    launch.spec.log_file = dir / (k + ".out");
    launch.stop_signal = kind_.stop_signal;
    // caddy's grace_period is 2 s; a graceful stop that outlasts this is killed.
    launch.grace = 5000ms;
    launch.artefacts = {config, dir / "error.log", dir / "access.log"};
    return launch;
  }

  bool wait_ready(std::chrono::milliseconds deadline, const std::function<bool()>& alive) override {
    return wait_http_answer(address_, "/.fh-ready", deadline, options_.pump, alive).has_value();
  }

  static fs::path templates() { return fs::path(FH_PEERS_DIR) / "templates"; }

  const Kind& kind_;
  std::map<std::string, std::string> values_;
};

}  // namespace

const std::vector<std::string>& gateway_kinds() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& k : kinds()) out.push_back(k.kind);
    return out;
  }();
  return names;
}

PeerInfo gateway_info(std::string_view kind) {
  static std::mutex mutex;
  static std::map<std::string, PeerInfo, std::less<>> cache;
  const Kind& k = find_kind(kind);
  std::lock_guard lock(mutex);
  auto it = cache.find(kind);
  if (it == cache.end()) it = cache.emplace(k.kind, probe_info(k)).first;
  return it->second;
}

std::vector<PeerInfo> gateway_catalogue() {
  std::vector<PeerInfo> out;
  for (const auto& k : kinds()) out.push_back(gateway_info(k.kind));
  return out;
}

const std::map<std::string, std::string>& gateway_knobs(std::string_view kind) {
  static std::mutex mutex;
  static std::map<std::string, std::map<std::string, std::string>, std::less<>> cache;
  const Kind& k = find_kind(kind);
  std::lock_guard lock(mutex);
  auto& knobs = cache[k.kind];
  for (const auto& knob : k.knobs) knobs[knob.name] = knob.fallback;
  return knobs;
}

std::string gateway_knob_problem(std::string_view kind, const std::string& name,
                                 const std::string& value) {
  for (const auto& k : find_kind(kind).knobs)
    if (k.name == name && !std::regex_match(value, std::regex(k.pattern)))
      return "knob '" + k.name + "' of " + std::string(kind) + " is " + k.what + ", not '" + value +
             "'";
  return "";
}

std::unique_ptr<Peer> make_gateway(std::string_view kind, PeerOptions options) {
  return std::make_unique<GatewayPeer>(find_kind(kind), std::move(options));
}

}  // namespace fh::peers
