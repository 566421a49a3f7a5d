// The training option table: every option that says how a model is trained is declared here
// once (name, kind, default, range, help), and every front end reads this table: the CLI flags of
// `circuit train`, `search` and `worker`, the Lua option tables of `circuit.train` and
// `circuit.search`, the studio's Train dialog and the trial protocol stored with every search
// trial. Adding an option is one row here and one field in TrainOptions. Torch-free.
//
// Per-run settings that do not change what is learned (device, threads, seed, checkpoints,
// memory budget, telemetry) are not in the table: a study's workers choose them for themselves.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "engine/train.h"

namespace engine {

/// A value as the front ends hold it: a number (integers too), a switch or a word.
using OptionValue = std::variant<double, bool, std::string>;

/// One row of the table.
struct TrainOption {
  enum class Kind { integer, number, boolean, choice };
  std::string_view name;  // Lua key and protocol key; the CLI flag is --name with '-' for '_'
  std::string_view label; // for people: the studio's field label ("Learning rate")
  Kind kind;
  std::string_view help;  // one line, for usage text and the studio's tooltips
  double min = 0, max = 0;                  // integer, number: the allowed range, inclusive
  std::span<const char* const> choices;     // choice: the words, in the enum's order
  OptionValue (*get)(const TrainOptions&);
  void (*put)(TrainOptions&, const OptionValue&);  // `value` already checked by set_option
};

/// Every training option, in the order usage text lists them.
std::span<const TrainOption> train_options();
/// The option named `name` (snake_case), or null.
const TrainOption* find_train_option(std::string_view name);

/// "--weight-decay" for weight_decay.
std::string cli_flag(const TrainOption& o);
/// The default, as text ("0.01", "adamw", "off").
std::string default_text(const TrainOption& o);
/// Usage lines for every option ("  --lr X  peak learning rate (1e-3)"), for the CLI's help.
std::string train_options_usage();

/// Checks `v` against the option's kind and range and stores it; the error says what was
/// expected and what came, without the option's name (the caller knows how the user spelled it).
std::optional<std::string> set_option(TrainOptions& o, const TrainOption& opt, const OptionValue& v);
/// As set_option, from a command-line word (numbers parsed whole, booleans as on/off/true/false/1/0).
std::optional<std::string> set_option_text(TrainOptions& o, const TrainOption& opt, std::string_view text);
/// The value as a word: what the CLI would take back.
std::string option_text(const TrainOptions& o, const TrainOption& opt);

}  // namespace engine
