// Bug emulation "nginx_empty_200" (nginx_empty_200.cpp): 200 with an empty body after a
// backend I/O error; fixed, 502 (seed 001).
#include "tests/support/gateway_chain.hpp"

namespace fh::fake::gateway_family_test {
namespace {

// Seed 001 problem 2: a body over 4 KiB, the backend closes without reading it.
Exchange nginx_body_to_closed_backend(bool bug, Chain*& out) {
  // body_pace: several writes, as nginx's chain.
  out = new Chain(bug ? "{body_pace: {bytes: 4096, every_ms: 0}, bug: nginx_empty_200}"
                      : "{body_pace: {bytes: 4096, every_ms: 0}}",
                  "{faults: [{at: params_complete, do: reset}]}");
  return out->run(post("/probe?echo=1", 64 * 1024));
}

TEST(gateway_seed_races, NginxEmpty200WhenBuggy) {
  Chain* chain = nullptr;
  auto x = nginx_body_to_closed_backend(true, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 200) << x.summary() << chain->timeline();
  EXPECT_EQ(x.body_bytes, 0u);
}

TEST(gateway_seed_races, Nginx502WhenFixed) {
  Chain* chain = nullptr;
  auto x = nginx_body_to_closed_backend(false, chain);
  std::unique_ptr<Chain> owner(chain);
  EXPECT_EQ(x.status, 502) << x.summary() << chain->timeline();
}

}  // namespace
}  // namespace fh::fake::gateway_family_test
