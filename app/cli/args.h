// A command's options as a table: each flag names its target and how its value is read. One loop
// parses them all; a missing or malformed value is an error that names the flag and shows the
// usage (exit code 2), so no command repeats that logic.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/train.h"

namespace cli {

/// The usage line of add_device_option, for the commands that train.
#define CIRCUIT_DEVICE_USAGE "  --device D         cpu | cuda | cuda:N | auto (auto: CUDA when there is a GPU)\n"

/// The usage lines of add_dist_options.
#define CIRCUIT_DIST_USAGE                                                                           \
  "  --nproc N          data parallel: N ranks on this machine (or run under torchrun: RANK, ...)\n" \
  "  --backend B        gloo | nccl (default: nccl on CUDA, gloo on the CPU)\n"                       \
  "  --dist-timeout S   a rank lost for S seconds ends the run on every rank (300)\n"

/// Data-parallel options of the commands that train (engine/distributed.h).
struct DistOptions {
  int nproc = 1;
  engine::Backend backend = engine::Backend::automatic;
  double timeout_s = 0;  // 0: DistConfig's default
};

/// The option table of one command.
class Args {
 public:
  /// `command` prefixes messages ("circuit train"); `usage` is printed with them and for --help.
  Args(std::string command, std::string usage) : command_(std::move(command)), usage_(std::move(usage)) {}

  /// --flag VALUE into a string.
  Args& text(std::string_view flag, std::string& out);
  /// --flag NUMBER (checked: the whole value must be a number) into an int, int64_t, uint64_t or double.
  template <class T>
  Args& number(std::string_view flag, T& out) {
    return value(flag, [&out](const std::string& v) -> std::optional<std::string> {
      std::optional<double> x = parse_number(v);
      if (!x) return "expects a number, got `" + v + "`";
      out = T(*x);
      return std::nullopt;
    });
  }
  /// --flag NUMBER into two targets that must agree (one seed for weights and data, say).
  template <class A, class B>
  Args& number(std::string_view flag, A& a, B& b) {
    return value(flag, [&a, &b](const std::string& v) -> std::optional<std::string> {
      std::optional<double> x = parse_number(v);
      if (!x) return "expects a number, got `" + v + "`";
      a = A(*x), b = B(*x);
      return std::nullopt;
    });
  }
  /// --flag alone: sets `out` to `to`.
  Args& set(std::string_view flag, bool& out, bool to = true);
  /// --flag alone, handled by `apply`.
  Args& flag(std::string_view flag, std::function<void()> apply);
  /// --flag VALUE handled by `apply`, which returns an error message or nullopt.
  Args& value(std::string_view flag, std::function<std::optional<std::string>(const std::string&)> apply);
  /// The next argument that is not an option (call again for a second one).
  Args& positional(std::string& out);

  /// Parses `args`. nullopt: go on; otherwise the exit code to return (0 after --help, 2 after an
  /// error, which has been printed).
  std::optional<int> parse(const std::vector<std::string>& args);

  static std::optional<double> parse_number(const std::string& v);

 private:
  struct Option {
    std::string flag;
    bool takes_value;
    std::function<std::optional<std::string>(const std::string&)> apply;
  };
  int fail(const std::string& message) const;

  std::string command_;
  std::string usage_;
  std::vector<Option> options_;
  std::vector<std::string*> positionals_;
};

/// --device, checked here: a device this machine lacks is an error that names it.
void add_device_option(Args& table, std::string& device);
/// --nproc, --backend and --dist-timeout.
void add_dist_options(Args& table, DistOptions& dist);
/// A flag for every option of the training option table (engine/options.h): --epochs, --lr,
/// --weight-decay, ..., --tf32. `given`, when set, receives the name of each option the user named.
void add_train_options(Args& table, engine::TrainOptions& o, std::vector<std::string>* given = nullptr);

}  // namespace cli
