#pragma once
// Loads a committed fixture written by tests/fixtures/make_optim_fixtures.py.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace perceptra::test {

inline nlohmann::json load_fixture(const std::string& relative) {
  std::string path = std::string(PERCEPTRA_FIXTURES_DIR) + "/" + relative;
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("missing fixture " + path +
                             " (run /usr/bin/python3 tests/fixtures/make_optim_fixtures.py)");
  return nlohmann::json::parse(in);
}

}  // namespace perceptra::test
