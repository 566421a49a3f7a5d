// `circuit serve --stdio` as a front end meets it: a real engine process started by
// EngineProcess, the studio's client. Bad input gets an error reply and the engine keeps
// serving; 10,000 mutated lines crash nothing and every parseable request gets its reply.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "protocol/engine_process.h"

namespace {

using namespace protocol;
using namespace std::chrono_literals;

// An engine and everything it said.
struct Engine {
  EngineProcess process;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Reply> replies;
  std::optional<std::string> exit;

  explicit Engine(std::vector<std::string> extra = {}) {
    auto s = process.start(
        engine_argv(CIRCUIT_CLI, "", extra),
        [this](Reply r) {
          std::lock_guard lock(mu);
          replies.push_back(std::move(r));
          cv.notify_all();
        },
        [this](const std::string& why) {
          std::lock_guard lock(mu);
          exit = why;
          cv.notify_all();
        });
    EXPECT_TRUE(s) << s.error;
  }
  // Waits until `done` holds over the replies (or the timeout); returns whether it did.
  template <class F>
  bool wait(F done, std::chrono::seconds timeout = 60s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return done(); });
  }
  // The first reply to `id` of body type T.
  template <class T>
  std::optional<T> reply(int64_t id, std::chrono::seconds timeout = 60s) {
    std::optional<T> found;
    wait([&] {
      for (const Reply& r : replies)
        if (r.id == id)
          if (auto* t = std::get_if<T>(&r.body)) return found = *t, true;
      return false;
    }, timeout);
    return found;
  }
  void write_raw(const std::string& bytes) { raw_fd_write(bytes); }

 private:
  void raw_fd_write(const std::string& bytes);
};

// A request line written as it is (malformed on purpose) through the process's stdin: sent as a
// Lua request whose text we control would still be valid JSON, so this goes under the protocol.
void Engine::raw_fd_write(const std::string& bytes) {
  std::string path = "/proc/" + std::to_string(process.pid()) + "/fd/0";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

TEST(Serve, SaysHelloRunsLuaWithPersistentGlobalsAndShutsDown) {
  Engine e;
  auto hello = e.reply<Hello>(0);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->protocol, kVersion);
  EXPECT_EQ(hello->devices.front(), "cpu");
  EXPECT_FALSE(hello->torch.empty());
  EXPECT_GT(hello->threads, 0);
  EXPECT_EQ(hello->pid, e.process.pid());
  EXPECT_NE(std::find(hello->data_sets.begin(), hello->data_sets.end(), "fashion-mnist"), hello->data_sets.end());
  // Requests queue as cells in a kernel: the second reads what the first defined.
  int64_t a = e.process.send({0, Lua{"x = 41", "=console", "", true}});
  int64_t b = e.process.send({0, Lua{"print('x is', x) return x + 1", "=console", "", false}});
  auto second = e.reply<LuaDone>(b);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->error, "");
  EXPECT_EQ(second->results, "42");
  EXPECT_EQ(e.reply<LuaDone>(a)->error, "");
  auto printed = e.reply<events::Event>(b);
  ASSERT_TRUE(printed);
  EXPECT_EQ(std::get<events::LogLine>(*printed).text, "x is\t41");
  // A Lua error comes back with its traceback, and the state goes on.
  int64_t c = e.process.send({0, Lua{"error('boom')", "=console", "", false}});
  auto failed = e.reply<LuaDone>(c);
  ASSERT_TRUE(failed);
  EXPECT_NE(failed->error.find("boom"), std::string::npos) << failed->error;
  EXPECT_NE(failed->error.find("traceback"), std::string::npos) << failed->error;
  e.process.stop(5000);
  ASSERT_TRUE(e.wait([&] { return e.exit.has_value(); }));
  EXPECT_EQ(*e.exit, "") << "a shutdown we asked for is not reported as a death";
}

