#include "cli/listings.hpp"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "peers/backends.hpp"
#include "peers/gateways.hpp"
#include "scenario/vocabulary.hpp"

namespace fh::cli {

namespace {

std::string padded(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

/// `text` wrapped at `width` columns, each line after `prefix`.
std::string wrapped(const std::string& text, const std::string& prefix, std::size_t width = 96) {
  std::istringstream words(text);
  std::string word, line, out;
  while (words >> word) {
    if (!line.empty() && prefix.size() + line.size() + 1 + word.size() > width) {
      out += prefix + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += prefix + line + "\n";
  return out;
}

/// Rows of cells printed as aligned columns (each as wide as its widest cell).
void table(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
           const std::string& indent) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line = indent;
    for (std::size_t i = 0; i < row.size(); ++i)
      line += i + 1 < row.size() ? padded(row[i], widths[i] + 2) : row[i];
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

}  // namespace

void print_peers(std::ostream& out) {
  auto print = [&](const char* role, const std::vector<peers::PeerInfo>& infos, auto knobs_of) {
    out << role << ":\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : infos)
      rows.push_back({p.kind, p.installed ? "installed " + p.version : "MISSING",
                      "apt: " + p.apt_package, knobs_of(p.kind)});
    table(out, rows, "  ");
    for (const auto& p : infos)
      if (!p.installed) out << "  " << p.kind << ": " << p.missing_reason << "\n";
  };
  print("gateways (topology.gateway.kind)", peers::gateway_catalogue(),
        [](const std::string& kind) {
          std::string knobs;
          for (const auto& [name, _] : peers::gateway_knobs(kind))
            knobs += (knobs.empty() ? "knobs: " : ", ") + name;
          return knobs;
        });
  print("backends (topology.backend.kind)", peers::backend_catalogue(),
        [](const std::string& kind) {
          std::string knobs;
          for (const auto& name : peers::backend_knobs(kind))
            knobs += (knobs.empty() ? "knobs: " : ", ") + name;
          return knobs;
        });
  out << "Also: kind fake (the embedded fakes) and kind command (any program; see README).\n";
}

void print_events(std::ostream& out) {
  out << "Events a scenario can name (at, until, that, after, before, value_equals), by party.\n"
         "A bare name in a trigger is the acting party's own; elsewhere write party.name.\n";
  constexpr std::size_t kNameWidth = 44;
  const std::string under(2 + kNameWidth, ' ');
  std::string party;
  for (const auto* decl : scenario::declared_events()) {
    if (decl->party != party) {
      party = std::string(decl->party);
      out << "\n" << party << ":\n";
    }
    const std::string name = decl->qualified();
    if (name.size() < kNameWidth)
      out << "  " << padded(name, kNameWidth) << decl->meaning << "\n";
    else
      out << "  " << name << "\n" << under << decl->meaning << "\n";
    if (decl->is_family() && decl->values) {
      std::string values;
      for (const auto& v : decl->values()) values += (values.empty() ? "" : ", ") + v;
      out << wrapped(std::string(decl->variable) + ": " + values, under);
    }
    if (!decl->value.empty()) out << under << "value: " << decl->value << "\n";
    if (!decl->detail.empty()) out << wrapped("detail: " + std::string(decl->detail), under);
    if (decl->source != events::Source::client && decl->source != events::Source::harness)
      out << under << "seen with " << events::source_needs(decl->source) << "\n";
  }
}

void print_faults(std::ostream& out) {
  out << "Fault families, by party. Verbs are the values of `do:`; every verb also takes the "
         "trigger keys\n(at, nth, delay_ms, and request for backend faults).\n";
  std::string party;
  for (const auto& family : scenario::fault_families()) {
    if (family.party != party) {
      party = family.party;
      out << "\n== " << party << " ==\n";
    }
    out << "\n" << family.party << "/" << family.name << ": " << family.title << "\n";
    out << "  where: " << family.where << "\n";
    if (!family.verbs.empty()) {
      out << "  verbs:\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& v : family.verbs) {
        std::string keys;
        for (const auto& k : v.keys)
          keys += (keys.empty() ? "" : ", ") + k.name + ": " + k.shape.text;
        rows.push_back({"do: " + v.name, v.doc + (keys.empty() ? "" : " (" + keys + ")")});
      }
      table(out, rows, "    ");
    }
    if (!family.keys.empty()) {
      out << "  keys:\n";
      std::vector<std::vector<std::string>> rows;
      for (const auto& k : family.keys) rows.push_back({k.name + ":", k.shape.text, k.doc});
      table(out, rows, "    ");
    }
    if (!family.events.empty()) {
      std::string events;
      for (const auto* e : family.events) events += (events.empty() ? "" : ", ") + e->qualified();
      out << wrapped("events: " + events, "  ");
    }
    out << wrapped(family.doc, "  ");
  }
}

}  // namespace fh::cli
