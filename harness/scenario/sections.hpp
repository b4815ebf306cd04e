// Each party's own part of the scenario language. The loader owns the frame (title, topology,
// requests, expectations); each fake owns the keys that configure it, in its own file:
//   backend_section.cpp  topology.backend keys of a fake backend (faults, mpxs_conns, ...)
//   gateway_section.cpp  topology.gateway keys of a fake gateway (timeouts, keep_conn, ...)
//   client_section.cpp   request keys of the scripted client's behaviour
// Each reads what it knows from the MapReader, so unknown keys are still caught by finish().
#pragma once

#include "client/http_client.hpp"
#include "fake-backends/fake_backend.hpp"
#include "fake-gateways/fake_gateway.hpp"
#include "scenario/yaml_reader.hpp"

namespace fh::scenario {

void read_fake_backend(yaml::MapReader& backend, fake::BackendConfig& config);
void read_fake_gateway(yaml::MapReader& gateway, fake::GatewayConfig& config);
void read_client_behaviour(yaml::MapReader& request, client::RequestSpec& spec);

}  // namespace fh::scenario
