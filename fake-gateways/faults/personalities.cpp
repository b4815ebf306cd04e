// Family "personalities": the write patterns and parameter conventions of real gateways, so a
// backend meets each one's way of sending the same request.
#include "fake-gateways/faults/personalities.hpp"

#include <algorithm>

#include "fake-gateways/fake_gateway.hpp"
#include "fake-gateways/faults/family.hpp"

namespace fh::fake {

namespace {

using namespace language;
using namespace language::yaml;

constexpr Personality kAll[] = {Personality::plain,    Personality::nginx,   Personality::apache,
                                Personality::lighttpd, Personality::haproxy, Personality::caddy};

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (auto p : kAll) out.emplace_back(personality_name(p));
  return out;
}

void read_keys(MapReader& r, GatewayConfig& config) {
  if (!r.has("personality")) return;
  const auto name = one_of(r.get("personality"), r.file(), "personality", names());
  config.personality = *parse_personality(name);
  apply_personality_defaults(config);  // explicit keys read after this still win
}

}  // namespace

std::string_view personality_name(Personality personality) {
  if (personality == Personality::nginx) return "nginx";
  if (personality == Personality::apache) return "apache";
  if (personality == Personality::lighttpd) return "lighttpd";
  if (personality == Personality::haproxy) return "haproxy";
  if (personality == Personality::caddy) return "caddy";
  return "plain";
}

std::optional<Personality> parse_personality(std::string_view name) {
  for (auto p : kAll)
    if (personality_name(p) == name) return p;
  return std::nullopt;
}

void apply_personality_defaults(GatewayConfig& config) {
  // haproxy 2.6: "option keep-conn" is on by default (reference/real-peers.md §2).
  config.keep_conn = config.personality == Personality::haproxy;
}

Traits traits_of(Personality personality) {
  Traits t;
  if (personality == Personality::nginx) {
    // ngx_http_fastcgi_create_request: one buffer chain, 32 KiB records, padded to 8.
    t.buffer_request_body = true;
    t.align8 = true;
    t.whole_request_limit = 4096;
    t.terminator_with_last_data = true;
    t.stdin_record_size = 32768;
    t.server_software = "nginx/1.22.1";
  } else if (personality == Personality::apache) {
    // mod_proxy_fcgi: begin, environment, body pieces of iobuffersize, then the empty
    // STDIN in a separate write (seed 001).
    t.begin_separate = true;
    t.stdin_record_size = 8192;
    t.read_after_request_sent = true;
    t.server_software = "Apache/2.4.71 (Debian)";
  } else if (personality == Personality::lighttpd) {
    // stream-request-body 0: the whole request queued, then written as the socket allows.
    t.buffer_request_body = true;
    t.whole_request_limit = SIZE_MAX;
    t.terminator_with_last_data = true;
    t.stdin_record_size = 16384;
    t.server_software = "lighttpd/1.4.69";
  } else if (personality == Personality::haproxy) {
    // mux_fcgi: ids 1, 3, 5... on a kept connection; the empty STDIN with the end of message.
    t.terminator_with_last_data = true;
    t.request_id_step = 2;
    t.reuse_only_after_first_request = true;  // "http-reuse safe" (configuration.txt)
    t.server_software = "HAProxy";
  } else if (personality == Personality::caddy) {
    // Go FastCGI client: each record its own Write, padded to 8.
    t.align8 = true;
    t.begin_separate = true;
    t.record_per_write = true;
    t.server_software = "Caddy";
  }
  return t;
}

void apply_personality_params(Personality personality, const Traits& traits,
                              fcgi::NameValues& params) {
  auto find = [&](std::string_view name) {
    return std::find_if(params.begin(), params.end(),
                        [&](const auto& p) { return p.first == name; });
  };
  if (auto it = find("SERVER_SOFTWARE"); it != params.end()) it->second = traits.server_software;
  if (personality == Personality::plain) return;
  params.emplace_back("REQUEST_SCHEME", "http");
  if (personality == Personality::nginx) {
    // fastcgi_params sends CONTENT_TYPE and CONTENT_LENGTH always, empty when absent.
    if (find("CONTENT_TYPE") == params.end()) params.emplace_back("CONTENT_TYPE", "");
    if (find("CONTENT_LENGTH") == params.end()) params.emplace_back("CONTENT_LENGTH", "");
    if (auto it = find("SCRIPT_NAME"); it != params.end())
      params.emplace_back("DOCUMENT_URI", it->second);
  } else if (personality == Personality::lighttpd) {
    params.emplace_back("REDIRECT_STATUS", "200");  // for php-cgi's cgi.force_redirect
  } else if (personality == Personality::apache) {
    params.emplace_back("SERVER_SIGNATURE", "");
  }
}

const GatewayFamily& personalities_family() {
  static const GatewayFamily family{
      "personalities",
      "Personalities",
      "`personality: plain | nginx | apache | lighttpd | haproxy | caddy` (default plain): how "
      "the request is written to the backend. plain: BEGIN+PARAMS, each body piece, the empty "
      "STDIN alone, 64 KiB records. nginx: the body buffered, the whole request in ONE write "
      "when it is at most 4 KiB, else the head, then the body with the empty STDIN in the last "
      "write; 32 KiB records padded to 8; CONTENT_TYPE and CONTENT_LENGTH always (empty), "
      "DOCUMENT_URI, REQUEST_SCHEME. apache: BEGIN; PARAMS; body pieces; the empty STDIN in a "
      "separate write (seed 001); reads the response after the (at most 64 KiB) request is "
      "out; 8 KiB records; SERVER_SIGNATURE. lighttpd: the body buffered, the whole request in "
      "one write; 16 KiB records; REDIRECT_STATUS=200. haproxy: BEGIN+PARAMS, the streamed "
      "body, the empty STDIN with the last piece; keep_conn on by default; request ids 1, 3, "
      "5... on a kept connection, reused only from a client connection's second request on "
      "(http-reuse safe). caddy: every record its own write, padded to 8.",
      {{"personality", shapes::choice(names()), "whose write patterns and params it copies"}},
      {},
      &read_keys};
  return family;
}

}  // namespace fh::fake
