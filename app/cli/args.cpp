#include "args.h"

#include <cstdio>
#include <cstdlib>

#include "engine/options.h"

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

Args& Args::flag(std::string_view flag, std::function<void()> apply) {
  options_.push_back({std::string(flag), false, [apply = std::move(apply)](const std::string&) -> std::optional<std::string> {
                        apply();
                        return std::nullopt;
                      }});
  return *this;
}

Args& Args::value(std::string_view flag, std::function<std::optional<std::string>(const std::string&)> apply) {
  options_.push_back({std::string(flag), true, std::move(apply)});
  return *this;
}

Args& Args::positional(std::string& out) {
  positionals_.push_back(&out);
  return *this;
}

std::optional<double> Args::parse_number(const std::string& v) {
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || !end || *end) return std::nullopt;
  return x;
}

int Args::fail(const std::string& message) const {
  std::fprintf(stderr, "%s: %s\n%s", command_.c_str(), message.c_str(), usage_.c_str());
  return 2;
}

std::optional<int> Args::parse(const std::vector<std::string>& args) {
  size_t taken = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") return std::fputs(usage_.c_str(), stdout), 0;
    const Option* opt = nullptr;
    for (auto& o : options_)
      if (o.flag == a) opt = &o;
    if (opt) {
      if (opt->takes_value && i + 1 >= args.size()) return fail(a + " needs a value");
      std::string v = opt->takes_value ? args[++i] : std::string();
      if (auto err = opt->apply(v)) return fail(a + " " + *err);
    } else if (!a.empty() && a[0] != '-' && taken < positionals_.size()) {
      *positionals_[taken++] = a;
    } else {
      return fail("unexpected argument `" + a + "`");
    }
  }
  return std::nullopt;
}

void add_device_option(Args& table, std::string& device) {
  table.value("--device", [&device](const std::string& v) -> std::optional<std::string> {
    // Parsed here, resolved where the rank is placed (join_from_environment): under --nproc,
    // `cuda` means each rank's own GPU.
    auto d = engine::parse_device_request(v);
    if (!d) return d.error().message;
    device = v;
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
        auto b = engine::parse_backend(v);
        if (!b || v.empty()) return "takes gloo or nccl, got `" + v + "`";
        dist.backend = *b;
        return std::nullopt;
      })
      .value("--dist-timeout", [&dist](const std::string& v) -> std::optional<std::string> {
        auto x = Args::parse_number(v);
        if (!x || *x <= 0) return "takes a number of seconds > 0, got `" + v + "`";
        dist.timeout_s = *x;
        return std::nullopt;
      });
}

void add_train_options(Args& table, engine::TrainOptions& o, std::vector<std::string>* given) {
  for (const engine::TrainOption& opt : engine::train_options()) {
    auto note = [given, name = std::string(opt.name)] {
      if (given) given->push_back(name);
    };
    if (opt.kind == engine::TrainOption::Kind::boolean) {
      table.flag(engine::cli_flag(opt), [&o, &opt, note] {
        engine::set_option(o, opt, true);
        note();
      });
    } else {
      table.value(engine::cli_flag(opt), [&o, &opt, note](const std::string& v) -> std::optional<std::string> {
        auto err = engine::set_option_text(o, opt, v);
        if (!err) note();
        return err;
      });
    }
  }
}

}  // namespace cli
