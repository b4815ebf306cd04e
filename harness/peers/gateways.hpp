// Real HTTP -> FastCGI gateways of Debian 12 (issue 4): nginx, lighttpd, Apache httpd with
// mod_proxy_fcgi ("apache") or mod_fcgid ("apache-fcgid"), h2o, haproxy, caddy. Each renders
// its config from harness/peers/templates/gateway-* into the run directory (loopback, ports
// picked at run time, every pid/temp/log path inside run_dir), runs in the foreground in its
// own process group, is ready once it answers HTTP (GET /.fh-ready, which the gateway answers
// itself so readiness never counts as a backend request), and stops with its graceful signal
// (real-peers.md §2, §4) before the group is killed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "peers/peer.hpp"

namespace fh::peers {

/// The gateway kinds, in catalogue order.
const std::vector<std::string>& gateway_kinds();

/// Binary, version (from its -v/-V/version output) and apt package of every gateway kind.
/// Probed once per process.
std::vector<PeerInfo> gateway_catalogue();
/// One kind's entry; PeerError for an unknown kind (naming the valid ones).
PeerInfo gateway_info(std::string_view kind);

/// The knobs a kind accepts, with the value used when a knob is not given (the program's own
/// default, except where noted in the template). "" means "not written into the config".
const std::map<std::string, std::string>& gateway_knobs(std::string_view kind);

/// What is wrong with `value` for the known knob `name` of `kind` ("a knob 'x' is on or off,
/// not 'maybe'"), or "" when it is fine: the loader checks values before anything starts.
std::string gateway_knob_problem(std::string_view kind, const std::string& name,
                                 const std::string& value);

/// A gateway adapter. PeerOptions: listen = where it serves HTTP (tcp; port 0 = picked at
/// start), upstream = the FastCGI backend (tcp or unix socket). For "apache-fcgid", which
/// spawns its application itself, knobs["app"] is the command line mod_fcgid runs; without it
/// a relay to `upstream` is spawned (templates/gateway-fcgid-relay.py), so the same backend
/// sits behind every gateway. Unknown knobs and bad values are PeerErrors naming the valid
/// ones. A missing binary fails at start() with the apt package to install.
std::unique_ptr<Peer> make_gateway(std::string_view kind, PeerOptions options);

}  // namespace fh::peers
