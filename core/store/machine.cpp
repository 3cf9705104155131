#include "core/store/machine.h"

#include <sqlite3.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#ifndef PERCEPTRA_VERSION
#define PERCEPTRA_VERSION "unknown"
#endif

namespace perceptra {
namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        auto v = line.substr(colon + 1);
        auto b = v.find_first_not_of(" \t");
        return b == std::string::npos ? "" : v.substr(b);
      }
    }
  }
  return "unknown";
}

std::string compiler() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

nlohmann::json machine_metadata(const std::string& gpu) {
  nlohmann::json j;
  j["cpu_model"] = cpu_model();
  j["cores"] = std::thread::hardware_concurrency();
  j["gpu"] = gpu.empty() ? "none" : gpu;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) j["hostname"] = host;
  struct utsname u;
  if (uname(&u) == 0) j["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  j["versions"] = {{"perceptra", PERCEPTRA_VERSION}, {"compiler", compiler()}, {"sqlite", sqlite3_libversion()}};
  return j;
}

}  // namespace perceptra
