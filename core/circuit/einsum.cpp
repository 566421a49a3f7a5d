#include "einsum.h"

#include <algorithm>
#include <set>

#include "base_names.h"

namespace circuit {

namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> w;
  std::string cur;
  for (char ch : s + " ") {
    if (ch == ' ' || ch == '\t') {
      if (!cur.empty()) w.push_back(cur), cur.clear();
    } else {
      cur += ch;
    }
  }
  return w;
}

bool valid_name(const std::string& n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Names must be identifiers and appear once per term (no diagonals: every axis is its own).
Result<std::vector<std::string>> term(const std::string& text, const std::string& where) {
  auto w = words(text);
  std::set<std::string> seen;
  for (auto& n : w) {
    if (!valid_name(n)) return Error{where + ": `" + n + "` is not an axis name (letters, digits, _)"};
    if (!seen.insert(n).second) return Error{where + ": axis `" + n + "` appears twice"};
  }
  return w;
}

}  // namespace

bool Einsum::contracted(const std::string& name) const { return std::find(output.begin(), output.end(), name) == output.end(); }

std::string Einsum::letters() const {
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::vector<std::string> order;
  auto letter = [&](const std::string& n) {
    auto it = std::find(order.begin(), order.end(), n);
    if (it == order.end()) order.push_back(n), it = order.end() - 1;
    return alphabet[it - order.begin()];
  };
  std::string s;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (k) s += ",";
    for (auto& n : inputs[k]) s += letter(n);
  }
  s += "->";
  for (auto& n : output) s += letter(n);
  return s;
}

Result<Einsum> parse_einsum(const std::string& equation) {
  size_t arrow = equation.find("->");
  if (arrow == std::string::npos) return Error{"the equation has no `->` (write `inputs -> output`, e.g. `b i d, b j d -> b i j`)"};
  Einsum e;
  std::string lhs = equation.substr(0, arrow), rhs = equation.substr(arrow + 2);
  if (rhs.find("->") != std::string::npos) return Error{"the equation has more than one `->`"};
  size_t start = 0;
  for (int k = 1;; ++k) {
    size_t comma = lhs.find(',', start);
    auto t = term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), "input term " + std::to_string(k));
    if (!t) return t.error();
    if (t->empty()) return Error{"input term " + std::to_string(k) + " names no axis"};
    e.inputs.push_back(*t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  auto out = term(rhs, "the output");
  if (!out) return out.error();
  e.output = *out;
  std::set<std::string> all;
  for (auto& t : e.inputs) all.insert(t.begin(), t.end());
  for (auto& n : e.output)
    if (!all.count(n)) return Error{"the output: axis `" + n + "` is in no input term"};
  if (all.size() > 52) return Error{"the equation names " + std::to_string(all.size()) + " axes; at most 52 are supported"};
  return e;
}

}  // namespace circuit
