// The client's part of the scenario language (the fakes' parts are their fault families:
// fake-backends/faults/, fake-gateways/faults/). The loader owns the frame (title, topology,
// requests, expectations) and hands each party its mapping.
#pragma once

#include <vector>

#include "client/http_client.hpp"
#include "language/family.hpp"
#include "language/yaml_reader.hpp"

namespace fh::scenario {

/// Request keys of the scripted client's behaviour: body_encoding, body_chunk, `client:`.
void read_client_behaviour(language::yaml::MapReader& request, client::RequestSpec& spec);
/// The client's actions described as fault families (list --faults, the schema).
std::vector<language::FamilyDoc> client_families();

}  // namespace fh::scenario
