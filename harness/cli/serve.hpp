// `fcgi-harness serve backend|gateway`: the embedded fakes as standalone servers, configured
// with the same keys as a scenario's topology.backend / topology.gateway (a YAML file and/or
// --set texts), logging their events as JSON lines, so they can sit behind a user's own
// gateway or in front of a user's own backend (as people use toxiproxy), and be measured with
// an ordinary load driver. Runs until SIGINT or SIGTERM.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace fh::cli {

struct ServeOptions {
  std::string listen;            // HOST:PORT, tcp:HOST:PORT or unix:PATH
  std::string backend;           // serve gateway: where the FastCGI backend is
  std::string config;            // a YAML file of the party's keys
  std::vector<std::string> set;  // YAML mappings merged over it
  std::string events;            // "-": JSON lines on stdout; a file; empty: none
  std::string document_root;     // serve gateway: SCRIPT_FILENAME's root
};

/// Exit status: 0 stopped by a signal, 1 could not listen, 2 bad options or keys.
int serve_backend(const ServeOptions& options, std::ostream& err);
int serve_gateway(const ServeOptions& options, std::ostream& err);

}  // namespace fh::cli
