#include "protocol/protocol.h"

#include <array>

#include "engine/options.h"
#include "events/json.h"

namespace protocol {

using base::Json;
using base::Status;
using events::json::get;
using events::json::optional;

namespace {

Json object_with(const char* key, const char* value, int64_t id) {
  Json j = Json::object();
  j.set("id", Json::integer(id));
  j.set(key, Json::string(value));
  return j;
}

Json data_json(const engine::DataOptions& d) {
  Json j = Json::object();
  j.set("name", Json::string(d.name));
  j.set("seed", Json::integer(int64_t(d.seed)));
  j.set("train_limit", Json::integer(d.train_limit));
  j.set("test_limit", Json::integer(d.test_limit));
  j.set("text", Json::string(d.text_path));
  return j;
}

Status read_data(const Json& j, engine::DataOptions& d) {
  if (j.kind != Json::Kind::Object) return Status::fail("member \"data\": expected an object");
  int64_t seed = int64_t(d.seed);
  Status s;
  if (!((s = get(j, "name", d.name)) && (s = optional(j, "seed", seed)) && (s = optional(j, "train_limit", d.train_limit)) &&
        (s = optional(j, "test_limit", d.test_limit)) && (s = optional(j, "text", d.text_path))))
    return Status::fail("member \"data\": " + s.error);
  d.seed = uint64_t(seed);
  return {};
}

struct RequestWriter {
  int64_t id;
  Json operator()(const Train& t) const {
    Json j = object_with("op", "train", id);
    j.set("circuit", Json::string(t.circuit));
    j.set("data", data_json(t.data));
    j.set("options", options_json(t.train));
    j.set("seed", Json::integer(int64_t(t.train.seed)));
    j.set("device", Json::string(t.device));
    j.set("threads", Json::integer(t.threads));
    return j;
  }
  Json operator()(const Export& e) const {
    Json j = object_with("op", "export", id);
    j.set("name", Json::string(e.name));
    return j;
  }
  Json operator()(const Lua& l) const {
    Json j = object_with("op", "lua", id);
    j.set("code", Json::string(l.code));
    j.set("chunk", Json::string(l.chunk));
    j.set("circuit", Json::string(l.circuit));
    j.set("expression", Json::boolean(l.expression));
    return j;
  }
  Json operator()(const Search& s) const {
    Json j = object_with("op", "search", id);
    j.set("space", Json::string(s.space));
    j.set("space_name", Json::string(s.space_name));
    j.set("study", Json::string(s.study));
    j.set("db", Json::string(s.db));
    j.set("strategy", Json::string(s.strategy));
    j.set("device", Json::string(s.device));
    j.set("trials", Json::integer(s.trials));
    j.set("options", options_json(s.train));
    j.set("train_limit", Json::integer(s.train_limit));
    j.set("seed", Json::integer(int64_t(s.seed)));
    j.set("baseline", Json::boolean(s.baseline));
    return j;
  }
  Json operator()(const Cancel& c) const {
    Json j = object_with("op", "cancel", id);
    j.set("target", Json::integer(c.target));
    return j;
  }
  Json operator()(const Shutdown&) const { return object_with("op", "shutdown", id); }
};

struct ReplyWriter {
  int64_t id;
  Json operator()(const Hello& h) const {
    Json j = object_with("reply", "hello", id);
    j.set("protocol", Json::integer(h.protocol));
    j.set("version", Json::string(h.version));
    j.set("torch", Json::string(h.torch));
    j.set("devices", events::json::strings(h.devices));
    j.set("cuda_reason", Json::string(h.cuda_reason));
    j.set("threads", Json::integer(h.threads));
    j.set("plugins", events::json::strings(h.plugins));
    j.set("data_sets", events::json::strings(h.data_sets));
    j.set("pid", Json::integer(h.pid));
    return j;
  }
  Json operator()(const events::Event& e) const {
    Json j = object_with("reply", "event", id);
    for (auto& [k, v] : events::to_json(e).members) j.set(k, v);
    return j;
  }
  Json operator()(const TrainDone& t) const {
    Json j = object_with("reply", "train_done", id);
    j.set("status", Json::string(events::to_string(t.status)));
    j.set("message", Json::string(t.message));
    j.set("device", Json::string(t.device));
    j.set("epochs_done", Json::integer(t.epochs_done));
    j.set("steps", Json::integer(t.steps));
    j.set("seconds", events::json::number(t.seconds));
    j.set("train_loss", events::json::number(t.train_loss));
    j.set("val_loss", events::json::number(t.val_loss));
    j.set("val_accuracy", events::json::number(t.val_accuracy));
    j.set("tested", Json::boolean(t.tested));
    j.set("test_loss", events::json::number(t.test_loss));
    j.set("test_accuracy", events::json::number(t.test_accuracy));
    j.set("exit_histogram", events::json::ints(t.exit_histogram));
    j.set("exit_threshold", events::json::number(t.exit_threshold));
    j.set("exit_accuracy", events::json::number(t.exit_accuracy));
    j.set("exit_cost", events::json::number(t.exit_cost));
    j.set("has_model", Json::boolean(t.has_model));
    return j;
  }
  Json operator()(const LuaDone& l) const {
    Json j = object_with("reply", "lua_done", id);
    j.set("results", Json::string(l.results));
    j.set("error", Json::string(l.error));
    if (l.circuit) j.set("circuit", Json::string(*l.circuit));
    return j;
  }
  Json operator()(const File& f) const {
    Json j = object_with("reply", "file", id);
    j.set("name", Json::string(f.name));
    j.set("offset", Json::integer(f.offset));
    j.set("data", Json::string(base64_encode(f.bytes)));
    j.set("last", Json::boolean(f.last));
    return j;
  }
  Json operator()(const Done& d) const {
    Json j = object_with("reply", "done", id);
    j.set("summary", Json::string(d.summary));
    j.set("error", Json::string(d.error));
    return j;
  }
  Json operator()(const Problem& p) const {
    Json j = object_with("reply", "problem", id);
    j.set("message", Json::string(p.message));
    return j;
  }
};

base::Result<Json> parse_object(std::string_view line) {
  if (line.size() > kMaxLine) return base::Error{"a line of " + std::to_string(line.size()) + " bytes is over the limit of " + std::to_string(kMaxLine)};
  auto j = base::parse_json(line);
  if (!j) return base::Error{"not JSON: " + j.error().message};
  if (j->kind != Json::Kind::Object) return base::Error{std::string("a message is a JSON object, not ") + j->kind_name()};
  return *j;
}

template <class T>
base::Result<T> fail(const std::string& what, const Status& s) {
  return base::Error{what + ": " + s.error};
}

}  // namespace

Json options_json(const engine::TrainOptions& o) {
  Json j = Json::object();
  static const engine::TrainOptions defaults;
  for (const engine::TrainOption& opt : engine::train_options()) {
    engine::OptionValue v = opt.get(o);
    if (v == opt.get(defaults)) continue;
    std::string key(opt.name);
    if (auto* d = std::get_if<double>(&v)) j.set(key, opt.kind == engine::TrainOption::Kind::integer ? Json::integer(int64_t(*d)) : Json::number(*d));
    else if (auto* b = std::get_if<bool>(&v)) j.set(key, Json::boolean(*b));
    else j.set(key, Json::string(std::get<std::string>(v)));
  }
  return j;
}

Status read_options(const Json& j, engine::TrainOptions& o) {
  if (j.kind != Json::Kind::Object) return Status::fail("member \"options\": expected an object");
  for (auto& [key, v] : j.members) {
    const engine::TrainOption* opt = engine::find_train_option(key);
    if (!opt) return Status::fail("member \"options\": no training option \"" + key + "\"");
    engine::OptionValue value;
    if (v.is_number()) value = v.kind == Json::Kind::Int ? double(v.i) : v.f;
    else if (v.kind == Json::Kind::Bool) value = v.b;
    else if (v.kind == Json::Kind::String) value = v.s;
    else return Status::fail("option \"" + key + "\": expected a number, a boolean or a word, got " + v.kind_name());
    if (auto e = engine::set_option(o, *opt, value)) return Status::fail("option \"" + key + "\": " + *e);
  }
  return {};
}

Json to_json(const Request& r) { return std::visit(RequestWriter{r.id}, r.body); }
Json to_json(const Reply& r) { return std::visit(ReplyWriter{r.id}, r.body); }
std::string to_line(const Request& r) { return base::write_json_line(to_json(r)); }
std::string to_line(const Reply& r) { return base::write_json_line(to_json(r)); }

base::Result<Request> parse_request(std::string_view line, int64_t* id_out) {
  auto j = parse_object(line);
  if (!j) return j.error();
  Request r;
  if (Status s = get(*j, "id", r.id); !s) return base::Error{"request without an id: " + s.error};
  if (r.id <= 0) return base::Error{"request id " + std::to_string(r.id) + ": ids are positive"};
  if (id_out) *id_out = r.id;
  std::string op;
  if (Status s = get(*j, "op", op); !s) return base::Error{"request " + std::to_string(r.id) + ": " + s.error};
  std::string what = "request " + std::to_string(r.id) + " (" + op + ")";
  Status s;
  if (op == "train") {
    Train t;
    int64_t seed = 0;
    const Json* data = j->get("data");
    const Json* options = j->get("options");
    if (!((s = get(*j, "circuit", t.circuit)) && (s = data ? read_data(*data, t.data) : Status::fail("member \"data\": missing")) &&
          (s = options ? read_options(*options, t.train) : Status()) && (s = optional(*j, "seed", seed)) && (s = optional(*j, "device", t.device)) &&
          (s = optional(*j, "threads", t.threads))))
      return fail<Request>(what, s);
    t.train.seed = uint64_t(seed);
    r.body = std::move(t);
  } else if (op == "export") {
    Export e;
    if (!(s = get(*j, "name", e.name))) return fail<Request>(what, s);
    r.body = std::move(e);
  } else if (op == "lua") {
    Lua l;
    if (!((s = get(*j, "code", l.code)) && (s = optional(*j, "chunk", l.chunk)) && (s = optional(*j, "circuit", l.circuit)) &&
          (s = optional(*j, "expression", l.expression))))
      return fail<Request>(what, s);
    r.body = std::move(l);
  } else if (op == "search") {
    Search q;
    int64_t seed = 0;
    const Json* options = j->get("options");
    if (!((s = get(*j, "space", q.space)) && (s = optional(*j, "space_name", q.space_name)) && (s = get(*j, "study", q.study)) &&
          (s = get(*j, "db", q.db)) && (s = optional(*j, "strategy", q.strategy)) && (s = optional(*j, "device", q.device)) &&
          (s = optional(*j, "trials", q.trials)) && (s = options ? read_options(*options, q.train) : Status()) &&
          (s = optional(*j, "train_limit", q.train_limit)) && (s = optional(*j, "seed", seed)) && (s = optional(*j, "baseline", q.baseline))))
      return fail<Request>(what, s);
    q.seed = uint64_t(seed);
    r.body = std::move(q);
  } else if (op == "cancel") {
    Cancel c;
    if (!(s = get(*j, "target", c.target))) return fail<Request>(what, s);
    r.body = c;
  } else if (op == "shutdown") {
    r.body = Shutdown{};
  } else {
    return base::Error{"request " + std::to_string(r.id) + ": unknown op \"" + op + "\" (train, export, lua, search, cancel, shutdown)"};
  }
  return r;
}

base::Result<Reply> parse_reply(std::string_view line) {
  auto j = parse_object(line);
  if (!j) return j.error();
  Reply r;
  std::string kind;
  Status s;
  if (!((s = get(*j, "id", r.id)) && (s = get(*j, "reply", kind)))) return base::Error{"reply: " + s.error};
  std::string what = "reply " + kind + " to request " + std::to_string(r.id);
  if (kind == "hello") {
    Hello h;
    if (!((s = get(*j, "protocol", h.protocol)) && (s = get(*j, "version", h.version)) && (s = optional(*j, "torch", h.torch)) &&
          (s = optional(*j, "devices", h.devices)) && (s = optional(*j, "cuda_reason", h.cuda_reason)) && (s = optional(*j, "threads", h.threads)) &&
          (s = optional(*j, "plugins", h.plugins)) && (s = optional(*j, "data_sets", h.data_sets)) && (s = optional(*j, "pid", h.pid))))
      return fail<Reply>(what, s);
    r.body = std::move(h);
  } else if (kind == "event") {
    auto e = events::event_from_json(*j);
    if (!e) return base::Error{what + ": " + e.error().message};
    r.body = std::move(*e);
  } else if (kind == "train_done") {
    TrainDone t;
    std::string status;
    if (!((s = get(*j, "status", status)) && (s = get(*j, "message", t.message)) && (s = optional(*j, "device", t.device)) &&
          (s = optional(*j, "epochs_done", t.epochs_done)) && (s = optional(*j, "steps", t.steps)) && (s = optional(*j, "seconds", t.seconds)) &&
          (s = optional(*j, "train_loss", t.train_loss)) && (s = optional(*j, "val_loss", t.val_loss)) &&
          (s = optional(*j, "val_accuracy", t.val_accuracy)) && (s = optional(*j, "tested", t.tested)) && (s = optional(*j, "test_loss", t.test_loss)) &&
          (s = optional(*j, "test_accuracy", t.test_accuracy)) && (s = optional(*j, "exit_histogram", t.exit_histogram)) && (s = optional(*j, "exit_threshold", t.exit_threshold)) &&
          (s = optional(*j, "exit_accuracy", t.exit_accuracy)) && (s = optional(*j, "exit_cost", t.exit_cost)) &&
          (s = optional(*j, "has_model", t.has_model))))
      return fail<Reply>(what, s);
    auto st = events::parse_run_status(status);
    if (!st) return base::Error{what + ": no run status \"" + status + "\""};
    t.status = *st;
    r.body = std::move(t);
  } else if (kind == "lua_done") {
    LuaDone l;
    std::string c;
    if (!((s = get(*j, "results", l.results)) && (s = get(*j, "error", l.error)))) return fail<Reply>(what, s);
    if (j->get("circuit")) {
      if (!(s = get(*j, "circuit", c))) return fail<Reply>(what, s);
      l.circuit = std::move(c);
    }
    r.body = std::move(l);
  } else if (kind == "file") {
    File f;
    std::string data;
    if (!((s = get(*j, "name", f.name)) && (s = get(*j, "offset", f.offset)) && (s = get(*j, "data", data)) && (s = get(*j, "last", f.last))))
      return fail<Reply>(what, s);
    auto bytes = base64_decode(data);
    if (!bytes) return base::Error{what + ": member \"data\": " + bytes.error().message};
    f.bytes = std::move(*bytes);
    r.body = std::move(f);
  } else if (kind == "done") {
    Done d;
    if (!((s = get(*j, "summary", d.summary)) && (s = get(*j, "error", d.error)))) return fail<Reply>(what, s);
    r.body = std::move(d);
  } else if (kind == "problem") {
    Problem p;
    if (!(s = get(*j, "message", p.message))) return fail<Reply>(what, s);
    r.body = std::move(p);
  } else {
    return base::Error{"reply to request " + std::to_string(r.id) + ": unknown kind \"" + kind + "\""};
  }
  return r;
}

std::string version_problem(const Hello& h, const std::string& where) {
  if (h.protocol == kVersion) return "";
  return where + " speaks protocol " + std::to_string(h.protocol) + " (circuit " + h.version + "); this one speaks protocol " +
         std::to_string(kVersion) + " (circuit " + CIRCUIT_VERSION + "). Install the same version on both sides.";
}

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16 | uint32_t(uint8_t(in[i + 1])) << 8 | uint8_t(in[i + 2]);
    out += kAlphabet[v >> 18], out += kAlphabet[v >> 12 & 63], out += kAlphabet[v >> 6 & 63], out += kAlphabet[v & 63];
  }
  if (size_t rest = in.size() - i) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16 | (rest > 1 ? uint32_t(uint8_t(in[i + 1])) << 8 : 0);
    out += kAlphabet[v >> 18], out += kAlphabet[v >> 12 & 63];
    out += rest > 1 ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

base::Result<std::string> base64_decode(std::string_view in) {
  static const std::array<int8_t, 256> value = [] {
    std::array<int8_t, 256> t;
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[uint8_t(kAlphabet[i])] = int8_t(i);
    return t;
  }();
  if (in.size() % 4) return base::Error{"base64 of " + std::to_string(in.size()) + " characters (not a multiple of 4)"};
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    int pad = (in[i + 3] == '=') + (in[i + 2] == '=');
    if (pad && i + 4 != in.size()) return base::Error{"base64 padding before the end"};
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      int x = (c == '=' && k >= 4 - pad) ? 0 : value[uint8_t(c)];
      if (x < 0) return base::Error{"base64: bad character at " + std::to_string(i + k)};
      v = v << 6 | uint32_t(x);
    }
    out += char(v >> 16);
    if (pad < 2) out += char(v >> 8 & 255);
    if (pad < 1) out += char(v & 255);
  }
  return out;
}

}  // namespace protocol
