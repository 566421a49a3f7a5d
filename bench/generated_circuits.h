// Circuits generated for benchmarks, and a timer: shared by bench_ir and bench_diagram.
#pragma once
#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "circuit/graph.h"

namespace bench {

using namespace circuit;

inline Node node(std::string name, std::string op, std::vector<std::string> in, Attrs a = {}) {
  Node n{std::move(name), std::move(op), {}, std::move(a), {}};
  for (auto& i : in) n.inputs.push_back(PortRef{i, 0});
  return n;
}

// A deep pre-norm transformer, flattened: 8 nodes per block.
inline Circuit transformer(int blocks) {
  Circuit c;
  c.name = "bench";
  c.symbols = {{"seq", 128}};
  c.graph.nodes.push_back(node("x", "input", {}, {{"shape", std::vector<std::string>{"batch", "seq", "d_model:256"}}}));
  std::string prev = "x";
  for (int b = 0; b < blocks; ++b) {
    std::string s = std::to_string(b);
    c.graph.nodes.push_back(node("ln1_" + s, "layer_norm", {prev}));
    c.graph.nodes.push_back(node("attn_" + s, "attention", {"ln1_" + s}, {{"heads", 8}, {"causal", true}}));
    c.graph.nodes.push_back(node("res1_" + s, "add", {prev, "attn_" + s}));
    c.graph.nodes.push_back(node("ln2_" + s, "layer_norm", {"res1_" + s}));
    c.graph.nodes.push_back(node("up_" + s, "linear", {"ln2_" + s}, {{"out", 1024}, {"out_axis", std::string("hidden")}}));
    c.graph.nodes.push_back(node("act_" + s, "gelu", {"up_" + s}));
    c.graph.nodes.push_back(node("down_" + s, "linear", {"act_" + s}, {{"out", 256}, {"out_axis", std::string("d_model")}}));
    c.graph.nodes.push_back(node("res2_" + s, "add", {"res1_" + s, "down_" + s}));
    prev = "res2_" + s;
  }
  c.graph.nodes.pop_back();  // keep exactly 8 * blocks nodes: the last residual becomes the output
  c.graph.outputs = {PortRef{"down_" + std::to_string(blocks - 1), 0}};
  return c;
}

// Median wall time in milliseconds of `reps` runs of f.
inline double median_ms(int reps, const std::function<void()>& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace bench
