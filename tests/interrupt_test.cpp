// Ctrl-C during a run with real programs: the harness stops them, removes its temp folder and
// exits 130; nothing it started is left (issue 4: "including one interrupted with Ctrl-C").
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace {

namespace fs = std::filesystem;

/// Pids of processes whose command line mentions `needle` (our temp folder), zombies excluded.
std::vector<pid_t> processes_mentioning(const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::stringstream text;
    text << cmdline.rdbuf();
    if (text.str().find(needle) == std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string stat_text((std::istreambuf_iterator<char>(stat)), {});
    const auto close = stat_text.rfind(')');
    if (close != std::string::npos && close + 2 < stat_text.size() && stat_text[close + 2] == 'Z')
      continue;
    out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace

TEST(Interrupt, CtrlCStopsRealProgramsAndRemovesTheTempFolder) {
  const auto tmp = fs::temp_directory_path() / ("fh-interrupt-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  const auto scenario = tmp / "slow.yaml";
  std::ofstream(scenario) << "title: slow\ndescription: d\ndeadline_ms: 30000\n"
                             "topology: {gateway: {kind: nginx}, backend: {kind: php-fpm}}\n"
                             "requests: [{probe: {size: 100000, chunk: 1000, delay_ms: 100}}]\n"
                             "expect: [{grade: PASS, status: 200}]\n";
  const auto runs = tmp / "runs";
  fs::create_directories(runs);
  const std::string tmpdir = "TMPDIR=" + runs.string();
  std::vector<std::string> env_text = {
      tmpdir, "NO_COLOR=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  std::vector<char*> envp;
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string cli = FH_CLI, run = "run", file = scenario.string();
  char* argv[] = {cli.data(), run.data(), file.data(), nullptr};
  pid_t harness = 0;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  ASSERT_EQ(posix_spawn(&harness, FH_CLI, &actions, nullptr, argv, envp.data()), 0);
  posix_spawn_file_actions_destroy(&actions);

  // Both programs are up (their command lines name the run's folder under `runs`).
  ASSERT_TRUE(wait_for([&] { return processes_mentioning(runs.string()).size() >= 2; },
                       std::chrono::seconds(20)))
      << "nginx and php-fpm did not start (are they installed? ci/install-peers.sh)";
  ASSERT_FALSE(fs::is_empty(runs));
  ::kill(harness, SIGINT);
  int status = 0;
  ASSERT_TRUE(wait_for([&] { return ::waitpid(harness, &status, WNOHANG) == harness; },
                       std::chrono::seconds(15)));
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  EXPECT_TRUE(wait_for([&] { return processes_mentioning(runs.string()).empty(); },
                       std::chrono::seconds(2)))
      << processes_mentioning(runs.string()).size() << " process(es) left";
  EXPECT_TRUE(fs::is_empty(runs)) << "the run's temp folder was left behind";
  fs::remove_all(tmp);
}
