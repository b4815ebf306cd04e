#include "cli/serve.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "events/bus.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"
#include "language/load_context.hpp"
#include "runner/interrupt.hpp"
#include "scenario/vocabulary.hpp"

namespace fh::cli {

namespace {

using language::ScenarioError;
using language::SourceMark;

std::optional<net::Address> address_of(std::string text) {
  if (text.rfind("tcp:", 0) == 0) text = text.substr(4);
  return net::Address::parse(text);
}

/// The keys: the config file's mapping, then each --set merged over it (key by key).
YAML::Node keys_of(const ServeOptions& o) {
  YAML::Node keys(YAML::NodeType::Map);
  if (!o.config.empty()) {
    std::ifstream in(o.config);
    if (!in) throw ScenarioError(SourceMark{o.config, 0, 0}, "cannot read the file");
    std::stringstream text;
    text << in.rdbuf();
    keys = YAML::Load(text.str());
    if (keys.IsNull()) keys = YAML::Node(YAML::NodeType::Map);
  }
  for (const auto& text : o.set) {
    const auto over = YAML::Load(text);
    if (!over.IsMap()) throw ScenarioError(SourceMark{"--set", 0, 0}, "expected a YAML mapping");
    for (auto it = over.begin(); it != over.end(); ++it) keys[it->first.Scalar()] = it->second;
  }
  return keys;
}

/// Event names in the keys must be declared, and of a party this process publishes: a
/// served fake sees only its own events (and the harness's none), so a fault on another
/// party's event would never act.
void check_event_names(const std::vector<language::EventRef>& refs, const std::string& party) {
  for (const auto& ref : refs) {
    if (!scenario::find_event(ref.selector)) {
      const auto hint = scenario::suggest_event(ref.selector);
      throw ScenarioError(ref.mark, ref.where + ": no event '" + ref.selector.to_string() +
                                        "' is declared" + (hint.empty() ? "" : " (" + hint + ")"));
    }
    if (ref.selector.party != party)
      throw ScenarioError(ref.mark, ref.where + ": " + ref.selector.to_string() +
                                        " never happens here: a served " + party +
                                        " sees only its own events");
  }
}

/// Every event as one JSON line: what the bus of a scenario run would hold.
class EventLines {
 public:
  EventLines(events::Bus& bus, const std::string& path) : bus_(bus) {
    if (path == "-") {
      out_ = &std::cout;
    } else if (!path.empty()) {
      file_ = std::make_unique<std::ofstream>(path, std::ios::app);
      if (!*file_) throw std::runtime_error("cannot write " + path);
      out_ = file_.get();
    }
    if (out_) id_ = bus_.subscribe({}, [this](const events::Event& e) { write(e); });
  }
  ~EventLines() {
    if (id_) bus_.unsubscribe(id_);
  }

 private:
  void write(const events::Event& e) {
    nlohmann::json line{{"ms", bus_.ms_since_origin(e.at)},
                        {"party", e.party},
                        {"name", e.name},
                        {"connection", e.connection},
                        {"request_id", e.request_id},
                        {"value", e.value},
                        {"detail", e.detail}};
    *out_ << line.dump() << "\n" << std::flush;
  }

  events::Bus& bus_;
  std::unique_ptr<std::ofstream> file_;
  std::ostream* out_ = nullptr;
  int id_ = 0;
};

/// Reads the party's keys from --config and --set into `config` with `read` (its families'
/// reader), as a scenario's topology.<party> would be read. False, with the error said, when
/// they do not load.
template <class Config, class Reader>
bool read_party_keys(const ServeOptions& o, const char* party, Reader read, Config& config,
                     std::ostream& err) {
  const std::string source = o.config.empty() ? "--set" : o.config;
  try {
    language::LoadContext context;
    context.file = source;
    language::LoadScope scope(context);
    const auto keys = keys_of(o);
    language::yaml::MapReader r(keys, context.file, party);
    read(r, config);
    r.finish();
    check_event_names(context.events, party);
    return true;
  } catch (const ScenarioError& e) {
    err << "error: " << e.what() << "\n";
  } catch (const YAML::Exception& e) {
    err << "error: " << source << ": YAML: " << e.msg << "\n";
  }
  return false;
}

/// Starts the fake, says where it listens (`what` follows the address), runs it until SIGINT
/// or SIGTERM (each loop slice short, so the signal is seen at once), stops it and drains.
template <class Fake>
int serve_until_interrupted(boost::asio::io_context& io, Fake& fake, const net::Address& listen,
                            const std::string& name, const std::string& what, std::ostream& err) {
  try {
    fake.start();
  } catch (const std::exception& e) {
    err << "error: cannot listen on " << listen.to_string() << ": " << e.what() << "\n";
    return 1;
  }
  err << "fcgi-harness: the fake " << name << " listens on " << fake.address().to_string() << what
      << " (Ctrl-C stops it)\n";
  while (!runner::interrupted()) io.run_for(std::chrono::milliseconds(50));
  fake.stop();
  io.restart();
  io.run_for(std::chrono::seconds(1));
  return 0;
}

}  // namespace

int serve_backend(const ServeOptions& o, std::ostream& err) {
  const auto listen = address_of(o.listen);
  if (!listen) {
    err << "error: --listen " << o.listen << ": expected HOST:PORT, tcp:HOST:PORT or unix:PATH\n";
    return 2;
  }
  fake::BackendConfig config;
  if (!read_party_keys(o, "backend", fake::read_backend_keys, config, err)) return 2;
  boost::asio::io_context io;
  events::Bus bus;
  EventLines lines(bus, o.events);
  config.listen = *listen;
  config.bus = &bus;
  fake::FakeBackend backend(io, config);
  return serve_until_interrupted(io, backend, *listen, "backend", "", err);
}

int serve_gateway(const ServeOptions& o, std::ostream& err) {
  const auto listen = address_of(o.listen);
  const auto backend = address_of(o.backend);
  if (!listen || !listen->is_tcp()) {
    err << "error: --listen " << o.listen << ": expected HOST:PORT or tcp:HOST:PORT\n";
    return 2;
  }
  if (!backend) {
    err << "error: --backend " << o.backend << ": expected HOST:PORT, tcp:HOST:PORT or unix:PATH\n";
    return 2;
  }
  fake::GatewayConfig config;
  if (!read_party_keys(o, "gateway", fake::read_gateway_keys, config, err)) return 2;
  boost::asio::io_context io;
  events::Bus bus;
  EventLines lines(bus, o.events);
  config.listen = *listen;
  config.backend = *backend;
  if (!o.document_root.empty()) config.document_root = o.document_root;
  config.bus = &bus;
  fake::FakeGateway gateway(io, config);
  return serve_until_interrupted(io, gateway, *listen, "gateway",
                                 ", forwarding to " + backend->to_string(), err);
}

}  // namespace fh::cli