TEST(Serve, BadLinesGetErrorRepliesAndTheEngineKeepsServing) {
  Engine e;
  ASSERT_TRUE(e.reply<Hello>(0));
  e.write_raw("this is not json\n");
  e.write_raw("{\"id\": 7, \"op\": \"teleport\"}\n");
  e.write_raw("{\"id\": 8, \"op\": \"lua\", \"code\": 5}\n");
  e.write_raw(std::string(kMaxLine + 10, 'x') + "\n");
  e.write_raw("{\"id\": 9, \"op\": \"export\", \"name\": \"m.pt\"}\n");
  auto unknown = e.reply<Problem>(7);
  ASSERT_TRUE(unknown);
  EXPECT_NE(unknown->message.find("unknown op \"teleport\""), std::string::npos) << unknown->message;
  auto typed = e.reply<Problem>(8);
  ASSERT_TRUE(typed);
  EXPECT_NE(typed->message.find("member \"code\": expected a string"), std::string::npos) << typed->message;
  auto none = e.reply<Done>(9);
  ASSERT_TRUE(none);
  EXPECT_NE(none->error.find("no trained model"), std::string::npos) << none->error;
  ASSERT_TRUE(e.wait([&] {
    int anonymous = 0;
    for (const Reply& r : e.replies) anonymous += r.id == 0 && std::holds_alternative<Problem>(r.body);
    return anonymous >= 2;
  }));
  std::vector<std::string> problems;
  {
    std::lock_guard lock(e.mu);
    for (const Reply& r : e.replies)
      if (auto* p = std::get_if<Problem>(&r.body); p && r.id == 0) problems.push_back(p->message);
  }
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("not JSON"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("over"), std::string::npos) << problems[1];
  // Still serving; then the stream is cut mid-line: said, and the engine ends cleanly.
  int64_t ok = e.process.send({0, Lua{"1 + 1", "=console", "", true}});
  EXPECT_EQ(e.reply<LuaDone>(ok)->results, "2");
  e.write_raw("{\"id\": 10, \"op\": \"lu");
  e.process.close_input();
  ASSERT_TRUE(e.wait([&] { return e.exit.has_value(); }));
  EXPECT_EQ(*e.exit, "");
  bool said = false;
  for (const Reply& r : e.replies)
    if (auto* p = std::get_if<Problem>(&r.body)) said |= p->message.find("ended mid-line") != std::string::npos;
  EXPECT_TRUE(said) << "a stream cut mid-line is said";
}

TEST(Serve, ATrainingStreamsEventsAndItsModelComesBackAsAFile) {
  Engine e;
  std::FILE* f = std::fopen(CIRCUIT_SOURCE_DIR "/resources/examples/mlp.circuit.json", "r");
  ASSERT_NE(f, nullptr);
  std::string text;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  Train t;
  t.circuit = text;
  t.data.name = "fashion-mnist";
  t.data.train_limit = 512;
  t.train.epochs = 1;
  t.threads = 1;
  int64_t id = e.process.send({0, t});
  int64_t busy = e.process.send({0, t});
  auto refused = e.reply<Problem>(busy);
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->message.find("a training is running (request " + std::to_string(id) + ")"), std::string::npos) << refused->message;
  auto done = e.reply<TrainDone>(id, 300s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, events::RunStatus::finished) << done->message;
  EXPECT_TRUE(done->has_model);
  EXPECT_GT(done->val_accuracy, 0.3);
  int steps = 0, epochs = 0;
  {
    std::lock_guard lock(e.mu);
    for (const Reply& r : e.replies)
      if (auto* ev = std::get_if<events::Event>(&r.body); ev && r.id == id) steps += std::holds_alternative<events::TrainStep>(*ev), epochs += std::holds_alternative<events::EpochEnd>(*ev);
  }
  EXPECT_EQ(steps, done->steps);
  EXPECT_EQ(epochs, 1);
  int64_t ex = e.process.send({0, Export{"model.pt"}});
  auto exported = e.reply<Done>(ex, 120s);
  ASSERT_TRUE(exported);
  ASSERT_EQ(exported->error, "");
  std::string bytes;
  {
    std::lock_guard lock(e.mu);
    for (const Reply& r : e.replies)
      if (auto* file = std::get_if<File>(&r.body); file && r.id == ex) bytes += file->bytes;
  }
  EXPECT_GT(bytes.size(), 10'000u);
  EXPECT_EQ(bytes.substr(0, 2), "PK") << "a TorchScript archive is a zip";
}

