// Family "probes": before the first client request is forwarded, the gateway asks the backend
// what a conformance check wants to know, each probe on a connection of its own, in order:
// GET_VALUES (§4.1), a management record of an unknown type (§4.2), a role other than
// RESPONDER (§5.5 UNKNOWN_ROLE, or served), and N interleaved requests (FCGI_MPXS_CONNS).
#include "fake-gateways/faults/probes.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "fake-gateways/faults/family.hpp"
#include "fake-gateways/gateway.hpp"
#include "fake-gateways/gateway_events.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;
using boost::system::error_code;
namespace ev = gateway_events;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

GatewayProbe read_probe(const YAML::Node& node, const std::string& file) {
  GatewayProbe probe;
  if (node.IsScalar()) {
    one_of(node, file, "probe", {"get_values"});
    return probe;
  }
  MapReader r(node, file, "probe");
  int kinds = 0;
  if (r.has("unknown_type")) {
    probe.kind = GatewayProbe::Kind::unknown_type;
    probe.value =
        static_cast<std::uint32_t>(as_uint(r.get("unknown_type"), file, "unknown_type", 255));
    if (probe.value <= 11)  // FastCGI 1.0 §8 defines types 1..11
      bad_value(r.get("unknown_type"), file, "unknown_type", "a record type above 11");
    ++kinds;
  }
  if (r.has("role")) {
    probe.kind = GatewayProbe::Kind::role;
    const auto role = r.get("role");
    if (role.IsScalar() && role.Scalar() == "authorizer") {
      probe.value = 2;
    } else if (role.IsScalar() && role.Scalar() == "filter") {
      probe.value = 3;
    } else if (role.IsScalar() && role.Scalar() == "responder") {
      probe.value = 1;
    } else {
      probe.value = static_cast<std::uint32_t>(as_uint(role, file, "role", 65535));
    }
    ++kinds;
  }
  if (r.has("multiplex")) {
    probe.kind = GatewayProbe::Kind::multiplex;
    probe.value = static_cast<std::uint32_t>(as_uint(r.get("multiplex"), file, "multiplex", 64));
    if (probe.value < 2) bad_value(r.get("multiplex"), file, "multiplex", "2 to 64 requests");
    ++kinds;
  }
  if (r.has("malformed")) {
    probe.kind = GatewayProbe::Kind::malformed;
    const auto what =
        one_of(r.get("malformed"), file, "malformed",
               {"bad_version", "truncated_header", "length_beyond_stream", "stray_request_id"});
    probe.malformed = what == "bad_version"        ? GatewayProbe::Malformed::bad_version
                      : what == "truncated_header" ? GatewayProbe::Malformed::truncated_header
                      : what == "length_beyond_stream"
                          ? GatewayProbe::Malformed::length_beyond_stream
                          : GatewayProbe::Malformed::stray_request_id;
    ++kinds;
  }
  if (kinds != 1)
    throw ScenarioError(r.mark(),
                        "probe: exactly one of get_values, {unknown_type: N}, "
                        "{role: authorizer|filter|N}, {multiplex: N}, {malformed: bad_version|"
                        "truncated_header|length_beyond_stream|stray_request_id}");
  r.finish();
  return probe;
}

void read_keys(MapReader& r, GatewayConfig& config) {
  if (!r.has("probes")) return;
  auto probes = r.get("probes");
  if (!probes.IsSequence()) bad_value(probes, r.file(), "probes", "a list of probes");
  for (const auto& p : probes) config.probes.push_back(read_probe(p, r.file()));
}

