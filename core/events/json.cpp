#include "events/json.h"

#include <cmath>
#include <limits>
#include <optional>

namespace events {

using base::Json;
using base::Status;

namespace json {

namespace {
Status wrong(const char* key, const char* expected, const Json* v) {
  return Status::fail(std::string("member \"") + key + "\": expected " + expected + (v ? std::string(", got ") + v->kind_name() : ", but it is missing"));
}
}  // namespace

Status get(const Json& j, const char* key, int64_t& out) {
  const Json* v = j.get(key);
  if (!v || v->kind != Json::Kind::Int) return wrong(key, "an integer", v);
  out = v->i;
  return {};
}
Status get(const Json& j, const char* key, int& out) {
  int64_t v = 0;
  if (Status s = get(j, key, v); !s) return s;
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) return Status::fail(std::string("member \"") + key + "\": out of range");
  out = int(v);
  return {};
}
Status get(const Json& j, const char* key, double& out) {
  const Json* v = j.get(key);
  if (v && v->kind == Json::Kind::Null) return out = std::numeric_limits<double>::quiet_NaN(), Status();
  if (!v || !v->is_number()) return wrong(key, "a number", v);
  out = v->kind == Json::Kind::Int ? double(v->i) : v->f;
  return {};
}
Status get(const Json& j, const char* key, bool& out) {
  const Json* v = j.get(key);
  if (!v || v->kind != Json::Kind::Bool) return wrong(key, "true or false", v);
  out = v->b;
  return {};
}
Status get(const Json& j, const char* key, std::string& out) {
  const Json* v = j.get(key);
  if (!v || v->kind != Json::Kind::String) return wrong(key, "a string", v);
  out = v->s;
  return {};
}
template <class T, class F>
Status get_array(const Json& j, const char* key, std::vector<T>& out, const char* expected, F item) {
  const Json* v = j.get(key);
  if (!v || v->kind != Json::Kind::Array) return wrong(key, expected, v);
  std::vector<T> r;
  r.reserve(v->items.size());
  for (const Json& x : v->items) {
    std::optional<T> t = item(x);
    if (!t) return wrong(key, expected, v);
    r.push_back(std::move(*t));
  }
  out = std::move(r);
  return {};
}
Status get(const Json& j, const char* key, std::vector<int64_t>& out) {
  return get_array(j, key, out, "an array of integers", [](const Json& x) -> std::optional<int64_t> {
    if (x.kind != Json::Kind::Int) return std::nullopt;
    return x.i;
  });
}
Status get(const Json& j, const char* key, std::vector<double>& out) {
  return get_array(j, key, out, "an array of numbers", [](const Json& x) -> std::optional<double> {
    if (x.kind == Json::Kind::Null) return std::numeric_limits<double>::quiet_NaN();
    if (!x.is_number()) return std::nullopt;
    return x.kind == Json::Kind::Int ? double(x.i) : x.f;
  });
}
Status get(const Json& j, const char* key, std::vector<std::string>& out) {
  return get_array(j, key, out, "an array of strings", [](const Json& x) -> std::optional<std::string> {
    if (x.kind != Json::Kind::String) return std::nullopt;
    return x.s;
  });
}

Json number(double v) { return std::isfinite(v) ? Json::number(v) : Json::null(); }
Json ints(const std::vector<int64_t>& v) {
  Json a = Json::array();
  for (int64_t x : v) a.push(Json::integer(x));
  return a;
}
Json numbers(const std::vector<double>& v) {
  Json a = Json::array();
  for (double x : v) a.push(number(x));
  return a;
}
Json strings(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const std::string& x : v) a.push(Json::string(x));
  return a;
}

}  // namespace json

