#include "graph.h"

#include <charconv>

namespace circuit {

std::string to_string(const PortRef& p) {
  return p.port == 0 ? p.node : p.node + ":" + std::to_string(p.port);
}

Result<PortRef> parse_port(std::string_view s) {
  auto colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    if (s.empty()) return Error{"empty port reference"};
    return PortRef{std::string(s), 0};
  }
  int port = -1;
  auto tail = s.substr(colon + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), port);
  if (colon == 0 || ec != std::errc() || p != tail.data() + tail.size() || port < 0)
    return Error{"bad port reference `" + std::string(s) + "` (expected `node` or `node:index`)"};
  return PortRef{std::string(s.substr(0, colon)), port};
}

int Graph::find(std::string_view name) const {
  if (!index_valid_) {
    index_.clear();
    index_.reserve(nodes.size());
    for (size_t i = 0; i < nodes.size(); ++i) index_.emplace(nodes[i].name, int(i));
    index_valid_ = true;
  }
  auto it = index_.find(std::string(name));
  if (it == index_.end() || size_t(it->second) >= nodes.size() || nodes[size_t(it->second)].name != name) {
    // Stale after a direct edit of `nodes`; rebuild once and retry.
    index_valid_ = false;
    index_.clear();
    for (size_t i = 0; i < nodes.size(); ++i) index_.emplace(nodes[i].name, int(i));
    index_valid_ = true;
    it = index_.find(std::string(name));
    return it == index_.end() ? -1 : it->second;
  }
  return it->second;
}

Node* Graph::node(std::string_view name) {
  int i = find(name);
  return i < 0 ? nullptr : &nodes[size_t(i)];
}
const Node* Graph::node(std::string_view name) const {
  int i = find(name);
  return i < 0 ? nullptr : &nodes[size_t(i)];
}

std::string Graph::unique_name(std::string_view base) const {
  std::string b(base.empty() ? "node" : base);
  if (find(b) < 0) return b;
  for (int i = 2;; ++i) {
    std::string n = b + std::to_string(i);
    if (find(n) < 0) return n;
  }
}

std::vector<int> Graph::input_nodes() const {
  std::vector<int> r;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].is_input()) r.push_back(int(i));
  return r;
}

NodeLocation locate(Graph& g, std::string_view path) {
  Graph* cur = &g;
  while (true) {
    auto slash = path.find('/');
    int i = cur->find(path.substr(0, slash));
    if (i < 0) return {};
    if (slash == std::string_view::npos) return {cur, i};
    Node& n = cur->nodes[size_t(i)];
    if (!n.body) return {};
    cur = n.body.get();
    path = path.substr(slash + 1);
  }
}

Graph* graph_at(Graph& g, std::string_view path) {
  if (path.empty()) return &g;
  NodeLocation l = locate(g, path);
  Node* n = l.node();
  return n && n->body ? n->body.get() : nullptr;
}

// Lookups never change the graph; the index they may rebuild is a cache.
const Graph* graph_at(const Graph& g, std::string_view path) { return graph_at(const_cast<Graph&>(g), path); }
const Node* node_at(const Graph& g, std::string_view path) { return locate(const_cast<Graph&>(g), path).node(); }

PathParts split_path(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"", std::string(path)};
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

std::string join_path(std::string_view parent, std::string_view name) {
  return parent.empty() ? std::string(name) : std::string(parent) + "/" + std::string(name);
}

bool path_within(std::string_view path, std::string_view ancestor) {
  return path.starts_with(ancestor) && (path.size() == ancestor.size() || path[ancestor.size()] == '/');
}

}  // namespace circuit
