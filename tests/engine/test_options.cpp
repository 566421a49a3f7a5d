// The training option table (engine/options.h) and what every front end makes of it: `circuit
// train`, `circuit search`, `circuit spos`, Lua `circuit.train` and `circuit.search` take every
// option, a study stores every option with each trial, and a trial trained with options far from
// the defaults replays to the same metrics. No LibTorch header: this compiles in seconds.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "base/file.h"
#include "circuit/circuit_file.h"
#include "engine/options.h"
#include "script/engine_extension.h"
#include "script/host.h"
#include "search/pipeline.h"
#include "search/trial_runner.h"
#include "store/store.h"

namespace {

using engine::TrainOption;
using Kind = TrainOption::Kind;
namespace fs = std::filesystem;

std::string source(const std::string& rel) { return std::string(CIRCUIT_SOURCE_DIR) + "/" + rel; }

// A value for `o` that is not its default and lies in its range, as the CLI writes it.
std::string other_value(const TrainOption& o) {
  std::string d = engine::default_text(o);
  if (o.kind == Kind::boolean) return d == "on" ? "off" : "on";
  if (o.kind == Kind::choice) {
    for (const char* c : o.choices)
      if (d != c) return c;
  }
  double x = std::strtod(d.c_str(), nullptr);
  double y = x == 0 ? o.min + (o.max - o.min) / 10 : (x * 2 <= o.max ? x * 2 : x / 2);
  if (o.kind == Kind::integer) y = x + 1 <= o.max ? x + 1 : x - 1;
  engine::TrainOptions t;
  EXPECT_FALSE(engine::set_option_text(t, o, std::to_string(y)).has_value()) << o.name;
  return engine::option_text(t, o);
}

// The options far from their defaults, and what the table holds then.
engine::TrainOptions every_option_changed() {
  engine::TrainOptions t;
  for (const TrainOption& o : engine::train_options()) EXPECT_FALSE(engine::set_option_text(t, o, other_value(o)).has_value()) << o.name;
  return t;
}

int run(const std::string& command) {
  int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The protocol stored with trial 1 of `study` in `db`.
search::TrialProtocol stored_protocol(const std::string& db, const std::string& study) {
  auto s = store::Store::open(db);
  EXPECT_TRUE(s.ok()) << s.error().message;
  auto found = (*s)->find_study(study);
  EXPECT_TRUE(found.ok() && found->has_value()) << study;
  auto rec = (*s)->trial((*found)->id, 1);
  EXPECT_TRUE(rec.ok() && rec->has_value());
  auto p = search::parse_protocol((*rec)->protocol);
  EXPECT_TRUE(p.ok()) << (*rec)->protocol;
  return *p;
}

void expect_every_option(const engine::TrainOptions& got, const engine::TrainOptions& want, const std::string& who) {
  for (const TrainOption& o : engine::train_options())
    EXPECT_EQ(engine::option_text(got, o), engine::option_text(want, o)) << who << ": option " << o.name;
}

TEST(OptionTable, EveryOptionReadsBackItsTextAndRefusesWhatIsOutOfRange) {
  ASSERT_GE(engine::train_options().size(), 11u);
  for (const TrainOption& o : engine::train_options()) {
    engine::TrainOptions t;
    EXPECT_FALSE(engine::set_option_text(t, o, engine::default_text(o)).has_value()) << o.name;
    EXPECT_EQ(engine::option_text(t, o), engine::default_text(o)) << o.name;
    EXPECT_EQ(engine::find_train_option(o.name), &o);
    EXPECT_FALSE(o.label.empty() || o.help.empty()) << o.name;
    EXPECT_EQ(engine::cli_flag(o).find('_'), std::string::npos) << o.name;
    EXPECT_NE(engine::train_options_usage().find(engine::cli_flag(o)), std::string::npos) << o.name;
    if (o.kind == Kind::integer || o.kind == Kind::number) {
      auto low = engine::set_option(t, o, o.min - 1);
      ASSERT_TRUE(low.has_value()) << o.name;
      EXPECT_NE(low->find("must be from"), std::string::npos) << *low;
      EXPECT_TRUE(engine::set_option(t, o, std::string("x")).has_value()) << o.name;
    }
    if (o.kind == Kind::integer) {
      EXPECT_TRUE(engine::set_option(t, o, o.min + 0.5).has_value()) << o.name;
    }
    if (o.kind == Kind::choice) {
      auto bad = engine::set_option(t, o, std::string("nope"));
      ASSERT_TRUE(bad.has_value());
      EXPECT_NE(bad->find("got `nope`"), std::string::npos) << *bad;
    }
    if (o.kind == Kind::boolean) {
      EXPECT_TRUE(engine::set_option_text(t, o, "maybe").has_value());
    }
    EXPECT_EQ(engine::option_text(t, o), engine::default_text(o)) << o.name << ": a refused value changes nothing";
  }
  EXPECT_EQ(engine::find_train_option("nope"), nullptr);
  EXPECT_EQ(engine::cli_flag(*engine::find_train_option("weight_decay")), "--weight-decay");
}

TEST(OptionTable, TheProtocolStoresEveryOptionAndOldProtocolsTakeTheDefaults) {
  search::TrialProtocol p;
  p.train = every_option_changed();
  auto back = search::parse_protocol(search::protocol_json(p));
  ASSERT_TRUE(back.ok()) << back.error().message;
  expect_every_option(back->train, p.train, "protocol");
  // A protocol stored before the table (round 2): only epochs, batch, lr and the optimizer.
  auto old = search::parse_protocol(
      R"({"data": {"name": "fashion-mnist", "seed": 0, "train_limit": 320}, "epochs": 2, "batch": 32, "lr": 0.01, "optimizer": "sgd",)"
      R"( "latency": false, "exit_threshold": 0.9})");
  ASSERT_TRUE(old.ok()) << old.error().message;
  EXPECT_EQ(old->train.epochs, 2);
  EXPECT_EQ(old->train.batch, 32);
  EXPECT_EQ(old->train.optimizer, engine::Optimizer::sgd);
  engine::TrainOptions defaults;
  for (const char* name : {"weight_decay", "momentum", "warmup", "clip", "eval_batch", "precision", "tf32"}) {
    const TrainOption& o = *engine::find_train_option(name);
    EXPECT_EQ(engine::option_text(old->train, o), engine::option_text(defaults, o)) << name;
  }
  auto bad = search::parse_protocol(R"({"warmup": 2})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("`warmup` must be from 0 to 1, got 2"), std::string::npos) << bad.error().message;
}

// Every option of the table, changed from its default, through each of the four front ends; the
// two searches must store each value with their trial.
TEST(OptionTable, EveryFrontEndTakesEveryOptionAndAStudyStoresIt) {
  fs::path dir = fs::temp_directory_path() / ("circuit_options_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  engine::TrainOptions want = every_option_changed();
  std::string flags, lua_options;
  for (const TrainOption& o : engine::train_options()) {
    std::string v = engine::option_text(want, o);
    flags += " " + engine::cli_flag(o) + (o.kind == Kind::boolean ? "" : " " + v);
    std::string lua = o.kind == Kind::boolean ? (v == "on" ? "true" : "false") : o.kind == Kind::choice ? "'" + v + "'" : v;
    lua_options += std::string(o.name) + " = " + lua + ", ";
  }
  ASSERT_NE(flags.find("--tf32"), std::string::npos) << "the boolean is set by its flag alone";
  std::string cli = CIRCUIT_CLI, common = " --limit 96 --threads 1 --device cpu";
  EXPECT_EQ(run(cli + " train " + source("resources/examples/mlp.circuit.json") + " --data fashion-mnist" + common + flags + " >/dev/null 2>&1"), 0)
      << "circuit train" << flags;
  std::string db = (dir / "cli.sqlite").string();
  EXPECT_EQ(run(cli + " search " + source("resources/search/moe_mlp.search.json") + " --study cli --db " + db + " --trials 1 --no-latency" +
                common + flags + " >/dev/null 2>&1"),
            0)
      << "circuit search" << flags;
  expect_every_option(stored_protocol(db, "cli").train, want, "circuit search");
  // One-shot search: the stand-alone check runs train with every option (the supernet with its
  // batch, lr and weight decay).
  EXPECT_EQ(run(cli + " spos " + source("resources/search/moe_mlp.search.json") + " --steps 8 --candidates 2 --population 2 --check 2" +
                common + flags + " >/dev/null 2>&1"),
            0)
      << "circuit spos" << flags;
  EXPECT_EQ(run(cli + " spos " + source("resources/search/moe_mlp.search.json") + " --lr -1 2>" + (dir / "spos_err").string()), 2);
  EXPECT_NE(base::read_file((dir / "spos_err").string())->find("circuit spos: --lr must be"), std::string::npos)
      << *base::read_file((dir / "spos_err").string());
  // The CLI refuses a value out of range, naming the flag.
  EXPECT_EQ(run(cli + " train " + source("resources/examples/mlp.circuit.json") + " --data fashion-mnist --warmup 1.5 2>" + (dir / "err").string()), 2);
  EXPECT_NE(base::read_file((dir / "err").string())->find("--warmup must be from 0 to 1, got 1.5"), std::string::npos);

  script::install_engine_extension();
  script::Host h;
  std::string lua_db = (dir / "lua.sqlite").string();
  std::string code = "local circuit = require 'circuit'\n"
                     "local c = circuit.load('" + source("resources/examples/mlp.circuit.json") + "')\n"
                     "local d = circuit.data('fashion-mnist', {limit = 96, test_limit = 96})\n"
                     "local r = circuit.train(c, d, {" + lua_options + "device = 'cpu'})\n"
                     "assert(r.status == 'finished', r.message)\n"
                     "local s = circuit.space('" + source("resources/search/moe_mlp.search.json") + "')\n"
                     "circuit.search(s, d, {" + lua_options + "study = 'lua', db = '" + lua_db + "', trials = 1, latency = false, device = 'cpu'})\n";
  base::Status s = h.run_string(code, "@options.lua");
  ASSERT_TRUE(s.ok()) << s.error;
  expect_every_option(stored_protocol(lua_db, "lua").train, want, "circuit.search");
  base::Status wrong = h.run_string("local circuit = require 'circuit'\ncircuit.train(circuit.load('" + source("resources/examples/mlp.circuit.json") +
                                    "'), circuit.data('fashion-mnist', {limit = 8, test_limit = 8}), {momentum = 'high'})",
                                    "@wrong.lua");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error.find("`circuit.train`: option `momentum` expects a number"), std::string::npos) << wrong.error;
  fs::remove_all(dir);
}

// A trial trained with warm-up, weight decay, clipping and momentum far from their defaults
// replays from its stored protocol to the same metrics, and those options did change the run.
TEST(OptionTable, ATrialWithNonDefaultOptionsReplaysExactlyFromItsStoredProtocol) {
  fs::path dir = fs::temp_directory_path() / ("circuit_replay_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  script::install_engine_extension();
  auto space = search::load_space(source("resources/search/moe_mlp.search.json"));
  ASSERT_TRUE(space.ok()) << space.error().message;
  search::StudyRequest r;
  r.db = (dir / "replay.sqlite").string();
  r.name = "replay";
  r.space = *space;
  r.spec_text = *base::read_file(source("resources/search/moe_mlp.search.json"));
  r.cfg.trials = 1;
  r.threads = 1;
  r.protocol.latency = false;
  r.protocol.data.train_limit = 320;
  r.protocol.data.test_limit = 200;
  engine::TrainOptions& t = r.protocol.train;
  t.optimizer = engine::Optimizer::sgd;
  t.lr = 0.05, t.momentum = 0.5, t.warmup = 0.4, t.weight_decay = 0.03, t.clip = 0.1, t.batch = 32;
  auto out = search::run_study(r);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->summary.finished, 1);
  const store::TrialRecord& rec = out->trials.at(0);
  auto protocol = search::parse_protocol(rec.protocol);
  ASSERT_TRUE(protocol.ok());
  expect_every_option(protocol->train, t, "stored");
  auto c = circuit::parse_circuit(rec.circuit, "trial 1");
  ASSERT_TRUE(c.ok());
  auto data = engine::load_dataset(protocol->data);
  ASSERT_TRUE(data.ok());
  search::Evaluation again = search::train_trial(*c, rec.seed, *data, *protocol);
  ASSERT_TRUE(again.ok) << again.error;
  for (const char* k : {"accuracy", "loss", "test_accuracy", "peak_memory_mb"}) EXPECT_EQ(again.metrics.at(k), rec.metrics.at(k)) << k;
  // The same trial with the default options trains to another loss: the options took effect.
  search::TrialProtocol defaults = *protocol;
  defaults.train = engine::TrainOptions{};
  defaults.train.batch = 32;
  search::Evaluation plain = search::train_trial(*c, rec.seed, *data, defaults);
  ASSERT_TRUE(plain.ok) << plain.error;
  EXPECT_NE(plain.metrics.at("loss"), rec.metrics.at("loss"));
  // Each of the four, alone, changes the run too.
  for (const char* name : {"warmup", "weight_decay", "clip", "momentum"}) {
    search::TrialProtocol one = *protocol;
    const TrainOption& o = *engine::find_train_option(name);
    engine::set_option_text(one.train, o, engine::option_text(engine::TrainOptions{}, o));
    search::Evaluation e = search::train_trial(*c, rec.seed, *data, one);
    ASSERT_TRUE(e.ok) << e.error;
    EXPECT_NE(e.metrics.at("loss"), rec.metrics.at("loss")) << name << " at its default trains the same: it is not applied";
  }
  fs::remove_all(dir);
}

}  // namespace
