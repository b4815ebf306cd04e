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

/// Runs the loop until SIGINT or SIGTERM (each slice short, so the signal is seen at once).
void run_until_interrupted(boost::asio::io_context& io) {
  while (!runner::interrupted()) io.run_for(std::chrono::milliseconds(50));
}

}  // namespace

int serve_backend(const ServeOptions& o, std::ostream& err) {
  const auto listen = address_of(o.listen);
  if (!listen) {
    err << "error: --listen " << o.listen << ": expected HOST:PORT, tcp:HOST:PORT or unix:PATH\n";
    return 2;
  }
  fake::BackendConfig config;
  try {
    language::LoadContext context;
    context.file = o.config.empty() ? "--set" : o.config;
    language::LoadScope scope(context);
    const auto keys = keys_of(o);
    language::yaml::MapReader r(keys, context.file, "backend");
    fake::read_backend_keys(r, config);
    r.finish();
    check_event_names(context.events, "backend");
  } catch (const ScenarioError& e) {
    err << "error: " << e.what() << "\n";
    return 2;
  } catch (const YAML::Exception& e) {
    err << "error: " << (o.config.empty() ? "--set" : o.config) << ": YAML: " << e.msg << "\n";
    return 2;
  }
  boost::asio::io_context io;
  events::Bus bus;
  EventLines lines(bus, o.events);
  config.listen = *listen;
  config.bus = &bus;
  fake::FakeBackend backend(io, config);
  try {
    backend.start();
  } catch (const std::exception& e) {
    err << "error: cannot listen on " << listen->to_string() << ": " << e.what() << "\n";
    return 1;
  }
  err << "fcgi-harness: the fake backend listens on " << backend.address().to_string()
      << " (Ctrl-C stops it)\n";
  run_until_interrupted(io);
  backend.stop();
  io.restart();
  io.run_for(std::chrono::seconds(1));
  return 0;
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
  try {
    language::LoadContext context;
    context.file = o.config.empty() ? "--set" : o.config;
    language::LoadScope scope(context);
    const auto keys = keys_of(o);
    language::yaml::MapReader r(keys, context.file, "gateway");
    fake::read_gateway_keys(r, config);
    r.finish();
    check_event_names(context.events, "gateway");
  } catch (const ScenarioError& e) {
    err << "error: " << e.what() << "\n";
    return 2;
  } catch (const YAML::Exception& e) {
    err << "error: " << (o.config.empty() ? "--set" : o.config) << ": YAML: " << e.msg << "\n";
    return 2;
  }
  boost::asio::io_context io;
  events::Bus bus;
  EventLines lines(bus, o.events);
  config.listen = *listen;
  config.backend = *backend;
  if (!o.document_root.empty()) config.document_root = o.document_root;
  config.bus = &bus;
  fake::FakeGateway gateway(io, config);
  try {
    gateway.start();
  } catch (const std::exception& e) {
    err << "error: cannot listen on " << listen->to_string() << ": " << e.what() << "\n";
    return 1;
  }
  err << "fcgi-harness: the fake gateway listens on " << gateway.address().to_string()
      << ", forwarding to " << backend->to_string() << " (Ctrl-C stops it)\n";
  run_until_interrupted(io);
  gateway.stop();
  io.restart();
  io.run_for(std::chrono::seconds(1));
  return 0;
}

}  // namespace fh::cli
