#include "layout.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace circuit::diagram {

namespace {

// A node or a dummy (one layer of a long edge) as the ordering and placement see it.
struct Item {
  int layer = 0;
  double h = 0;
  bool side = false;
  std::string key;
  // How hard placement holds the item at its wanted y: dummies give way to nodes (a skip bundle
  // bends around, the main line stays straight), and nodes kept from a hint do not move at all.
  double weight = 1;
};

// A wire bundle between items of adjacent layers; `oa`/`ob` are the offsets of the first wire
// from each item's top, so a straight bundle means y[b] + ob == y[a] + oa.
struct Segment {
  int a = 0, b = 0;
  double oa = 0, ob = 0;
};

double first(const std::vector<std::vector<double>>& ports, int p) {
  return p < int(ports.size()) && !ports[size_t(p)].empty() ? ports[size_t(p)][0] : 0.0;
}

double span(const std::vector<std::vector<double>>& ports, int p) {
  return p < int(ports.size()) && !ports[size_t(p)].empty() ? ports[size_t(p)].back() - ports[size_t(p)][0] : 0.0;
}

// Places one layer's items in `order` as close to `want` as the order and the gaps allow,
// minimising squared distance: with z_i = y_i - (heights and gaps above i) the constraint is
// z non-decreasing, i.e. an isotonic regression (pool adjacent violators, O(n)).
void place_layer(const std::vector<int>& order, const std::vector<Item>& items, const std::vector<double>& want,
                 double gap, std::vector<double>& y) {
  struct Pool {
    double sum, weight;
    int n;
  };
  std::vector<Pool> pools;
  std::vector<double> offset(order.size());
  double c = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    offset[i] = c;
    c += items[size_t(order[i])].h + gap;
    double w = items[size_t(order[i])].weight;
    pools.push_back({w * (want[size_t(order[i])] - offset[i]), w, 1});
    while (pools.size() >= 2) {
      auto& p = pools[pools.size() - 2];
      auto& q = pools.back();
      if (p.sum / p.weight <= q.sum / q.weight) break;
      p.sum += q.sum, p.weight += q.weight, p.n += q.n;
      pools.pop_back();
    }
  }
  size_t i = 0;
  for (auto& p : pools)
    for (int k = 0; k < p.n; ++k, ++i) y[size_t(order[i])] = p.sum / p.weight + offset[i];
}

int crossings_between(const std::vector<Segment>& segs, const std::vector<int>& pos) {
  // Segments of one layer pair, sorted by source position; crossings are target inversions.
  std::vector<std::pair<int, int>> s;
  for (auto& g : segs) s.push_back({pos[size_t(g.a)], pos[size_t(g.b)]});
  std::sort(s.begin(), s.end());
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i)
    for (size_t j = i + 1; j < s.size(); ++j)
      if (s[j].first != s[i].first && s[j].second < s[i].second) ++n;
  return n;
}

}  // namespace