asio::awaitable<void> run_probe(std::shared_ptr<GatewayState> state, GatewayProbe probe) {
  auto backend = state->new_backend();
  const std::string name = probe.name();
  const std::string failure = co_await connect_backend_socket(state, backend->socket);
  if (state->stopped) co_return;
  if (!failure.empty()) {
    state->note(ev::probe_connect_failed, 0, name + ": " + failure);
    co_return;
  }
  const auto request = probe.request();
  const std::uint32_t expected = request.second;
  auto written =
      co_await asio::async_write(backend->socket, asio::buffer(request.first), kUseTuple);
  const error_code wec = std::get<0>(written);
  if (wec) {
    state->note(ev::backend_write_error, 0, name + ": " + errno_name(wec), 0,
                static_cast<std::uint64_t>(wec.value()));
    co_return;
  }
  if (probe.ends_with_fin()) {
    error_code ignored;
    backend->socket.shutdown(asio::socket_base::shutdown_send, ignored);
  }
  state->note(ev::probe_sent, 0, name);
  // A malformed probe is answered by any record (or closed): it asks only that the backend
  // does not hang on it. The stray-id probe's request is answered by its END_REQUEST.
  const bool any_record_answers = probe.kind == GatewayProbe::Kind::malformed &&
                                  probe.malformed != GatewayProbe::Malformed::stray_request_id;
  std::uint32_t completed = 0;  // END_REQUEST FCGI_REQUEST_COMPLETE (multiplexing)
  fcgi::RecordDecoder decoder;
  std::vector<fcgi::Record> records;
  char buf[16384];
  std::uint32_t answers = 0;
  const auto executor = co_await asio::this_coro::executor;
  while (answers < expected && !state->stopped) {
    asio::steady_timer timer(executor, std::chrono::milliseconds(state->config.backend_timeout_ms));
    using namespace asio::experimental::awaitable_operators;
    auto result = co_await (backend->socket.async_read_some(asio::buffer(buf), kUseTuple) ||
                            timer.async_wait(kUseTuple));
    if (state->stopped) break;
    if (result.index() == 1) {
      state->note(ev::probe_timeout, 0, name);
      break;
    }
    auto [ec, n] = std::get<0>(result);
    records.clear();
    auto error = decoder.feed(std::string_view(buf, n), records);
    for (const auto& record : records) {
      if (record.is(fcgi::RecordType::GetValuesResult)) {
        std::string detail;
        std::size_t pairs = 0;
        if (auto values = fcgi::decode_name_values(record.content)) {
          for (const auto& [key, value] : values.value())
            detail += (pairs++ ? " " : "") + key + "=" + value;
        }
        state->note(ev::get_values_result_received, 0, detail, 0, pairs);
        if (auto values = fcgi::decode_name_values(record.content))
          for (const auto& [key, value] : values.value())
            if (key == "FCGI_MPXS_CONNS") state->mpxs_claimed = value == "1";
        ++answers;
      } else if (record.is(fcgi::RecordType::UnknownType)) {
        auto body = fcgi::decode_unknown_type(record);
        const std::uint64_t type = body ? body.value().type : 0;
        state->note(ev::unknown_type_received, 0, name + ": type " + std::to_string(type), 0, type);
        ++answers;
      } else if (record.is(fcgi::RecordType::EndRequest)) {
        auto body = fcgi::decode_end_request(record);
        const std::uint8_t status = body ? body.value().protocol_status : 0xff;
        state->note(ev::end_request_received, 0,
                    name + ": protocol_status=" + std::string(fcgi::protocol_status_name(status)),
                    record.request_id, status);
        if (status == 0) ++completed;
        ++answers;
      } else if (any_record_answers) {
        ++answers;
      }
    }
    if (any_record_answers && error) {  // an answer that is not FastCGI still answers
      state->note(ev::backend_error, 0, name + ": FastCGI protocol error: " + error->message);
      break;
    }
    if (error) {
      state->note(ev::backend_error, 0, name + ": FastCGI protocol error: " + error->message);
      break;
    }
    if (ec) {
      if (answers < expected)
        state->note(ev::probe_connection_closed, 0, name + ": " + errno_name(ec), 0, answers);
      break;
    }
  }
  if (probe.kind == GatewayProbe::Kind::multiplex && state->mpxs_claimed.value_or(false) &&
      completed < probe.value && !state->stopped)
    state->note(ev::multiplex_claim_broken, 0,
                name + ": GET_VALUES said FCGI_MPXS_CONNS=1, yet " + std::to_string(completed) +
                    " of " + std::to_string(probe.value) + " interleaved requests completed",
                0, completed);
  error_code ignored;
  backend->socket.close(ignored);
}

}  // namespace

std::string GatewayProbe::name() const {
  if (kind == Kind::get_values) return "get_values";
  if (kind == Kind::unknown_type) return "unknown_type " + std::to_string(value);
  if (kind == Kind::role) return "role " + std::to_string(value);
  if (kind == Kind::multiplex) return "multiplex " + std::to_string(value);
  switch (malformed) {
    case Malformed::bad_version:
      return "malformed bad_version";
    case Malformed::truncated_header:
      return "malformed truncated_header";
    case Malformed::length_beyond_stream:
      return "malformed length_beyond_stream";
    case Malformed::stray_request_id:
      return "malformed stray_request_id";
  }
  return "malformed";
}

bool GatewayProbe::ends_with_fin() const {
  return kind == Kind::malformed &&
         (malformed == Malformed::truncated_header || malformed == Malformed::length_beyond_stream);
}

