#include "attr.h"

#include <cmath>
#include <sstream>

namespace circuit {

const char* attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::Int: return "integer";
    case AttrType::Float: return "number";
    case AttrType::Bool: return "boolean";
    case AttrType::String: return "string";
    case AttrType::Enum: return "choice";
    case AttrType::Ints: return "list of integers";
    case AttrType::Strings: return "list of strings";
    case AttrType::Axes: return "list of axes";
  }
  return "?";
}

static Status check_range(const AttrSpec& s, double x) {
  if (x < s.min)
    return Status::fail("attribute `" + s.name + "` = " + to_string(AttrValue(x)) + " is out of range: it must be at least " + to_string(AttrValue(s.min)));
  if (x > s.max)
    return Status::fail("attribute `" + s.name + "` = " + to_string(AttrValue(x)) + " is out of range: it must be at most " + to_string(AttrValue(s.max)));
  return {};
}

const char* attr_type_phrase(AttrType t) {
  switch (t) {
    case AttrType::Int: return "an integer";
    case AttrType::Float: return "a number";
    case AttrType::Bool: return "a boolean";
    case AttrType::String: return "a string";
    case AttrType::Enum: return "one of its choices";
    case AttrType::Ints: return "a list of integers";
    case AttrType::Strings: return "a list of strings";
    case AttrType::Axes: return "a list of axes";
  }
  return "?";
}

Result<AttrValue> check_attr(const AttrSpec& s, const AttrValue& v) {
  auto wrong = [&]() {
    return Error{"attribute `" + s.name + "` expects " + attr_type_phrase(s.type) + ", got " + to_string(v)};
  };
  switch (s.type) {
    case AttrType::Int: {
      auto* i = std::get_if<int64_t>(&v);
      if (!i) return wrong();
      if (auto st = check_range(s, double(*i)); !st) return Error{st.error};
      return v;
    }
    case AttrType::Float: {
      double x;
      if (auto* i = std::get_if<int64_t>(&v)) x = double(*i);
      else if (auto* d = std::get_if<double>(&v)) x = *d;
      else return wrong();
      if (!std::isfinite(x)) return Error{"attribute `" + s.name + "` must be finite"};
      if (auto st = check_range(s, x); !st) return Error{st.error};
      return AttrValue(x);
    }
    case AttrType::Bool:
      if (!std::holds_alternative<bool>(v)) return wrong();
      return v;
    case AttrType::String:
      if (!std::holds_alternative<std::string>(v)) return wrong();
      return v;
    case AttrType::Enum: {
      auto* str = std::get_if<std::string>(&v);
      if (!str) return wrong();
      for (auto& c : s.choices)
        if (c == *str) return v;
      std::string all;
      for (auto& c : s.choices) all += (all.empty() ? "" : ", ") + c;
      return Error{"attribute `" + s.name + "` = \"" + *str + "\" is not one of: " + all};
    }
    case AttrType::Ints: {
      auto* l = std::get_if<std::vector<int64_t>>(&v);
      // An empty list parses as a list of strings; it is an empty list of ints as well.
      if (auto* e = std::get_if<std::vector<std::string>>(&v); e && e->empty()) return AttrValue(std::vector<int64_t>{});
      if (!l) return wrong();
      for (auto x : *l)
        if (auto st = check_range(s, double(x)); !st) return Error{st.error};
      return v;
    }
    case AttrType::Strings:
    case AttrType::Axes: {
      if (auto* e = std::get_if<std::vector<int64_t>>(&v); e && e->empty()) return AttrValue(std::vector<std::string>{});
      if (!std::holds_alternative<std::vector<std::string>>(v)) return wrong();
      return v;
    }
  }
  return wrong();
}

std::string to_string(const AttrValue& v) {
  struct V {
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::ostringstream o;
      o.precision(10);
      o << d;
      return o.str();
    }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string& s) const { return "\"" + s + "\""; }
    std::string operator()(const std::vector<int64_t>& l) const {
      std::string s = "[";
      for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + std::to_string(l[i]);
      return s + "]";
    }
    std::string operator()(const std::vector<std::string>& l) const {
      std::string s = "[";
      for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + l[i];
      return s + "]";
    }
  };
  return std::visit(V{}, v);
}

}  // namespace circuit