Layout layered_layout(const std::vector<LNode>& nodes, const std::vector<LEdge>& edges, const LayoutMemory* hint,
                      const LayoutParams& params) {
  const int n = int(nodes.size());
  Layout out;
  out.layer.assign(size_t(n), 0);

  // Layers: longest path from the sources (Kahn order; edges are acyclic by contract).
  std::vector<std::vector<int>> succ(static_cast<size_t>(n));
  std::vector<int> indeg(size_t(n), 0);
  for (auto& e : edges) succ[size_t(e.src)].push_back(e.dst), ++indeg[size_t(e.dst)];
  std::vector<int> queue;
  for (int v = 0; v < n; ++v)
    if (!indeg[size_t(v)]) queue.push_back(v);
  for (size_t q = 0; q < queue.size(); ++q)
    for (int w : succ[size_t(queue[q])]) {
      out.layer[size_t(w)] = std::max(out.layer[size_t(w)], out.layer[size_t(queue[q])] + 1);
      if (!--indeg[size_t(w)]) queue.push_back(w);
    }
  int last = 0;
  for (int v = 0; v < n; ++v) last = std::max(last, out.layer[size_t(v)]);
  for (int v = 0; v < n; ++v)
    if (nodes[size_t(v)].last_layer) out.layer[size_t(v)] = last;

  // Items: the nodes, then one dummy per layer crossed by a long edge.
  std::vector<Item> items;
  for (int v = 0; v < n; ++v) items.push_back({out.layer[size_t(v)], nodes[size_t(v)].h, nodes[size_t(v)].side, nodes[size_t(v)].key});
  std::vector<Segment> segs;
  std::vector<std::vector<int>> dummies(edges.size());
  for (size_t k = 0; k < edges.size(); ++k) {
    const LEdge& e = edges[k];
    int la = out.layer[size_t(e.src)], lb = out.layer[size_t(e.dst)];
    int prev = e.src;
    double oprev = first(nodes[size_t(e.src)].out_y, e.src_port);
    double h = span(nodes[size_t(e.src)].out_y, e.src_port);
    for (int l = la + 1; l < lb; ++l) {
      int d = int(items.size());
      items.push_back({l, h, nodes[size_t(e.dst)].side, e.key + "#" + std::to_string(l - la), 0.25});
      dummies[k].push_back(d);
      segs.push_back({prev, d, oprev, 0});
      prev = d, oprev = 0;
    }
    segs.push_back({prev, e.dst, oprev, first(nodes[size_t(e.dst)].in_y, e.dst_port)});
  }
  const size_t m = items.size();
  std::vector<std::vector<int>> ups(m), downs(m);  // segment indices
  for (size_t s = 0; s < segs.size(); ++s) downs[size_t(segs[s].a)].push_back(int(s)), ups[size_t(segs[s].b)].push_back(int(s));

  std::vector<std::vector<int>> layers(size_t(last) + 1);
  for (size_t i = 0; i < m; ++i) layers[size_t(items[i].layer)].push_back(int(i));

  std::vector<double> y(m, 0), want(m, 0);
  std::vector<int> pos(m, 0);
  auto reindex = [&](const std::vector<int>& layer) {
    for (size_t i = 0; i < layer.size(); ++i) pos[size_t(layer[i])] = int(i);
  };
  auto sort_by = [&](std::vector<int>& layer, const std::vector<double>& key) {
    std::stable_sort(layer.begin(), layer.end(), [&](int a, int b) {
      if (items[size_t(a)].side != items[size_t(b)].side) return !items[size_t(a)].side;
      return key[size_t(a)] < key[size_t(b)];
    });
    reindex(layer);
  };

  if (hint) {
    // Keep the previous picture: known items stay at their old y (only an overlap between two of
    // them, after a layer change, moves them); each new item takes the free slot nearest to the
    // wires that feed it. Nothing known is reordered, so a small edit stays a small change.
    for (auto& layer : layers) {
      std::vector<int> known, fresh;
      for (int i : layer) {
        auto it = hint->y.find(items[size_t(i)].key);
        if (it != hint->y.end()) {
          want[size_t(i)] = it->second, known.push_back(i);
          continue;
        }
        double sum = 0;
        int cnt = 0;
        for (int s : ups[size_t(i)]) sum += y[size_t(segs[size_t(s)].a)] + segs[size_t(s)].oa - segs[size_t(s)].ob, ++cnt;
        want[size_t(i)] = cnt ? sum / cnt : 1e9;
        fresh.push_back(i);
      }
      sort_by(known, want);
      place_layer(known, items, want, params.node_gap, y);
      std::vector<std::pair<double, double>> taken;  // [top, bottom + gap) of placed items
      for (int i : known) taken.push_back({y[size_t(i)] - params.node_gap, y[size_t(i)] + items[size_t(i)].h + params.node_gap});
      for (int i : fresh) {
        double h = items[size_t(i)].h, w = want[size_t(i)];
        if (w > 1e8) w = taken.empty() ? 0 : std::max_element(taken.begin(), taken.end(), [](auto& a, auto& b) { return a.second < b.second; })->second;
        std::sort(taken.begin(), taken.end());
        // Candidates: the wanted y if free, else just above or below each placed item.
        auto fits = [&](double t) {
          for (auto& [a, b] : taken)
            if (t < b && t + h > a) return false;
          return true;
        };
        double best = 0, dist = 1e300;
        std::vector<double> cand{w};
        for (auto& [a, b] : taken) cand.push_back(a - h), cand.push_back(b);
        for (double t : cand)
          if (std::abs(t - w) < dist && fits(t)) best = t, dist = std::abs(t - w);
        y[size_t(i)] = best;
        taken.push_back({best - params.node_gap, best + h + params.node_gap});
      }
      for (int i : layer) want[size_t(i)] = y[size_t(i)];
      sort_by(layer, want);
    }
  } else {
    // Order: barycenter sweeps, keeping the order with the fewest crossings.
    for (auto& layer : layers) reindex(layer);
    std::vector<std::vector<Segment>> between(layers.size());
    for (auto& s : segs) between[size_t(items[size_t(s.a)].layer)].push_back(s);
    auto crossings = [&] {
      int c = 0;
      for (auto& b : between) c += crossings_between(b, pos);
      return c;
    };
    std::vector<double> key(m);
    auto sweep = [&](bool down) {
      for (size_t li = 1; li < layers.size(); ++li) {
        auto& layer = layers[down ? li : layers.size() - 1 - li];
        for (int i : layer) {
          double sum = 0;
          int cnt = 0;
          for (int s : down ? ups[size_t(i)] : downs[size_t(i)])
            sum += pos[size_t(down ? segs[size_t(s)].a : segs[size_t(s)].b)], ++cnt;
          key[size_t(i)] = cnt ? sum / cnt : pos[size_t(i)];
        }
        sort_by(layer, key);
      }
    };
    sweep(true);
    auto best = layers;
    int best_c = crossings();
    for (int r = 0; r < params.sweeps && best_c > 0; ++r) {
      sweep(r % 2 == 1);
      if (int c = crossings(); c < best_c) best_c = c, best = layers;
    }
    layers = best;
    for (auto& layer : layers) reindex(layer);

    // Placement: stack, then pull each item towards the wires on either side a few times.
    for (auto& layer : layers) {
      double c = 0;
      for (int i : layer) want[size_t(i)] = c, c += items[size_t(i)].h + params.node_gap;
      place_layer(layer, items, want, params.node_gap, y);
    }
    auto pull = [&](bool down) {
      for (size_t li = 1; li < layers.size(); ++li) {
        auto& layer = layers[down ? li : layers.size() - 1 - li];
        for (int i : layer) {
          double sum = 0;
          int cnt = 0;
          for (int s : down ? ups[size_t(i)] : downs[size_t(i)]) {
            const Segment& g = segs[size_t(s)];
            sum += down ? y[size_t(g.a)] + g.oa - g.ob : y[size_t(g.b)] + g.ob - g.oa;
            ++cnt;
          }
          want[size_t(i)] = cnt ? sum / cnt : y[size_t(i)];
        }
        place_layer(layer, items, want, params.node_gap, y);
      }
    };
    for (int r = 0; r < 3; ++r) pull(true), pull(false);
    pull(true);
  }

  // Top at 0; with a hint only when something went above it, so kept items keep their y.
  double top = m ? *std::min_element(y.begin(), y.end()) : 0;
  if (!hint || top < 0)
    for (auto& v : y) v -= top;

  // Columns: each as wide as its widest node, then a label zone and a curve zone.
  const size_t L = layers.size();
  out.col_w.assign(L, 0);
  out.label_w.assign(L, params.label_pad);
  std::vector<double> curve(L, params.min_curve);
  for (int v = 0; v < n; ++v) {
    size_t l = size_t(out.layer[size_t(v)]);
    out.col_w[l] = std::max(out.col_w[l], nodes[size_t(v)].w);
    out.label_w[l] = std::max(out.label_w[l], nodes[size_t(v)].label_w + params.label_pad);
  }
  for (auto& s : segs) {
    double dy = std::abs((y[size_t(s.b)] + s.ob) - (y[size_t(s.a)] + s.oa));
    size_t l = size_t(items[size_t(s.a)].layer);
    curve[l] = std::max(curve[l], std::min(params.max_curve, params.min_curve + 0.3 * dy));
  }
  out.col_x.assign(L, 0);
  for (size_t l = 1; l < L; ++l) out.col_x[l] = out.col_x[l - 1] + out.col_w[l - 1] + out.label_w[l - 1] + curve[l - 1];
  out.width = L ? out.col_x[L - 1] + out.col_w[L - 1] : 0;

  out.y.assign(size_t(n), 0);
  out.x.assign(size_t(n), 0);
  for (int v = 0; v < n; ++v) {
    size_t l = size_t(out.layer[size_t(v)]);
    out.y[size_t(v)] = y[size_t(v)];
    out.x[size_t(v)] = out.col_x[l] + (out.col_w[l] - nodes[size_t(v)].w) / 2;
  }
  for (size_t i = 0; i < m; ++i) out.height = std::max(out.height, y[i] + items[i].h);
  out.dummy_y.resize(edges.size());
  for (size_t k = 0; k < edges.size(); ++k)
    for (int d : dummies[k]) out.dummy_y[k].push_back(y[size_t(d)]);
  for (size_t i = 0; i < m; ++i) out.memory.y[items[i].key] = y[i];
  return out;
}

int count_crossings(const std::vector<LNode>& nodes, const std::vector<LEdge>& edges, const Layout& l) {
  // Order of nodes in each layer by y; edges between adjacent layers only (long edges ignored).
  std::vector<int> pos(nodes.size());
  std::vector<int> idx(nodes.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return l.y[size_t(a)] < l.y[size_t(b)]; });
  for (size_t i = 0; i < idx.size(); ++i) pos[size_t(idx[i])] = int(i);
  std::vector<std::vector<Segment>> by_layer(l.col_x.size());
  for (auto& e : edges)
    if (l.layer[size_t(e.dst)] == l.layer[size_t(e.src)] + 1) by_layer[size_t(l.layer[size_t(e.src)])].push_back({e.src, e.dst, 0, 0});
  int c = 0;
  for (auto& b : by_layer) c += crossings_between(b, pos);
  return c;
}

}  // namespace circuit::diagram
