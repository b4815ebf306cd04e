#include "language/load_context.hpp"

namespace fh::language {
namespace {
thread_local LoadContext* g_current = nullptr;
}  // namespace

SourceMark LoadContext::mark(int line0, int column0) const {
  const int line = line0 + 1;
  const int text = line / kOverrideLineBase;
  if (text >= 1 && static_cast<std::size_t>(text) <= overrides.size())
    return SourceMark{overrides[text - 1], line - text * kOverrideLineBase, column0 + 1};
  return SourceMark{file, line, column0 + 1};
}

LoadContext* LoadContext::current() {
  return g_current;
}

LoadScope::LoadScope(LoadContext& context) : previous_(g_current) {
  g_current = &context;
}

LoadScope::~LoadScope() {
  g_current = previous_;
}

}  // namespace fh::language
