#include "args.h"

#include <cstdio>
#include <cstdlib>

namespace cli {

Args& Args::text(std::string_view flag, std::string& out) {
  return value(flag, [&out](const std::string& v) -> std::optional<std::string> {
    out = v;
    return std::nullopt;
  });
}

Args& Args::set(std::string_view flag, bool& out, bool to) {
  options_.push_back({std::string(flag), false, [&out, to](const std::string&) -> std::optional<std::string> {
                        out = to;
                        return std::nullopt;
                      }});
  return *this;
}

Args& Args::value(std::string_view flag, std::function<std::optional<std::string>(const std::string&)> apply) {
  options_.push_back({std::string(flag), true, std::move(apply)});
  return *this;
}

Args& Args::positional(std::string& out) {
  positional_ = &out;
  return *this;
}

std::optional<double> Args::parse_number(const std::string& v) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || !end || *end) return std::nullopt;
  return x;
}

int Args::fail(const std::string& message) const {
  std::fprintf(stderr, "%s: %s\n%s", command_.c_str(), message.c_str(), usage_);
  return 2;
}

std::optional<int> Args::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") return std::fputs(usage_, stdout), 0;
    const Option* opt = nullptr;
    for (auto& o : options_)
      if (o.flag == a) opt = &o;
    if (opt) {
      if (opt->takes_value && i + 1 >= args.size()) return fail(a + " needs a value");
      std::string v = opt->takes_value ? args[++i] : std::string();
      if (auto err = opt->apply(v)) return fail(a + " " + *err);
    } else if (positional_ && positional_->empty() && !a.empty() && a[0] != '-') {
      *positional_ = a;
    } else {
      return fail("unexpected argument `" + a + "`");
    }
  }
  return std::nullopt;
}

void add_device_option(Args& table, std::string& device) {
  table.value("--device", [&device](const std::string& v) -> std::optional<std::string> {
    auto d = engine::resolve_device(v);
    if (!d) return d.error().message.substr(d.error().message.rfind("device ", 0) == 0 ? 7 : 0);  // "--device `cuda` is ..."
    device = v;  // as named: under --nproc, `cuda` means each rank's own GPU (rank_device)
    return std::nullopt;
  });
}

void add_dist_options(Args& table, DistOptions& dist) {
  table.value("--nproc", [&dist](const std::string& v) -> std::optional<std::string> {
         auto x = Args::parse_number(v);
         if (!x || *x < 1 || *x > 1024 || *x != double(int(*x))) return "takes a whole number of ranks from 1 to 1024, got `" + v + "`";
         dist.nproc = int(*x);
         return std::nullopt;
       })
      .value("--backend", [&dist](const std::string& v) -> std::optional<std::string> {
        if (v != "gloo" && v != "nccl") return "takes gloo or nccl, got `" + v + "`";
        dist.backend = v;
        return std::nullopt;
      })
      .value("--dist-timeout", [&dist](const std::string& v) -> std::optional<std::string> {
        auto x = Args::parse_number(v);
        if (!x || *x <= 0) return "takes a number of seconds > 0, got `" + v + "`";
        dist.timeout_s = *x;
        return std::nullopt;
      });
}

void add_precision_options(Args& table, engine::Precision& precision, bool& tf32) {
  table.value("--precision", [&precision](const std::string& v) -> std::optional<std::string> {
        auto p = engine::parse_precision(v);
        if (!p) return "takes fp32 or bf16, got `" + v + "`";
        precision = *p;
        return std::nullopt;
      })
      .set("--tf32", tf32);
}

}  // namespace cli
