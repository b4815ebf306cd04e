// Reading scenario YAML with errors that point at file:line:column. Shared by the loader's
// frame, the fakes' fault families, the client's actions and the trigger grammar.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <optional>

#include "events/bus.hpp"
#include "language/load_context.hpp"
#include "language/source_mark.hpp"

namespace fh::language {

/// "16MiB", "1 KiB", "100" -> bytes; nullopt when it is not a size.
std::optional<std::uint64_t> parse_size(const std::string& text);

}  // namespace fh::language

namespace fh::language::yaml {

/// Where `node` is: in `file`, or in the --set/--matrix text it was merged from.
inline SourceMark mark_of(const YAML::Node& node, const std::string& file) {
  const auto m = node.Mark();
  if (m.is_null()) return SourceMark{file, 0, 0};
  if (const auto* context = LoadContext::current(); context && context->file == file)
    return context->mark(m.line, m.column);
  return SourceMark{file, m.line + 1, m.column + 1};
}

/// The closest of `candidates` to `text` within an edit distance of `limit`, or "".
std::string closest(const std::string& text, const std::vector<std::string>& candidates,
                    std::size_t limit = 3);

inline std::string kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    default:
      return "an undefined value";
  }
}

inline std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

/// Reads one YAML mapping: every key read is remembered, and finish() rejects the rest with
/// a "did you mean" hint, so a misspelt key can never be silently ignored.
class MapReader {
 public:
  MapReader(YAML::Node node, std::string file, std::string context)
      : node_(std::move(node)), file_(std::move(file)), context_(std::move(context)) {
    if (!node_.IsMap())
      throw ScenarioError(mark_of(node_, file_),
                          context_ + " must be a mapping, got " + kind_name(node_));
    // YAML parsers keep one of two equal keys without a word: a mistake that must be seen.
    std::map<std::string, SourceMark> seen;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      const auto [first, fresh] = seen.emplace(it->first.Scalar(), entry_mark(it));
      if (!fresh)
        throw ScenarioError(entry_mark(it), context_ + ": key '" + it->first.Scalar() +
                                                "' is given twice (first at " +
                                                first->second.to_string() + ")");
    }
  }

  const std::string& file() const { return file_; }
  SourceMark mark() const { return mark_of(node_, file_); }

  /// The value for `key`, or an undefined node. Marks the key as known.
  YAML::Node get(const std::string& key) {
    known_.insert(key);
    for (auto it = node_.begin(); it != node_.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    return YAML::Node(YAML::NodeType::Undefined);
  }
  bool has(const std::string& key) {
    auto v = get(key);
    return v.IsDefined() && !v.IsNull();
  }
  /// The node of `key` without marking it known (for messages about a key another reader owns).
  YAML::Node peek(const std::string& key) const {
    for (auto it = node_.begin(); it != node_.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return it->second;
    return YAML::Node(YAML::NodeType::Undefined);
  }
  /// A spelling the language no longer has: present, it is an error showing the new one.
  void retired(const std::string& key, const std::string& instead) {
    auto v = peek(key);
    if (v.IsDefined())
      throw ScenarioError(key_mark(key), context_ + ": '" + key +
                                             "' is no longer part of the "
                                             "scenario language: " +
                                             instead);
  }
  /// Where `key` itself is written (the mapping when it is absent).
  SourceMark key_mark(const std::string& key) const {
    for (auto it = node_.begin(); it != node_.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return entry_mark(it);
    return mark();
  }
  const std::string& context() const { return context_; }
  const YAML::Node& node() const { return node_; }

  YAML::Node require(const std::string& key) {
    auto v = get(key);
    if (!v.IsDefined() || v.IsNull()) {
      std::string message = context_ + ": missing required key '" + key + "'";
      // A misspelling of it is the likeliest reason ("requets:").
      std::vector<std::string> present;
      for (auto it = node_.begin(); it != node_.end(); ++it)
        if (it->first.IsScalar() && !known_.count(it->first.Scalar()))
          present.push_back(it->first.Scalar());
      if (const auto near = closest(key, present); !near.empty())
        message += " (is '" + near + "' at " + key_mark(near).to_string() + " a misspelling?)";
      throw ScenarioError(mark(), message);
    }
    return v;
  }

  void finish() const {
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "?";
      if (known_.count(key)) continue;
      const std::string hint = closest(key, {known_.begin(), known_.end()});
      std::string message = context_ + ": unknown key '" + key + "'";
      if (!hint.empty()) message += " (did you mean '" + hint + "'?)";
      std::vector<std::string> keys(known_.begin(), known_.end());
      message += "; known keys: ";
      for (std::size_t i = 0; i < keys.size(); ++i) message += (i ? ", " : "") + keys[i];
      throw ScenarioError(entry_mark(it), message);
    }
  }

 private:
  // A key merged in from a variant's set or a --set text is a new node without a position;
  // its value keeps the position it was written at.
  SourceMark entry_mark(const YAML::const_iterator& it) const {
    auto at = mark_of(it->first, file_);
    if (at.line == 0) at = mark_of(it->second, file_);
    return at.line == 0 ? mark() : at;
  }

  YAML::Node node_;
  std::string file_;
  std::string context_;
  std::set<std::string> known_;
};

[[noreturn]] inline void bad_value(const YAML::Node& node, const std::string& file,
                                   const std::string& what, const std::string& expected) {
  throw ScenarioError(mark_of(node, file),
                      what + ": expected " + expected + ", got " + kind_name(node));
}

inline std::string as_string(const YAML::Node& node, const std::string& file,
                             const std::string& what) {
  if (!node.IsScalar()) bad_value(node, file, what, "a string");
  return node.Scalar();
}

inline std::uint64_t as_uint(const YAML::Node& node, const std::string& file,
                             const std::string& what, std::uint64_t max = UINT64_MAX) {
  if (!node.IsScalar()) bad_value(node, file, what, "a non-negative integer");
  const auto& s = node.Scalar();
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    bad_value(node, file, what, "a non-negative integer");
  if (v > max)
    throw ScenarioError(mark_of(node, file),
                        what + ": " + s + " is above the maximum " + std::to_string(max));
  return v;
}

inline std::uint32_t as_ms(const YAML::Node& node, const std::string& file,
                           const std::string& what) {
  return static_cast<std::uint32_t>(as_uint(node, file, what, 24ull * 3600 * 1000));
}

inline bool as_bool(const YAML::Node& node, const std::string& file, const std::string& what) {
  if (node.IsScalar()) {
    const auto& s = node.Scalar();
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  bad_value(node, file, what, "true or false");
}

inline std::uint64_t as_size(const YAML::Node& node, const std::string& file,
                             const std::string& what) {
  if (node.IsScalar())
    if (auto v = parse_size(node.Scalar())) return *v;
  bad_value(node, file, what, "a size in bytes (e.g. 1024, 64KiB, 16MiB)");
}

inline std::string one_of(const YAML::Node& node, const std::string& file, const std::string& what,
                          const std::vector<std::string>& allowed) {
  const auto s = node.IsScalar() ? node.Scalar() : std::string();
  if (node.IsScalar() && std::find(allowed.begin(), allowed.end(), s) != allowed.end()) return s;
  std::string list;
  for (std::size_t i = 0; i < allowed.size(); ++i) list += (i ? ", " : "") + allowed[i];
  bad_value(node, file, what, "one of " + list);
}

inline std::vector<std::string> string_or_list(const YAML::Node& node, const std::string& file,
                                               const std::string& what) {
  std::vector<std::string> out;
  if (node.IsScalar()) {
    out.push_back(node.Scalar());
  } else if (node.IsSequence()) {
    for (const auto& item : node) out.push_back(as_string(item, file, what));
  } else {
    bad_value(node, file, what, "a string or a list of strings");
  }
  return out;
}

}  // namespace fh::language::yaml
