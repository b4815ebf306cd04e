#include "language/event_names.hpp"

#include <regex>

namespace fh::language {

using namespace yaml;

events::Selector read_event_name(const YAML::Node& node, const std::string& file,
                                 const std::string& what, EventNameRules rules) {
  const auto text = as_string(node, file, what);
  static const std::regex kName("[a-z0-9_]+(:[A-Za-z0-9_]+)?");
  std::string party, name = text;
  if (const auto dot = text.find('.'); dot != std::string::npos) {
    party = text.substr(0, dot);
    name = text.substr(dot + 1);
    std::vector<std::string> parties(std::begin(kParties), std::end(kParties));
    if (std::find(parties.begin(), parties.end(), party) == parties.end()) {
      const auto hint = closest(party, parties);
      throw ScenarioError(mark_of(node, file),
                          what + ": '" + text + "': no party '" + party + "'" +
                              (hint.empty() ? "" : " (did you mean '" + hint + "." + name + "'?)") +
                              "; parties: client, gateway, backend, harness, wire");
    }
  } else if (!rules.own_party.empty()) {
    party = std::string(rules.own_party);
  } else {
    bad_value(node, file, what,
              "an event as party.name, e.g. gateway.stdin_terminator_sent (parties: client, "
              "gateway, backend, harness, wire)");
  }
  if (!std::regex_match(name, kName))
    bad_value(node, file, what,
              "an event name of lower-case letters, digits and '_' (a family: name:part)");
  events::Selector selector{party, name};
  if (auto* context = LoadContext::current())
    context->events.push_back(
        EventRef{selector, mark_of(node, file), what, rules.if_observable, rules.trigger});
  return selector;
}

}  // namespace fh::language
