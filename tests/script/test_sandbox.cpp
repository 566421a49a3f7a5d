// The sandbox, the limits and error locations: every forbidden call says what and how to allow
// it, runaway scripts end with the limit they hit, and errors carry file:line and a traceback.
#include <chrono>
#include <filesystem>
#include <thread>
#include <fstream>

#include "helpers.h"

namespace script::test {
namespace {

std::string scratch(const std::string& name) {
  auto dir = std::filesystem::path(CIRCUIT_BINARY_DIR) / "script_test_files";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

struct Forbidden {
  const char* code;
  const char* message;  // what the error must contain (besides the --allow-io hint)
};

TEST(Sandbox, EveryForbiddenCallExplainsItself) {
  std::string out = scratch("sandbox_victim.txt");
  std::filesystem::remove(out);
  const Forbidden cases[] = {
      {"os.execute('true')", "os.execute is disabled in the sandbox"},
      {"io.popen('ls')", "io.popen is disabled in the sandbox"},
      {"package.loadlib('liblua5.4.so', 'luaopen_x')", "package.loadlib is disabled in the sandbox"},
      {"os.remove('x')", "os.remove is disabled in the sandbox"},
      {"os.rename('x', 'y')", "os.rename is disabled in the sandbox"},
      {"os.exit(0)", "os.exit is disabled in the sandbox"},
      {"os.tmpname()", "os.tmpname is disabled in the sandbox"},
      {"io.tmpfile()", "io.tmpfile is disabled in the sandbox"},
      {"io.open('OUT', 'w')", "io.open: opening 'OUT' for writing (mode \"w\") is disabled in the sandbox"},
      {"io.open('OUT', 'a')", "(mode \"a\") is disabled in the sandbox"},
      {"io.open('OUT', 'r+')", "(mode \"r+\") is disabled in the sandbox"},
      {"io.output('OUT')", "io.output: opening 'OUT' for writing is disabled in the sandbox"},
      {"os.setlocale('C')", "os.setlocale: changing the locale is disabled in the sandbox"},
      {"require('lpeg')", "C modules (package.cpath) are disabled in the sandbox"},
  };
  for (auto& c : cases) {
    Host h;
    std::string code = c.code, msg = c.message;
    for (std::string* s : {&code, &msg})
      for (size_t at; (at = s->find("OUT")) != std::string::npos;) s->replace(at, 3, out);
    std::string err = error_of(h, "local x = 1\n" + code, "@sandboxed.lua");
    SCOPED_TRACE(code);
    EXPECT_NE(err.find(msg), std::string::npos) << err;
    EXPECT_NE(err.find("run with --allow-io to allow"), std::string::npos) << err;
    if (code.rfind("require", 0) != 0) {
      EXPECT_EQ(err.rfind("sandboxed.lua:2: ", 0), 0u) << err;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Sandbox, ReadingStaysAllowedAndBypassesAreClosed) {
  Host h;
  std::string mlp = source("resources/examples/mlp.circuit.json");
  ASSERT_TRUE(eval(h, "local f = assert(io.open('" + mlp + "')); local s = f:read('a'); f:close(); return #s").ok());
  EXPECT_GT(lua_tointeger(h.state(), -1), 100);
  EXPECT_NE(error_of(h, "debug.sethook()").find("attempt to call a nil value (field 'sethook')"), std::string::npos);
  EXPECT_EQ(error_of(h, "assert(package.loaded.debug.getupvalue == nil, 'full debug reachable')"), "");
  EXPECT_NE(error_of(h, "assert(load(string.dump(function() end)))").find("attempt to load a binary chunk (mode is 't')"),
            std::string::npos);
}

TEST(Sandbox, AllowIoLiftsIt) {
  HostOptions o;
  o.allow_io = true;
  Host h(o);
  std::string out = scratch("allowed.txt");
  ASSERT_TRUE(h.run_string("local f = assert(io.open('" + out + "', 'w')); f:write('ok'); f:close()").ok());
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(text, "ok");
  EXPECT_TRUE(h.run_string("assert(os.remove('" + out + "'))").ok());
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Sandbox, SavesOnlyCircuitFiles) {
  Host h;
  std::string out = scratch("not_a_circuit.txt");
  std::string err = error_of(h, "require('circuit').new():save('" + out + "')");
  EXPECT_NE(err.find("the sandbox only writes circuit files; run with --allow-io"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(Sandbox, RequireLoadsOnlyFromItsFolders) {
  HostOptions o;
  o.require_paths = {source("plugins")};
  Host h(o);
  ASSERT_TRUE(eval(h, "return require('prenorm_ffn').name").ok());
  EXPECT_STREQ(lua_tostring(h.state(), -1), "prenorm_ffn");
  std::string err = error_of(h, "package.path = '/usr/share/lua/5.4/?.lua'; require('edits')");
  EXPECT_NE(err.find("module 'edits' not found"), std::string::npos) << err;
  EXPECT_NE(err.find("no file '" + source("plugins") + "/edits.lua'"), std::string::npos) << err;
  EXPECT_NE(error_of(h, "require('../tests/script/lua/edits')").find("may not contain a path"), std::string::npos);
}

TEST(Limits, InfiniteLoopEndsWithTheInstructionLimit) {
  HostOptions o;
  o.limits.instructions = 1'000'000;
  Host h(o);
  std::string err = error_of(h, "local n = 0\nwhile true do n = n + 1 end", "@spin.lua");
  EXPECT_NE(err.find("spin.lua:2: instruction limit of 1000000 exceeded"), std::string::npos) << err;
  EXPECT_NE(err.find("stack traceback:"), std::string::npos) << err;
  // A pcall inside the script cannot swallow it for long: the limit fires again outside.
  err = error_of(h, "while true do pcall(function() while true do end end) end", "@swallow.lua");
  EXPECT_NE(err.find("instruction limit of 1000000 exceeded"), std::string::npos) << err;
  // Coroutines inherit the hook, and the count is shared with the main thread.
  err = error_of(h, "local co = coroutine.wrap(function() while true do end end)\nco()", "@coroutine.lua");
  EXPECT_NE(err.find("coroutine.lua:1: instruction limit of 1000000 exceeded"), std::string::npos) << err;
  // The count restarts for the next call, so the state stays usable.
  EXPECT_EQ(error_of(h, "for i = 1, 1000 do end"), "");
}

// A Stop button: another thread interrupts a script that would otherwise run for minutes (no
// instruction limit), and pcall inside the script cannot swallow it.
TEST(Limits, InterruptStopsAScriptFromAnotherThread) {
  HostOptions o;
  o.limits.instructions = 0;
  Host h(o);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    h.interrupt();
  });
  std::string err = error_of(h, "while true do pcall(function() while true do end end) end", "@forever.lua");
  stopper.join();
  EXPECT_NE(err.find("forever.lua:1: interrupted"), std::string::npos) << err;
  // The next call runs normally.
  EXPECT_EQ(error_of(h, "for i = 1, 1000 do end"), "");
}

TEST(Limits, AllocationBombsEndWithTheMemoryLimit) {
  HostOptions o;
  o.limits.memory_bytes = 64 << 20;
  Host h(o);
  std::string err = error_of(h, "local t = {}\nfor i = 1, 1e9 do t[i] = ('x'):rep(100) .. i end", "@bomb.lua");
  EXPECT_NE(err.find("memory limit of 64 MiB exceeded"), std::string::npos) << err;
  err = error_of(h, "local s = 'x'\nwhile true do s = s .. s end", "@doubling.lua");
  EXPECT_NE(err.find("memory limit of 64 MiB exceeded"), std::string::npos) << err;
  EXPECT_LE(h.memory.used, size_t(64) << 20);
  EXPECT_EQ(error_of(h, "collectgarbage(); local t = {} for i = 1, 1000 do t[i] = i end"), "");
}

TEST(Errors, RuntimeErrorGivesFileLineAndTraceback) {
  Host h;
  std::string file = lua_dir() + "/runtime_error.lua";
  base::Status s = h.run_file(file);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error.rfind(file + ":4: `c:add`: node `fc`: attribute `out` expects an integer, got a string", 0), 0u) << s.error;
  EXPECT_NE(s.error.find("stack traceback:"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("runtime_error.lua:4: in upvalue 'inner'"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find(file + ":11: in main chunk"), std::string::npos) << s.error;
}

TEST(Errors, SyntaxErrorNamesFileAndLine) {
  Host h;
  base::Status s = h.run_string("local x = 1\nlocal = 2", "@bad_syntax.lua");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error.rfind("bad_syntax.lua:2:", 0), 0u) << s.error;
}

TEST(Errors, ScriptsGetTheirArguments) {
  Host h;
  std::string file = scratch("args.lua");
  std::ofstream(file) << "local a, b = ...\nassert(arg[0] == '" << file << "')\nresult = a .. '+' .. arg[2]\n";
  ASSERT_TRUE(h.run_file(file, {"one", "two"}).ok());
  lua_getglobal(h.state(), "result");
  EXPECT_STREQ(lua_tostring(h.state(), -1), "one+two");
}

int test_only_answer(lua_State* L) {
  lua_pushinteger(L, 42);
  return 1;
}

TEST(Extension, ModuleFunctionsCanBeAddedPerHostAndForEveryHost) {
  static const luaL_Reg fns[] = {{"_test_only_answer", test_only_answer}, {nullptr, nullptr}};
  Host h;
  h.add_module_functions(fns);
  ASSERT_TRUE(eval(h, "return require('circuit')._test_only_answer()").ok());
  EXPECT_EQ(lua_tointeger(h.state(), -1), 42);
  Host before;
  register_module_extension([](lua_State* L, int module) {
    lua_pushinteger(L, 7);
    lua_setfield(L, module, "_test_only_extension");
  });
  Host after;
  ASSERT_TRUE(eval(after, "return require('circuit')._test_only_extension").ok());
  EXPECT_EQ(lua_tointeger(after.state(), -1), 7);
  ASSERT_TRUE(eval(before, "return require('circuit')._test_only_extension").ok());
  EXPECT_TRUE(lua_isnil(before.state(), -1));
}

}  // namespace
}  // namespace script::test