TEST(Serve, AKilledEngineIsDescribedWithItsSignalAndLastWords) {
  Engine e;
  ASSERT_TRUE(e.reply<Hello>(0));
  ::kill(e.process.pid(), SIGKILL);
  ASSERT_TRUE(e.wait([&] { return e.exit.has_value(); }));
  EXPECT_NE(e.exit->find("killed by signal 9"), std::string::npos) << *e.exit;
  EXPECT_EQ(e.process.send({0, Lua{"1", "=console", "", true}}), 0) << "a dead engine takes no request, and does not kill us with SIGPIPE";
}

TEST(Serve, AMissingProgramIsAClearError) {
  EngineProcess p;
  auto s = p.start({"/nonexistent/circuit", "serve", "--stdio"}, [](Reply) {}, [](const std::string&) {});
  EXPECT_FALSE(s);
  EXPECT_NE(s.error.find("cannot start the engine `/nonexistent/circuit`"), std::string::npos) << s.error;
}

// 10,000 lines made from valid requests by flipping, dropping, duplicating and inserting bytes,
// each behind a unique id: the engine never crashes, and every line that parses as a request
// (by the same parser) gets at least one reply with its id.
TEST(Serve, TenThousandMutatedLinesCrashNothingAndEveryParseableRequestIsAnswered) {
  Engine e;
  ASSERT_TRUE(e.reply<Hello>(0));
  const std::vector<std::string> bodies = {
      R"("op": "lua", "code": "return 1 + 1", "circuit": "", "expression": false})",
      R"("op": "lua", "code": "local t = {} for i = 1, 10 do t[i] = i end return #t"})",
      R"("op": "export", "name": "m.onnx"})",
      R"("op": "cancel", "target": 3})",
      R"("op": "train", "circuit": "{}", "data": {"name": "mqar", "train_limit": 64}, "options": {"epochs": 1}})",
      R"("op": "search", "space": "{}", "study": "s", "db": "/nonexistent/dir/s.sqlite"})",
  };
  std::mt19937_64 rng(2026);
  const std::string alphabet = "{}[]\":,0123456789abcdeflnrstu \\\x01\xff";
  std::set<int64_t> expected;
  std::string all;
  const int n = 10'000;
  for (int i = 0; i < n; ++i) {
    std::string b = bodies[rng() % bodies.size()];
    for (int m = 0, count = 1 + int(rng() % 3); m < count && !b.empty(); ++m) {
      size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: b.erase(at, 1 + rng() % 4); break;
        case 2: b.insert(at, b.substr(at, rng() % 8)); break;
        default: b.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
    }
    for (char& c : b)
      if (c == '\n') c = ' ';
    int64_t id = 1000 + i;
    std::string line = "{\"id\": " + std::to_string(id) + ", " + b;
    if (parse_request(line)) expected.insert(id);
    all += line + "\n";
  }
  e.write_raw(all);
  ASSERT_GT(expected.size(), 100u) << "the mutations left some requests valid";
  ASSERT_LT(expected.size(), size_t(n)) << "and broke others";
  bool answered = e.wait([&] {
    std::set<int64_t> seen;
    for (const Reply& r : e.replies) seen.insert(r.id);
    for (int64_t id : expected)
      if (!seen.count(id)) return false;
    return true;
  }, 300s);
  std::set<int64_t> seen;
  {
    std::lock_guard lock(e.mu);
    for (const Reply& r : e.replies) seen.insert(r.id);
  }
  int missing = 0;
  for (int64_t id : expected) missing += !seen.count(id);
  EXPECT_TRUE(answered) << missing << " of " << expected.size() << " parseable requests got no reply";
  EXPECT_TRUE(e.process.running()) << "the engine survived: " << e.process.stderr_tail();
  std::printf("%zu of %d mutated lines were requests; all answered: %s\n", expected.size(), n, answered ? "yes" : "no");
  e.process.stop(10'000);
  ASSERT_TRUE(e.wait([&] { return e.exit.has_value(); }));
  EXPECT_EQ(*e.exit, "") << e.process.stderr_tail();
}

}  // namespace
