#include "options.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "base/enum_names.h"

namespace engine {

namespace {

constexpr const char* kOptimizers[] = {"adamw", "sgd"};  // Optimizer order
constexpr const char* kPrecisions[] = {"fp32", "bf16"};  // Precision order

// Accessors from a member pointer, so a row names its field once.
template <auto M>
OptionValue get_number(const TrainOptions& o) {
  return double(o.*M);
}
template <auto M>
void put_number(TrainOptions& o, const OptionValue& v) {
  using T = std::remove_cvref_t<decltype(o.*M)>;
  o.*M = T(std::get<double>(v));
}
template <auto M>
OptionValue get_bool(const TrainOptions& o) {
  return bool(o.*M);
}
template <auto M>
void put_bool(TrainOptions& o, const OptionValue& v) {
  o.*M = std::get<bool>(v);
}
template <auto M, const auto& Names>
OptionValue get_choice(const TrainOptions& o) {
  return std::string(base::enum_name(Names, o.*M));
}
template <auto M, const auto& Names>
void put_choice(TrainOptions& o, const OptionValue& v) {
  using E = std::remove_cvref_t<decltype(o.*M)>;
  o.*M = *base::parse_enum<E>(Names, std::get<std::string>(v));
}

using K = TrainOption::Kind;
constexpr double kBig = 1e9;

// The defaults are TrainOptions' own (default_text reads them), so they are written once, there.
const TrainOption kOptions[] = {
    {"epochs", "Epochs", K::integer, "passes over the training data", 1, 1e6, {}, get_number<&TrainOptions::epochs>, put_number<&TrainOptions::epochs>},
    {"batch", "Batch", K::integer, "examples per optimizer step (per rank when data parallel)", 1, kBig, {},
     get_number<&TrainOptions::batch>, put_number<&TrainOptions::batch>},
    {"optimizer", "Optimizer", K::choice, "adamw | sgd", 0, 0, kOptimizers, get_choice<&TrainOptions::optimizer, kOptimizers>,
     put_choice<&TrainOptions::optimizer, kOptimizers>},
    {"lr", "Learning rate", K::number, "peak learning rate", 1e-12, 100, {}, get_number<&TrainOptions::lr>, put_number<&TrainOptions::lr>},
    {"weight_decay", "Weight decay", K::number, "decoupled (adamw) or L2 (sgd) weight decay", 0, 10, {}, get_number<&TrainOptions::weight_decay>,
     put_number<&TrainOptions::weight_decay>},
    {"momentum", "Momentum", K::number, "sgd momentum", 0, 0.999999, {}, get_number<&TrainOptions::momentum>, put_number<&TrainOptions::momentum>},
    {"warmup", "Warm-up", K::number, "fraction of all steps with linear warm-up (then cosine decay to 0)", 0, 1, {}, get_number<&TrainOptions::warmup>,
     put_number<&TrainOptions::warmup>},
    {"clip", "Gradient clipping", K::number, "max gradient norm (0: no clipping)", 0, kBig, {}, get_number<&TrainOptions::clip>, put_number<&TrainOptions::clip>},
    {"eval_batch", "Evaluation batch", K::integer, "examples per evaluation forward", 1, kBig, {}, get_number<&TrainOptions::eval_batch>,
     put_number<&TrainOptions::eval_batch>},
    {"precision", "Precision", K::choice, "fp32 | bf16: bf16 runs the forward under autocast, fp32 weights", 0, 0, kPrecisions,
     get_choice<&TrainOptions::precision, kPrecisions>, put_choice<&TrainOptions::precision, kPrecisions>},
    {"tf32", "TF32", K::boolean, "CUDA: TF32 matrix products and convolutions (faster, ~1e-3 relative error)", 0, 0, {},
     get_bool<&TrainOptions::tf32>, put_bool<&TrainOptions::tf32>},
};

// Whole numbers as such (1000, not 1e+03); others in the shortest form that reads back exactly
// (0.001, not 0.0010000000000000000208). 17 significant digits always read back.
std::string number_text(double x) {
  char s[32];
  if (x == std::floor(x) && std::fabs(x) < 1e15) {
    std::snprintf(s, sizeof s, "%.0f", x);
    return s;
  }
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(s, sizeof s, "%.*g", digits, x);
    if (std::strtod(s, nullptr) == x) break;
  }
  return s;
}

}  // namespace

