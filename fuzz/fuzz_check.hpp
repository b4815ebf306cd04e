// What a fuzz target asserts beyond "no crash, no sanitizer report": an invariant that the
// decoder's header promises. FH_FUZZ_CHECK aborts with the broken promise, so libFuzzer keeps
// the input as a crash and prints the message.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FH_FUZZ_CHECK(condition, promise)                                                 \
  do {                                                                                    \
    if (!(condition)) {                                                                   \
      std::fprintf(stderr, "broken promise at %s:%d: %s\n", __FILE__, __LINE__, promise); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)
