// Family "closing": the backend ends the connection at any point, with a FIN or an RST.
//   close     close(2): FIN, or RST when input is still unread (Linux tcp_close)
//   shutdown  shutdown(SHUT_WR): FIN only; the backend reads on, writes nothing more
//   reset     SO_LINGER {1, 0}, then close(2): RST
#include "fake-backends/fake_backend.hpp"

namespace fh::fake {

namespace {

class Close : public FaultAction {
 public:
  void act(FaultSeam& c, std::uint16_t) const override { c.close("fault:close"); }
};

class Shutdown : public FaultAction {
 public:
  void act(FaultSeam& c, std::uint16_t) const override { c.shutdown_write(); }
};

class Reset : public FaultAction {
 public:
  void act(FaultSeam& c, std::uint16_t) const override { c.reset("fault:reset"); }
};

template <class Action>
std::shared_ptr<const FaultAction> make(language::yaml::MapReader&) {
  return std::make_shared<Action>();
}

const BackendVerb kClose{{"close", "close(): FIN, or RST when input is still unread (Linux)", {}},
                         &make<Close>};
const BackendVerb kShutdown{
    {"shutdown", "shutdown(SHUT_WR): FIN only; the backend keeps reading", {}}, &make<Shutdown>};
const BackendVerb kReset{{"reset", "RST: SO_LINGER 0, then close()", {}}, &make<Reset>};

}  // namespace

const BackendFamily& closing_family() {
  static const BackendFamily family{
      "closing",
      "Closing (FIN or RST) at any point",
      "`close` is a plain close(): FIN, or RST when input is still unread (Linux). `shutdown` "
      "sends FIN only (shutdown(SHUT_WR)) and keeps reading. `reset` forces RST (SO_LINGER 0). "
      "With `at: {body_bytes: N, mid_record: true}` the record holding byte N is announced in "
      "full and cut at byte N.",
      {&kClose, &kShutdown, &kReset},
      {},
      {},
      nullptr};
  return family;
}

}  // namespace fh::fake
