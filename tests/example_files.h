// The example circuits every drawing test walks through (the diagram scene tests and the Vulkan
// canvas tests): the file names under resources/examples, sorted. Needs CIRCUIT_SOURCE_DIR.
#pragma once
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

inline std::vector<std::string> example_files() {
  std::vector<std::string> v;
  for (auto& e : std::filesystem::directory_iterator(CIRCUIT_SOURCE_DIR "/resources/examples"))
    if (e.path().string().ends_with(".circuit.json")) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

/// The same files with their full paths.
inline std::vector<std::string> example_paths() {
  std::vector<std::string> v;
  for (auto& f : example_files()) v.push_back(CIRCUIT_SOURCE_DIR "/resources/examples/" + f);
  return v;
}
