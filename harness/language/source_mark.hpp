// Where a piece of a scenario came from (file:line:column), and the one error type of the
// scenario language. Every reader of scenario YAML, wherever its keys live (the loader's
// frame, a fake's fault family, the client's actions), throws ScenarioError at the node that
// is wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace fh::language {

/// Where a YAML node was, for messages that point back at the file (1-based).
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
  std::string to_string() const {  // "file:line:column", or "file" without a position
    if (line == 0) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
  }
};

class ScenarioError : public std::runtime_error {
 public:
  ScenarioError(SourceMark mark, const std::string& message)
      : std::runtime_error(mark.to_string() + ": " + message),
        mark_(std::move(mark)),
        message_(message) {}
  const SourceMark& mark() const { return mark_; }
  /// The message without the position.
  const std::string& message() const { return message_; }

 private:
  SourceMark mark_;
  std::string message_;
};

}  // namespace fh::language
