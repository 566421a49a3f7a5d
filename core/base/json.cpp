#include "base/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace base {

const Json* Json::get(std::string_view key) const {
  for (auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

Json& Json::set(std::string key, Json v) {
  members.emplace_back(std::move(key), std::move(v));
  return members.back().second;
}

const char* Json::kind_name() const {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "a boolean";
    case Kind::Int: return "an integer";
    case Kind::Float: return "a number";
    case Kind::String: return "a string";
    case Kind::Array: return "an array";
    case Kind::Object: return "an object";
  }
  return "?";
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  Result<Json> document() {
    Json v;
    if (!value(v, 0)) return Error{err_};
    ws();
    if (p_ < t_.size()) return fail("expected end of input after the top-level value"), Error{err_};
    return v;
  }

 private:
  std::string_view t_;
  size_t p_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  std::string err_;

  int col() const { return int(p_ - line_start_) + 1; }
  bool fail(const std::string& what) {
    if (err_.empty()) err_ = "line " + std::to_string(line_) + ", column " + std::to_string(col()) + ": " + what;
    return false;
  }
  std::string found() const {
    if (p_ >= t_.size()) return "end of input";
    char c = t_[p_];
    if (c == '\n') return "end of line";
    return std::string("`") + c + "`";
  }
  void ws() {
    while (p_ < t_.size()) {
      char c = t_[p_];
      if (c == '\n') {
        ++p_;
        ++line_;
        line_start_ = p_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++p_;
      } else {
        break;
      }
    }
  }
  bool literal(std::string_view word) {
    if (t_.substr(p_, word.size()) != word) return fail("expected a value, found " + found());
    p_ += word.size();
    return true;
  }

  bool value(Json& v, int depth) {
    if (depth > 256) return fail("nesting deeper than 256 levels");
    ws();
    v.line = line_;
    v.col = col();
    if (p_ >= t_.size()) return fail("expected a value, found end of input");
    char c = t_[p_];
    switch (c) {
      case '{': return object(v, depth);
      case '[': return array(v, depth);
      case '"': v.kind = Json::Kind::String; return string(v.s);
      case 't': v = Json::boolean(true), v.line = line_, v.col = col(); return literal("true");
      case 'f': v = Json::boolean(false), v.line = line_, v.col = col(); return literal("false");
      case 'n': v.kind = Json::Kind::Null; return literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number(v);
        return fail("expected a value, found " + found());
    }
  }

  bool object(Json& v, int depth) {
    v.kind = Json::Kind::Object;
    ++p_;
    ws();
    if (p_ < t_.size() && t_[p_] == '}') return ++p_, true;
    while (true) {
      ws();
      if (p_ >= t_.size() || t_[p_] != '"') return fail("expected a key in double quotes, found " + found());
      int kl = line_, kc = col();
      std::string key;
      if (!string(key)) return false;
      if (v.get(key)) {
        line_ = kl;  // point at the repeated key
        p_ = line_start_ + size_t(kc - 1);
        return fail("duplicate key \"" + key + "\"");
      }
      ws();
      if (p_ >= t_.size() || t_[p_] != ':') return fail("expected `:` after the key, found " + found());
      ++p_;
      Json item;
      if (!value(item, depth + 1)) return false;
      v.members.emplace_back(std::move(key), std::move(item));
      ws();
      if (p_ < t_.size() && t_[p_] == ',') {
        ++p_;
        ws();
        if (p_ < t_.size() && t_[p_] == '}') return fail("expected a key after `,` (trailing commas are not JSON)");
        continue;
      }
      if (p_ < t_.size() && t_[p_] == '}') return ++p_, true;
      return fail("expected `,` or `}` in object, found " + found());
    }
  }

  bool array(Json& v, int depth) {
    v.kind = Json::Kind::Array;
    ++p_;
    ws();
    if (p_ < t_.size() && t_[p_] == ']') return ++p_, true;
    while (true) {
      Json item;
      if (!value(item, depth + 1)) return false;
      v.items.push_back(std::move(item));
      ws();
      if (p_ < t_.size() && t_[p_] == ',') {
        ++p_;
        ws();
        if (p_ < t_.size() && t_[p_] == ']') return fail("expected a value after `,` (trailing commas are not JSON)");
        continue;
      }
      if (p_ < t_.size() && t_[p_] == ']') return ++p_, true;
      return fail("expected `,` or `]` in array, found " + found());
    }
  }

  static void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
    else if (cp < 0x10000) out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
    else
      out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F)), out += char(0x80 | ((cp >> 6) & 0x3F)),
          out += char(0x80 | (cp & 0x3F));
  }

  bool hex4(uint32_t& cp) {
    if (p_ + 4 > t_.size()) return fail("expected 4 hex digits after \\u");
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = t_[p_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= uint32_t(h - 'A' + 10);
      else return --p_, fail("expected a hex digit in \\u escape");
    }
    return true;
  }

  bool string(std::string& out) {
    ++p_;  // opening quote
    while (true) {
      if (p_ >= t_.size()) return fail("unterminated string");
      char c = t_[p_];
      if (c == '"') return ++p_, true;
      if (c == '\n') return fail("unterminated string (strings cannot span lines)");
      if (uint8_t(c) < 0x20) return fail("control character in string (escape it)");
      if (c != '\\') {
        out += c;
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= t_.size()) return fail("unterminated string");
      char e = t_[p_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && t_.substr(p_, 2) == "\\u") {
            p_ += 2;
            uint32_t lo = 0;
            if (!hex4(lo)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(out, cp);
          break;
        }
        default: return --p_, fail(std::string("unknown escape `\\") + e + "` in string");
      }
    }
  }

  bool number(Json& v) {
    size_t start = p_;
    if (t_[p_] == '-') ++p_;
    auto digits = [&] {
      size_t s = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') ++p_;
      return p_ - s;
    };
    size_t lead = p_;
    if (!digits()) return fail("expected digits in number");
    if (t_[lead] == '0' && p_ - lead > 1) return p_ = lead, fail("numbers cannot have leading zeros");
    bool is_float = false;
    if (p_ < t_.size() && t_[p_] == '.') {
      ++p_, is_float = true;
      if (!digits()) return fail("expected digits after the decimal point");
    }
    if (p_ < t_.size() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      ++p_, is_float = true;
      if (p_ < t_.size() && (t_[p_] == '+' || t_[p_] == '-')) ++p_;
      if (!digits()) return fail("expected digits in the exponent");
    }
    std::string_view text = t_.substr(start, p_ - start);
    if (!is_float) {
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v.i);
      if (ec == std::errc()) return v.kind = Json::Kind::Int, true;
    }
    v.kind = Json::Kind::Float;
    v.f = std::strtod(std::string(text).c_str(), nullptr);
    if (!std::isfinite(v.f)) return p_ = start, fail("number out of range");
    return true;
  }
};