const char* to_string(Optimizer o) { return base::enum_name(kOptimizers, o); }
std::optional<Optimizer> parse_optimizer(std::string_view s) { return base::parse_enum<Optimizer>(kOptimizers, s); }
const char* to_string(Precision p) { return base::enum_name(kPrecisions, p); }
std::optional<Precision> parse_precision(std::string_view s) { return base::parse_enum<Precision>(kPrecisions, s); }

std::span<const TrainOption> train_options() { return kOptions; }

const TrainOption* find_train_option(std::string_view name) {
  for (const TrainOption& o : kOptions)
    if (o.name == name) return &o;
  return nullptr;
}

std::string cli_flag(const TrainOption& o) {
  std::string f = "--" + std::string(o.name);
  for (char& c : f)
    if (c == '_') c = '-';
  return f;
}

std::string option_text(const TrainOptions& t, const TrainOption& o) {
  OptionValue v = o.get(t);
  if (auto* b = std::get_if<bool>(&v)) return *b ? "on" : "off";
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return number_text(std::get<double>(v));
}

std::string default_text(const TrainOption& o) { return option_text(TrainOptions{}, o); }

std::string train_options_usage() {
  std::string u;
  for (const TrainOption& o : kOptions) {
    std::string head = "  " + cli_flag(o);
    if (o.kind == K::integer) head += " N";
    else if (o.kind == K::number) head += " X";
    else if (o.kind == K::choice) head += " WORD";
    if (head.size() < 21) head.resize(21, ' ');
    else head += ' ';
    u += head + std::string(o.help) + (o.kind == K::boolean ? "" : " (" + default_text(o) + ")") + "\n";
  }
  return u;
}

std::optional<std::string> set_option(TrainOptions& t, const TrainOption& o, const OptionValue& v) {
  switch (o.kind) {
    case K::integer:
    case K::number: {
      const double* x = std::get_if<double>(&v);
      if (!x) return std::string("expects a number");
      if (!std::isfinite(*x) || *x < o.min || *x > o.max)
        return "must be from " + number_text(o.min) + " to " + number_text(o.max) + ", got " + number_text(*x);
      if (o.kind == K::integer && *x != std::floor(*x)) return "expects a whole number, got " + number_text(*x);
      break;
    }
    case K::boolean:
      if (!std::holds_alternative<bool>(v)) return std::string("expects true or false");
      break;
    case K::choice: {
      const std::string* s = std::get_if<std::string>(&v);
      std::string words;
      bool found = false;
      for (const char* c : o.choices) {
        words += std::string(words.empty() ? "" : " or ") + c;
        found = found || (s && *s == c);
      }
      if (!found) return "must be " + words + (s ? ", got `" + *s + "`" : std::string());
      break;
    }
  }
  o.put(t, v);
  return std::nullopt;
}

std::optional<std::string> set_option_text(TrainOptions& t, const TrainOption& o, std::string_view text) {
  std::string s(text);
  if (o.kind == K::boolean) {
    if (s == "on" || s == "true" || s == "1") return set_option(t, o, true);
    if (s == "off" || s == "false" || s == "0") return set_option(t, o, false);
    return "expects on or off, got `" + s + "`";
  }
  if (o.kind == K::choice) return set_option(t, o, s);
  char* end = nullptr;
  double x = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end) return "expects a number, got `" + s + "`";
  return set_option(t, o, x);
}

}  // namespace engine
