// Name-value pairs (§3.4) in PARAMS and GET_VALUES: lengths of 1 or 4 bytes, a 4-byte length's
// high bit set. Promise checked: what decodes re-encodes to bytes that decode to the same pairs.
#include <cstdint>
#include <string_view>

#include "codec/fcgi.hpp"
#include "fuzz_check.hpp"

using namespace fh::fcgi;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto pairs = decode_name_values(bytes);
  if (!pairs) return 0;
  const auto again = decode_name_values(encode_name_values(pairs.value()));
  FH_FUZZ_CHECK(again.ok(), "our own encoding decodes");
  FH_FUZZ_CHECK(again.value() == pairs.value(), "the round trip keeps every pair");
  return 0;
}
