// Request keys of the scripted client's behaviour. See README "Scenario files".
#include "scenario/sections.hpp"

namespace fh::scenario {

using namespace yaml;

void read_client_behaviour(MapReader& r, client::RequestSpec& spec) {
  const auto& file = r.file();
  if (r.has("body_encoding"))
    spec.chunked = one_of(r.get("body_encoding"), file, "body_encoding",
                          {"content-length", "chunked"}) == "chunked";
  if (r.has("body_chunk")) {
    spec.chunk_size = as_size(r.get("body_chunk"), file, "body_chunk");
    if (spec.chunk_size == 0) bad_value(r.get("body_chunk"), file, "body_chunk", "at least 1 byte");
  }
}

}  // namespace fh::scenario
