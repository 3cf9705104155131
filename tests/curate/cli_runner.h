#pragma once
// Runs perceptra-cli (PERCEPTRA_CLI) without a shell, capturing its output;
// `start` leaves it running (for SIGKILL tests).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace perceptra::test {

struct CliResult {
  int code = -1;
  std::string out, err;
};

// env entries "NAME=value" are added to (or replace in) the inherited environment.
inline pid_t start_cli(const std::vector<std::string>& args, const std::string& dir,
                       const std::vector<std::string>& env = {}) {
  const std::string out = dir + "/stdout.txt", err = dir + "/stderr.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  std::vector<std::string> all = {PERCEPTRA_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string s = *e, name = s.substr(0, s.find('='));
    bool replaced = false;
    for (auto& x : env) replaced |= x.substr(0, x.find('=')) == name;
    if (!replaced) env_strings.push_back(s);
  }
  for (auto& x : env) env_strings.push_back(x);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, PERCEPTRA_CLI, &fa, nullptr, argv.data(), envp.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

inline std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline CliResult wait_cli(pid_t pid, const std::string& dir) {
  CliResult r;
  if (pid < 0) return r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(dir + "/stdout.txt");
  r.err = slurp(dir + "/stderr.txt");
  return r;
}

inline CliResult cli(const std::vector<std::string>& args, const std::string& dir,
                     const std::vector<std::string>& env = {}) {
  return wait_cli(start_cli(args, dir, env), dir);
}

}  // namespace perceptra::test
