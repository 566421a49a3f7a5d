// Every request and reply of the protocol through its JSON line and back: the same line again,
// and the fields the front ends read.
#include <gtest/gtest.h>

#include <cmath>

#include "protocol/protocol.h"

namespace {

using namespace protocol;

std::vector<Request> every_request() {
  Train t;
  t.circuit = "{\"circuit\": 1}";
  t.data.name = "mqar";
  t.data.seed = 7;
  t.data.train_limit = 640;
  t.train.epochs = 3;
  t.train.lr = 0.0025;
  t.train.seed = 7;
  t.device = "cuda:1";
  t.threads = 2;
  Lua l;
  l.code = "print(\"tab\\there\")\nreturn 1";
  l.chunk = "@script.lua";
  l.circuit = "{}";
  l.expression = false;
  Search s;
  s.space = "{\"space\": true}";
  s.space_name = "/a/b.search.json";
  s.study = "study";
  s.db = "postgresql://u@h/db";
  s.strategy = "random";
  s.trials = 5;
  s.train.batch = 32;
  s.train_limit = 100;
  s.seed = 3;
  s.baseline = false;
  return {{1, t}, {2, Export{"model.onnx"}}, {3, l}, {4, s}, {5, Cancel{3}}, {6, Shutdown{}}};
}

std::vector<Reply> every_reply() {
  Hello h;
  h.version = "0.1.0";
  h.torch = "2.6.0";
  h.devices = {"cpu", "cuda:0 (NVIDIA H100)"};
  h.threads = 16;
  h.plugins = {"aux_free_lua"};
  h.data_sets = {"fashion-mnist", "text"};
  h.pid = 4242;
  events::ExpertLoad load;
  load.layer = "moe";
  load.step = 9;
  load.tokens = 64;
  load.before = {10, 54};
  load.after = {10, 40};
  load.dropped = 14;
  load.mean_gate = {0.5, 0.25};
  load.entropy = 0.7;
  load.previous_layer = "moe0";
  load.transitions = {1, 2, 3, 4};
  TrainDone d;
  d.status = events::RunStatus::nan;
  d.message = "loss became NaN at step 3";
  d.device = "cpu";
  d.steps = 3;
  d.train_loss = std::nan("");
  d.exit_histogram = {5, 6};
  d.has_model = true;
  LuaDone ld{"1\t2", "", std::string("{\"changed\": 1}")};
  File f{"model.pt", 4, std::string("\0\x01\xff\n\"", 5), true};
  return {{0, h},
          {1, events::Event(events::TrainStep{3, 10, 1, 2, 0.5, 0.25, 1e-3, 1234.5})},
          {1, events::Event(events::EpochEnd{1, 2, 0.5, 0.6, 0.7, 1.5})},
          {1, events::Event(load)},
          {1, events::Event(events::LogLine{events::LogLine::Level::warning, "careful\nnow"})},
          {1, events::Event(events::RunEnd{events::RunStatus::cancelled, "by request"})},
          {1, d},
          {3, ld},
          {2, f},
          {2, Done{"model.pt: 5 bytes", ""}},
          {0, Problem{"not JSON"}}};
}

TEST(Protocol, EveryRequestRoundTripsThroughItsLine) {
  for (const Request& r : every_request()) {
    std::string line = to_line(r);
    ASSERT_EQ(line.back(), '\n');
    ASSERT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    auto back = parse_request(line);
    ASSERT_TRUE(back) << back.error().message << "\n" << line;
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->body.index(), r.body.index());
    EXPECT_EQ(to_line(*back), line);
  }
  auto t = std::get<Train>(parse_request(to_line(every_request()[0]))->body);
  EXPECT_EQ(t.train.epochs, 3);
  EXPECT_DOUBLE_EQ(t.train.lr, 0.0025);
  EXPECT_EQ(t.train.seed, 7u);
  EXPECT_EQ(t.data.train_limit, 640);
  EXPECT_EQ(t.device, "cuda:1");
}

TEST(Protocol, EveryReplyRoundTripsThroughItsLine) {
  for (const Reply& r : every_reply()) {
    std::string line = to_line(r);
    ASSERT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
    auto back = parse_reply(line);
    ASSERT_TRUE(back) << back.error().message << "\n" << line;
    EXPECT_EQ(back->id, r.id);
    EXPECT_EQ(back->body.index(), r.body.index());
    EXPECT_EQ(to_line(*back), line);
  }
  auto replies = every_reply();
  auto f = std::get<File>(parse_reply(to_line(replies[8]))->body);
  EXPECT_EQ(f.bytes, std::string("\0\x01\xff\n\"", 5)) << "bytes survive base64";
  auto d = std::get<TrainDone>(parse_reply(to_line(replies[6]))->body);
  EXPECT_TRUE(std::isnan(d.train_loss)) << "a NaN loss is written as null and read back as NaN";
  EXPECT_EQ(d.status, events::RunStatus::nan);
  auto load = std::get<events::ExpertLoad>(std::get<events::Event>(parse_reply(to_line(replies[3]))->body));
  EXPECT_EQ(load.transitions, (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(Protocol, BadLinesSayWhatIsWrongAndKeepTheIdTheyHad) {
  int64_t id = 0;
  auto r = parse_request("{\"id\": 12, \"op\": \"train\", \"circuit\": 5}", &id);
  ASSERT_FALSE(r);
  EXPECT_EQ(id, 12);
  EXPECT_NE(r.error().message.find("request 12 (train): member \"circuit\": expected a string, got an integer"), std::string::npos) << r.error().message;
  r = parse_request("{\"id\": 3, \"op\": \"train\", \"circuit\": \"{}\", \"data\": {\"name\": \"text\"}, \"options\": {\"lr\": -1}}");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("option \"lr\""), std::string::npos) << r.error().message;
  r = parse_request("{\"id\": 3, \"op\": \"train\", \"circuit\": \"{}\", \"data\": {\"name\": \"text\"}, \"options\": {\"no_such\": 1}}");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no training option \"no_such\""), std::string::npos) << r.error().message;
  id = 0;
  r = parse_request("{\"op\": \"lua\"", &id);
  ASSERT_FALSE(r);
  EXPECT_EQ(id, 0);
  EXPECT_NE(r.error().message.find("not JSON"), std::string::npos);
  r = parse_request("{\"id\": 4, \"op\": \"fly\"}");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown op \"fly\""), std::string::npos);
  EXPECT_FALSE(parse_request("{\"id\": -1, \"op\": \"shutdown\"}"));
  EXPECT_FALSE(parse_request(std::string(kMaxLine + 1, ' ')));
}

TEST(Protocol, Base64RoundTripsEveryLengthAndRefusesGarbage) {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    EXPECT_EQ(*base64_decode(base64_encode(bytes)), bytes) << n;
    bytes += char(n * 37 + 11);
  }
  EXPECT_EQ(base64_encode("Man"), "TWFu");
  EXPECT_EQ(base64_encode("Ma"), "TWE=");
  EXPECT_FALSE(base64_decode("TWF"));
  EXPECT_FALSE(base64_decode("TW!u"));
  EXPECT_FALSE(base64_decode("TW==TWFu"));
}

}  // namespace
