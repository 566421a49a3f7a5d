// Native memory a script holds (issue: bounded memory for scripts): tensors and models count
// against the script's limit before they are allocated, the collector is paced by them, and
// free/close/<close> give memory back at once. Peaks are measured from the process
// (/proc/self/status VmHWM, VmRSS); ctest runs every test in a process of its own.
#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>

#include "base/ram.h"
#include "helpers.h"
#include "script/engine_extension.h"

namespace script::test {
namespace {

constexpr int64_t MiB = 1 << 20;

struct Memory : ::testing::Test {
  static void SetUpTestSuite() { install_engine_extension(); }
};

// What the tests below start with: the module, and the native bytes held now and at the start.
constexpr const char* kHeld = R"lua(
    local circuit = require "circuit"
    local held = function() return circuit.limits().native_held end
    local base = held()
)lua";

HostOptions with_native_limit(size_t bytes) {
  HostOptions o;
  o.limits.native_bytes = bytes;
  return o;
}

TEST_F(Memory, AScriptKeepingTensorsEndsWithTheLimitBeforeAllocating) {
  Host h(with_native_limit(512 * MiB));
  int64_t before = base::resident_memory().now;
  std::string err = error_of(h, R"lua(
    local circuit = require "circuit"
    local kept = {}
    for i = 1, 1000 do kept[i] = circuit.tensor.ones{4096, 4096} end  -- 64 MiB each
    )lua");
  EXPECT_NE(err.find("test.lua:4: `circuit.tensor.ones` of [4096, 4096] Float needs 64.0 MiB, but the script already holds 512.0 MiB "
                     "of tensors, models and data sets and its native memory limit is 512.0 MiB"),
            std::string::npos)
      << err;
  // The limit, plus what LibTorch's allocator and Lua keep around it; not the 64 GB the loop asked for.
  int64_t grew = base::resident_memory().peak - before;
  EXPECT_LE(grew, 512 * MiB + 64 * MiB) << grew / MiB << " MiB";
  EXPECT_GE(grew, 448 * MiB) << "the tensors were really made";
}

TEST_F(Memory, DroppedTensorsAreCollectedAsTheyAreMade) {
  // 300 tensors of 64 MiB, each dropped: the collector runs once as much has been made as was held
  // after it, so no more than three are alive at a time (the one kept, two made since).
  Host h;
  int64_t before = base::resident_memory().now;
  ASSERT_TRUE(eval(h, R"lua(
    local circuit = require "circuit"
    for i = 1, 300 do local t = circuit.tensor.ones{4096, 4096} end
    return circuit.limits().native_held
    )lua"));
  EXPECT_LE(lua_tointeger(h.state(), -1), 3 * 64 * MiB);
  int64_t grew = base::resident_memory().peak - before;
  EXPECT_LE(grew, 4 * 64 * MiB) << grew / MiB << " MiB (before the accounting the issue measured swings up to 7 GB)";
}

TEST_F(Memory, CompiledModelsThatAreDroppedAreCollected) {
  // A 41.9M-parameter MLP (168 MB of weights) compiled 300 times without being kept (about 200 s
  // here: each compile draws 42M random numbers).
  Host h;
  int64_t before = base::resident_memory().now;
  ASSERT_TRUE(eval(h, R"lua(
    local circuit = require "circuit"
    local c = circuit.new { name = "big" }
    c:input("x", {"batch", "f:2048"})
    c:add("l1", "linear", {"x"}, {out = 4096, out_axis = "h1"})
    c:add("l2", "linear", {"l1"}, {out = 4096, out_axis = "h2"})
    c:add("l3", "linear", {"l2"}, {out = 4096, out_axis = "h3"})
    c:set_outputs{"l3"}
    for i = 1, 300 do local m = circuit.compile(c) end
    return circuit.limits().native_held
    )lua"));
  int64_t model = 41'955'328 * 4;
  EXPECT_LE(lua_tointeger(h.state(), -1), 2 * model);
  int64_t grew = base::resident_memory().peak - before;
  EXPECT_LE(grew, 4 * model) << grew / MiB << " MiB";
}

TEST_F(Memory, FreeCloseAndCloseVariablesReturnMemoryAtOnce) {
  Host h;
  ASSERT_TRUE(eval(h, std::string(kHeld) + R"lua(
    local t = circuit.tensor.zeros{1024, 1024}
    local v = t:view{-1}                       -- a view: the same storage, counted once
    assert(held() - base == 4 * 2^20, "one storage: " .. (held() - base))
    t:free()
    assert(held() - base == 4 * 2^20, "the view still holds it")
    v:free()
    assert(held() == base, "both freed: " .. (held() - base))
    local ok, err = pcall(function() return t + 1 end)
    assert(not ok and err:find("is a tensor that was freed"), err)
    assert(tostring(t) == "tensor (freed)")
    do
      local u <close> = circuit.tensor.ones{512, 512}
      assert(held() - base == 2^20)
    end
    assert(held() == base, "<close> gave it back")
    local c = circuit.new { name = "m" }
    c:input("x", {"batch", "f:64"})
    c:add("fc", "linear", {"x"}, {out = 1000})
    c:set_outputs{"fc"}
    local m = circuit.compile(c)
    assert(held() - base == 65000 * 4)
    m:close()
    assert(held() == base)
    local ok2, err2 = pcall(function() return m:params() end)
    assert(not ok2 and err2:find("the model was closed"), err2)
    do
      local m2 <close> = circuit.compile(c)
    end
    return held() - base
    )lua")) << "see the assertion above";
  EXPECT_EQ(lua_tointeger(h.state(), -1), 0);
}

TEST_F(Memory, DataSetsAndTrainingRunsCount) {
  // A data set counts its arrays once read; a training run, the cost model's training memory
  // (weights, gradients, Adam's two moments, activations at the batch) while it runs; the model it
  // returns, its weights.
  Host h;
  ASSERT_TRUE(eval(h, std::string(kHeld) + R"lua(
    local d = circuit.data("fashion-mnist", {limit = 640, test_limit = 64})
    local rows = 640 + 5000 + 64                      -- train, the held-out 5000, test
    assert(held() - base == rows * 784 * 4 + rows * 8, "the data set: " .. (held() - base))
    local with_data = held()
    local c = circuit.load(")lua" + source("resources/examples/mlp.circuit.json") + R"lua(")
    local during = 0
    local r = circuit.train(c, d, {epochs = 1, batch = 64, on_step = function() during = math.max(during, held()) end})
    local params = r.model:params()
    assert(during - with_data >= params * 4 * 4, "during the run: " .. (during - with_data) .. " for " .. params .. " parameters")
    assert(held() - with_data == params * 4, "after it, the model: " .. (held() - with_data))
    r = nil
    d = nil
    collectgarbage()
    return held() - base
    )lua")) << "see the assertion above";
  EXPECT_EQ(lua_tointeger(h.state(), -1), 0) << "the data set and the model were given back";

  Host small(with_native_limit(8 * MiB));
  std::string err = error_of(small, R"lua(
    local circuit = require "circuit"
    local d = circuit.data("fashion-mnist", {limit = 640, test_limit = 64})
    )lua");
  EXPECT_NE(err.find("test.lua:3: `circuit.data` of fashion-mnist (5704 examples) needs 17.1 MiB, but the script already holds 0 B"), std::string::npos)
      << err;
  // A search's trials ask for their training memory too: a trial that does not fit fails with
  // the message (the study goes on with the others).
  Host searching(with_native_limit(18 * MiB));  // the data set's 16.9 MB fit, no trial beside it (2.3 MB at least)
  auto dir = std::filesystem::temp_directory_path() / ("circuit_admit_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(eval(searching, R"lua(
    local circuit = require "circuit"
    local d = circuit.data("fashion-mnist", {limit = 320, test_limit = 64})
    local space = circuit.space(")lua" + source("resources/search/moe_mlp.search.json") + R"lua(")
    local failed = {}
    local r = circuit.search(space, d, {study = "s", db = ")lua" + (dir / "s.sqlite").string() + R"lua(", strategy = "random", trials = 2,
                                         epochs = 1, latency = false, on_trial = function(t) if not t.ok then failed[#failed + 1] = t.error end end})
    return #failed .. " " .. (failed[1] or "")
    )lua")) << "see above";
  std::string failed = lua_tostring(searching.state(), -1);
  EXPECT_EQ(failed.substr(0, 2), "2 ") << failed;
  EXPECT_NE(failed.find("a `circuit.search` trial of "), std::string::npos) << failed;
  EXPECT_NE(failed.find("its native memory limit is 18.0 MiB"), std::string::npos) << failed;
  std::filesystem::remove_all(dir);
  Host mid(with_native_limit(20 * MiB));
  err = error_of(mid, R"lua(
    local circuit = require "circuit"
    local d = circuit.data("fashion-mnist", {limit = 640, test_limit = 64})
    local c = circuit.new { name = "wide" }
    c:input("x", {"batch", "f:784"})
    c:add("fc", "linear", {"x"}, {out = 1000})
    c:set_outputs{"fc"}
    circuit.train(c, d, {epochs = 1})
    )lua");
  EXPECT_NE(err.find("test.lua:8: `circuit.train` of a model with 785000 parameters (weights, gradients, optimizer state and activations at batch 64) needs"),
            std::string::npos)
      << err;
}

TEST_F(Memory, RunsOneAfterAnotherKeepTheFootprint) {
  // 20 trainings, then a 50-trial search, in one process: the resident set after the last stays
  // within 10 % of after the first (measured: +8 % and +2 %; the trainings' growth is all in the
  // first five runs, LibTorch's lazily made pools, then flat). Without the trim at the start of
  // each run the search grew 17-20 %: glibc kept what the trials had freed.
  Host h;
  auto dir = std::filesystem::temp_directory_path() / ("circuit_rss_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(h.run_string(R"lua(
    circuit = require "circuit"
    data = circuit.data("fashion-mnist", {limit = 640, test_limit = 64})
    mlp = circuit.load(")lua" + source("resources/examples/mlp.circuit.json") + R"lua(")
    space = circuit.space(")lua" + source("resources/search/moe_mlp.search.json") + R"lua(")
    function train(seed) circuit.train(mlp, data, {epochs = 1, seed = seed}); collectgarbage() end
    ran = 0
    function search(n, db)
      ran = ran + circuit.search(space, data, {study = "s", db = db, strategy = "random", trials = n, epochs = 1}).ran
      collectgarbage()
    end
  )lua", "=setup"));
  auto rss_after = [&](const std::string& code) {
    auto s = h.run_string(code, "=run");
    EXPECT_TRUE(s) << s.error;
    return base::resident_memory().now;
  };
  int64_t first = rss_after("train(1)");
  int64_t last = 0;
  for (int i = 2; i <= 20; ++i) last = rss_after("train(" + std::to_string(i) + ")");
  EXPECT_LE(last, first * 11 / 10) << first / MiB << " MiB after the first training, " << last / MiB << " MiB after the 20th";
  std::string db = (dir / "study.sqlite").string();
  first = rss_after("search(1, '" + db + "')");
  last = rss_after("search(49, '" + db + "')");
  // 14 % for the search: LibTorch 2.6 (Debian 13) grew 10.3 % in one of three CI runs (197 -> 217
  // MiB); without the trim the search grows 17-20 %, so the bound still tells the two apart.
  EXPECT_LE(last, first * 114 / 100) << first / MiB << " MiB after the first trial, " << last / MiB << " MiB after the 50th";
  EXPECT_TRUE(h.run_string("assert(ran == 50, 'trials run: ' .. ran)", "=check")) << "50 trials ran";
  std::filesystem::remove_all(dir);
}

TEST_F(Memory, LimitsAreReadableAndDefaultToTheEngineBudget) {
  Host h;
  ASSERT_TRUE(eval(h, "return require('circuit').limits()"));
  lua_State* L = h.state();
  lua_getfield(L, -1, "native");
  double native = lua_tonumber(L, -1);
  double avail = double(base::available_ram());
  EXPECT_GT(native, 0.7 * avail);
  EXPECT_LT(native, 0.9 * avail);
  Host small(with_native_limit(100 * MiB));
  EXPECT_EQ(small.native_limit(), size_t(100 * MiB));
}

}  // namespace
}  // namespace script::test
