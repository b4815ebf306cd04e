#include "language/yaml_reader.hpp"

#include <map>

namespace fh::language {

std::optional<std::uint64_t> parse_size(const std::string& text) {
  static const std::regex kSize(R"(\s*([0-9]+)\s*(B|KiB|MiB|GiB|kB|MB|GB)?\s*)");
  std::smatch m;
  if (!std::regex_match(text, m, kSize)) return std::nullopt;
  std::uint64_t value = 0;
  const auto digits = m[1].str();
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{}) return std::nullopt;
  static const std::map<std::string, std::uint64_t> kUnits = {{"", 1},
                                                              {"B", 1},
                                                              {"KiB", 1024},
                                                              {"MiB", 1024 * 1024},
                                                              {"GiB", 1024ull * 1024 * 1024},
                                                              {"kB", 1000},
                                                              {"MB", 1000 * 1000},
                                                              {"GB", 1000ull * 1000 * 1000}};
  const auto unit = kUnits.at(m[2].str());
  if (value > UINT64_MAX / unit) return std::nullopt;
  return value * unit;
}

}  // namespace fh::language

namespace fh::language::yaml {

std::string closest(const std::string& text, const std::vector<std::string>& candidates,
                    std::size_t limit) {
  std::string best;
  std::size_t best_distance = limit;
  for (const auto& c : candidates) {
    const auto d = edit_distance(text, c);
    if (d < best_distance) best_distance = d, best = c;
  }
  return best;
}

}  // namespace fh::language::yaml