namespace {

const char* level_name(LogLine::Level l) {
  switch (l) {
    case LogLine::Level::warning: return "warning";
    case LogLine::Level::error: return "error";
    default: return "info";
  }
}

struct Writer {
  Json operator()(const TrainStep& s) const {
    Json j = Json::object();
    j.set("event", Json::string("step"));
    j.set("step", Json::integer(s.step));
    j.set("total_steps", Json::integer(s.total_steps));
    j.set("epoch", Json::integer(s.epoch));
    j.set("epochs", Json::integer(s.epochs));
    j.set("loss", json::number(s.loss));
    j.set("accuracy", json::number(s.accuracy));
    j.set("lr", json::number(s.lr));
    j.set("examples_per_second", json::number(s.examples_per_second));
    return j;
  }
  Json operator()(const EpochEnd& e) const {
    Json j = Json::object();
    j.set("event", Json::string("epoch"));
    j.set("epoch", Json::integer(e.epoch));
    j.set("epochs", Json::integer(e.epochs));
    j.set("train_loss", json::number(e.train_loss));
    j.set("val_loss", json::number(e.val_loss));
    j.set("val_accuracy", json::number(e.val_accuracy));
    j.set("seconds", json::number(e.seconds));
    return j;
  }
  // The members --telemetry has always written, in its order.
  Json operator()(const ExpertLoad& l) const {
    Json j = Json::object();
    j.set("event", Json::string("expert_load"));
    j.set("layer", Json::string(l.layer));
    j.set("step", Json::integer(l.step));
    j.set("tokens", Json::integer(l.tokens));
    j.set("before", json::ints(l.before));
    j.set("after", json::ints(l.after));
    j.set("dropped", Json::integer(l.dropped));
    j.set("mean_gate", json::numbers(l.mean_gate));
    j.set("entropy", json::number(l.entropy));
    j.set("load_cv", json::number(l.load_cv));
    j.set("max_vio", json::number(l.max_vio));
    j.set("active_per_token", json::number(l.active_per_token));
    if (!l.previous_layer.empty()) {
      j.set("previous_layer", Json::string(l.previous_layer));
      j.set("transitions", json::ints(l.transitions));
    }
    return j;
  }
  Json operator()(const LogLine& l) const {
    Json j = Json::object();
    j.set("event", Json::string("log"));
    j.set("level", Json::string(level_name(l.level)));
    j.set("text", Json::string(l.text));
    return j;
  }
  Json operator()(const RunEnd& r) const {
    Json j = Json::object();
    j.set("event", Json::string("run_end"));
    j.set("status", Json::string(to_string(r.status)));
    j.set("message", Json::string(r.message));
    return j;
  }
};

}  // namespace

Json to_json(const Event& e) { return std::visit(Writer{}, e); }

base::Result<Event> event_from_json(const Json& j) {
  using json::get;
  if (j.kind != Json::Kind::Object) return base::Error{std::string("an event is a JSON object, not ") + j.kind_name()};
  std::string kind;
  if (Status s = get(j, "event", kind); !s) return base::Error{s.error};
  Status s;
  auto fail = [&](const std::string& what) { return base::Error{"event \"" + kind + "\": " + what}; };
  if (kind == "step") {
    TrainStep t;
    if (!((s = get(j, "step", t.step)) && (s = get(j, "total_steps", t.total_steps)) && (s = get(j, "epoch", t.epoch)) && (s = get(j, "epochs", t.epochs)) &&
          (s = get(j, "loss", t.loss)) && (s = get(j, "accuracy", t.accuracy)) && (s = get(j, "lr", t.lr)) &&
          (s = get(j, "examples_per_second", t.examples_per_second))))
      return fail(s.error);
    return Event(t);
  }
  if (kind == "epoch") {
    EpochEnd e;
    if (!((s = get(j, "epoch", e.epoch)) && (s = get(j, "epochs", e.epochs)) && (s = get(j, "train_loss", e.train_loss)) &&
          (s = get(j, "val_loss", e.val_loss)) && (s = get(j, "val_accuracy", e.val_accuracy)) && (s = get(j, "seconds", e.seconds))))
      return fail(s.error);
    return Event(e);
  }
  if (kind == "expert_load") {
    ExpertLoad l;
    if (!((s = get(j, "layer", l.layer)) && (s = get(j, "step", l.step)) && (s = get(j, "tokens", l.tokens)) && (s = get(j, "before", l.before)) &&
          (s = get(j, "after", l.after)) && (s = get(j, "dropped", l.dropped)) && (s = get(j, "mean_gate", l.mean_gate)) &&
          (s = get(j, "entropy", l.entropy)) && (s = get(j, "load_cv", l.load_cv)) && (s = get(j, "max_vio", l.max_vio)) &&
          (s = get(j, "active_per_token", l.active_per_token)) && (s = json::optional(j, "previous_layer", l.previous_layer)) &&
          (s = json::optional(j, "transitions", l.transitions))))
      return fail(s.error);
    return Event(l);
  }
  if (kind == "log") {
    LogLine l;
    std::string level;
    if (!((s = get(j, "level", level)) && (s = get(j, "text", l.text)))) return fail(s.error);
    if (level == "info") l.level = LogLine::Level::info;
    else if (level == "warning") l.level = LogLine::Level::warning;
    else if (level == "error") l.level = LogLine::Level::error;
    else return fail("member \"level\": expected info, warning or error, got \"" + level + "\"");
    return Event(l);
  }
  if (kind == "run_end") {
    RunEnd r;
    std::string status;
    if (!((s = get(j, "status", status)) && (s = get(j, "message", r.message)))) return fail(s.error);
    auto st = parse_run_status(status);
    if (!st) return fail("member \"status\": no run status \"" + status + "\"");
    r.status = *st;
    return Event(r);
  }
  return base::Error{"no event kind \"" + kind + "\""};
}

}  // namespace events