std::pair<fcgi::Bytes, std::uint32_t> GatewayProbe::request() const {
  fcgi::Bytes out;
  if (kind == Kind::get_values) {
    // FastCGI 1.0 §4.1: the three variables the specification defines, and one it does not
    // (kUnknownValue), which the answer must leave out.
    fcgi::append_record(fcgi::make_get_values({"FCGI_MAX_CONNS", "FCGI_MAX_REQS", "FCGI_MPXS_CONNS",
                                               std::string(kUnknownValue)}),
                        out);
    return {out, 1};
  }
  if (kind == Kind::unknown_type) {
    // §4.2: a management record (request id 0) of a type the application does not know.
    fcgi::Record record;
    record.type = static_cast<std::uint8_t>(value);
    record.request_id = 0;
    record.content = std::string(8, '\0');
    fcgi::append_record(record, out);
    return {out, 1};
  }
  const auto params = fcgi::encode_name_values(fcgi::NameValues{
      {"REQUEST_METHOD", "GET"}, {"SCRIPT_NAME", "/probe"}, {"QUERY_STRING", "size=10"}});
  if (kind == Kind::malformed) {
    switch (malformed) {
      case Malformed::bad_version: {  // §3.3: version is FCGI_VERSION_1
        fcgi::append_record(fcgi::make_begin_request(1, fcgi::Role::Responder, 0), out);
        out[0] = 2;
        out += fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Params, 1, params, true));
        fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdin, 1, ""), out);
        return {out, 1};
      }
      case Malformed::truncated_header:
        fcgi::append_record(fcgi::make_begin_request(1, fcgi::Role::Responder, 0), out);
        out.resize(5);
        return {out, 1};
      case Malformed::length_beyond_stream: {
        fcgi::append_record(fcgi::make_begin_request(1, fcgi::Role::Responder, 0), out);
        fcgi::Bytes params_record;
        fcgi::append_record(
            fcgi::make_stream_record(fcgi::RecordType::Params, 1, std::string(1000, 'p')),
            params_record);
        out += params_record.substr(0, fcgi::kHeaderLength + 10);
        return {out, 1};
      }
      case Malformed::stray_request_id:
        // §3.3: records for request ids that are not active are ignored. Then a plain request.
        fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdin, 7, "stray"), out);
        fcgi::append_record(fcgi::make_abort_request(9), out);
        break;
    }
  }
  const bool multiplex = kind == Kind::multiplex;
  const std::uint16_t count = multiplex ? static_cast<std::uint16_t>(value) : 1;
  const auto role =
      multiplex || kind == Kind::malformed ? fcgi::Role::Responder : static_cast<fcgi::Role>(value);
  // Interleaved: every BEGIN_REQUEST, then every PARAMS stream, then every STDIN (§3.3).
  for (std::uint16_t id = 1; id <= count; ++id)
    fcgi::append_record(fcgi::make_begin_request(id, role, fcgi::kKeepConn), out);
  for (std::uint16_t id = 1; id <= count; ++id)
    out += fcgi::encode_all(fcgi::make_stream(fcgi::RecordType::Params, id, params, true));
  for (std::uint16_t id = 1; id <= count; ++id)
    fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Stdin, id, ""), out);
  // §6.4: a Filter also reads the FCGI_DATA stream (here empty) after STDIN.
  if (role == fcgi::Role::Filter)
    fcgi::append_record(fcgi::make_stream_record(fcgi::RecordType::Data, 1, ""), out);
  return {out, count};
}

asio::awaitable<void> run_probes(std::shared_ptr<GatewayState> state) {
  try {
    for (const auto& probe : state->config.probes) {
      if (state->stopped) break;
      co_await run_probe(state, probe);
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != asio::error::operation_aborted) state->internal_error("probes", e.what());
  } catch (const std::exception& e) {
    state->internal_error("probes", e.what());
  }
  state->probes_done = true;
  state->wake_all();
}

const GatewayFamily& probes_family() {
  static const GatewayFamily family{
      "probes",
      "Probes",
      "`probes: [get_values, {unknown_type: 99}, {role: authorizer | filter | N}, {multiplex: "
      "N}, {malformed: bad_version | truncated_header | length_beyond_stream | "
      "stray_request_id}]`, each on its own connection, in order, before the first request is "
      "forwarded; what comes back is published (get_values_result_received with NAME=VALUE "
      "pairs, unknown_type_received, end_request_received naming the probe; probe_timeout when "
      "nothing came, probe_connection_closed). A malformed probe is answered by any record or "
      "a close (truncated_header and length_beyond_stream end with the gateway's FIN); "
      "stray_request_id sends STDIN and ABORT_REQUEST for ids never begun, then a plain "
      "request. After GET_VALUES said FCGI_MPXS_CONNS=1, a multiplex probe with fewer "
      "completed requests than it sent publishes multiplex_claim_broken.",
      {{"probes",
        shapes::list_of(shapes::either(
            {shapes::choice({"get_values"}),
             shapes::mapping({{"unknown_type", shapes::integer(12, 255), ""}}, {"unknown_type"}),
             shapes::mapping(
                 {{"role",
                   shapes::either({shapes::choice({"responder", "authorizer", "filter"}),
                                   shapes::integer(0, 65535)}),
                   ""}},
                 {"role"}),
             shapes::mapping({{"multiplex", shapes::integer(2, 64), ""}}, {"multiplex"}),
             shapes::mapping({{"malformed",
                               shapes::choice({"bad_version", "truncated_header",
                                               "length_beyond_stream", "stray_request_id"}),
                               ""}},
                             {"malformed"})})),
        "what to ask the backend first"}},
      {&ev::probe_sent, &ev::probe_timeout, &ev::probe_connect_failed, &ev::probe_connection_closed,
       &ev::get_values_result_received, &ev::unknown_type_received, &ev::multiplex_claim_broken},
      &read_keys};
  return family;
}

}  // namespace fh::fake
