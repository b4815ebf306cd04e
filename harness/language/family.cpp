#include "language/family.hpp"

namespace fh::language {

using nlohmann::json;

namespace shapes {

Shape boolean() {
  return {"true|false", json{{"type", "boolean"}}};
}

Shape ms() {
  return {"ms", json{{"type", "integer"}, {"minimum", 0}, {"maximum", 24 * 3600 * 1000}}};
}

Shape size() {
  // parse_size(): digits with an optional unit.
  return {"size", json{{"oneOf",
                        {json{{"type", "integer"}, {"minimum", 0}},
                         json{{"type", "string"},
                              {"pattern", "^\\s*[0-9]+\\s*(B|KiB|MiB|GiB|kB|MB|GB)?\\s*$"}}}}}};
}

Shape integer(std::uint64_t min, std::uint64_t max) {
  return {std::to_string(min) + "-" + std::to_string(max),
          json{{"type", "integer"}, {"minimum", min}, {"maximum", max}}};
}

Shape text() {
  return {"text", json{{"type", "string"}}};
}

Shape choice(std::vector<std::string> values) {
  std::string text;
  for (const auto& v : values) text += (text.empty() ? "" : " | ") + v;
  return {text, json{{"enum", values}}};
}

Shape event(std::string_view own_party) {
  // The loader checks the name itself against the declarations; the schema's event
  // definitions (fcgi-harness schema) list them for completion.
  if (own_party.empty()) return {"party.event", json{{"$ref", "#/$defs/event"}}};
  return {"event", json{{"$ref", "#/$defs/" + std::string(own_party) + "_event"}}};
}

Shape list_of(const Shape& item) {
  return {"[" + item.text + ", ...]", json{{"type", "array"}, {"items", item.schema}}};
}

Shape either(std::vector<Shape> shapes) {
  std::string text;
  json any = json::array();
  for (const auto& s : shapes) {
    text += (text.empty() ? "" : " | ") + s.text;
    any.push_back(s.schema);
  }
  return {text, json{{"anyOf", any}}};
}

Shape mapping(const std::vector<Key>& keys, std::vector<std::string> required) {
  json properties = json::object();
  std::string text;
  for (const auto& k : keys) {
    properties[k.name] = k.shape.schema;
    if (!k.doc.empty()) properties[k.name]["description"] = k.doc;
    text += (text.empty() ? "" : ", ") + k.name;
  }
  json schema{{"type", "object"}, {"properties", properties}, {"additionalProperties", false}};
  if (!required.empty()) schema["required"] = required;
  return {"{" + text + "}", schema};
}

Shape any() {
  return {"any", json::object()};
}

}  // namespace shapes

std::vector<Key> trigger_keys(const TriggerRules& rules) {
  std::vector<Key> at_forms;
  std::vector<Shape> at_shapes = {shapes::event(rules.party)};
  std::vector<Key> counter_keys;
  for (auto c : rules.counters)
    counter_keys.push_back({std::string(counter_name(c)), shapes::size(), ""});
  if (rules.mid_record)
    counter_keys.push_back(
        {"mid_record", shapes::boolean(), "act inside the record holding byte N"});
  if (rules.elapsed)
    counter_keys.push_back({"after_ms", shapes::ms(), "ms after the first request started"});
  if (!counter_keys.empty()) at_shapes.push_back(shapes::mapping(counter_keys));
  std::string at_doc = "when it acts: an event";
  if (!rules.party.empty()) at_doc += " of the " + std::string(rules.party) + " (a bare name) or";
  at_doc += " of any party (party.name)";
  if (!rules.counters.empty()) at_doc += ", or a counter reaching N";
  if (rules.elapsed) at_doc += ", or {after_ms: N}";
  if (!rules.default_text.empty()) at_doc += "; default: " + rules.default_text;
  std::vector<Key> keys = {
      {"at", shapes::either(at_shapes), at_doc},
      {"nth", shapes::integer(1, 1000000), "the Nth occurrence of the event (default 1)"},
      {"delay_ms", shapes::ms(), "act this long after the trigger"},
  };
  if (rules.request)
    keys.push_back({"request", shapes::integer(1, UINT32_MAX),
                    "only for the Nth request (arrival order); default every request"});
  return keys;
}

}  // namespace fh::language