void escape(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

void write_scalar(std::string& out, const Json& j) {
  switch (j.kind) {
    case Json::Kind::Null: out += "null"; break;
    case Json::Kind::Bool: out += j.b ? "true" : "false"; break;
    case Json::Kind::Int: out += std::to_string(j.i); break;
    case Json::Kind::Float: {
      // Shortest text that reads back to the same double, and always looks like a float.
      char buf[32];
      auto [p, ec] = std::to_chars(buf, buf + sizeof buf, j.f);
      std::string s(buf, p);
      if (s.find_first_of(".eE") == std::string::npos && s.find("inf") == std::string::npos) s += ".0";
      out += s;
      break;
    }
    case Json::Kind::String: escape(out, j.s); break;
    default: break;
  }
}

void write_inline(std::string& out, const Json& j) {
  if (j.kind == Json::Kind::Array) {
    out += '[';
    for (size_t k = 0; k < j.items.size(); ++k) {
      if (k) out += ", ";
      write_inline(out, j.items[k]);
    }
    out += ']';
  } else if (j.kind == Json::Kind::Object) {
    out += '{';
    for (size_t k = 0; k < j.members.size(); ++k) {
      if (k) out += ", ";
      escape(out, j.members[k].first);
      out += ": ";
      write_inline(out, j.members[k].second);
    }
    out += '}';
  } else {
    write_scalar(out, j);
  }
}

void write(std::string& out, const Json& j, int indent, size_t used) {
  bool container = j.kind == Json::Kind::Array || j.kind == Json::Kind::Object;
  if (!container) return write_scalar(out, j);
  std::string flat;
  write_inline(flat, j);
  if (used + flat.size() <= 100 || (j.items.empty() && j.members.empty())) {
    out += flat;
    return;
  }
  std::string pad(size_t(indent + 2), ' ');
  bool arr = j.kind == Json::Kind::Array;
  out += arr ? "[\n" : "{\n";
  size_t n = arr ? j.items.size() : j.members.size();
  for (size_t k = 0; k < n; ++k) {
    out += pad;
    size_t before = out.size();
    if (arr) {
      write(out, j.items[k], indent + 2, pad.size());
    } else {
      escape(out, j.members[k].first);
      out += ": ";
      write(out, j.members[k].second, indent + 2, pad.size() + (out.size() - before));
    }
    out += k + 1 < n ? ",\n" : "\n";
  }
  out += std::string(size_t(indent), ' ');
  out += arr ? ']' : '}';
}

}  // namespace

Result<Json> parse_json(std::string_view text) { return Parser(text).document(); }

std::string write_json_line(const Json& j) {
  std::string out;
  write_inline(out, j);
  out += '\n';
  return out;
}

std::string write_json(const Json& j) {
  std::string out;
  write(out, j, 0, 0);
  out += '\n';
  return out;
}

}  // namespace base
