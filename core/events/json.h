// The one JSON form of every event: `circuit serve`'s protocol streams it, `circuit train
// --telemetry` writes it, and the studio reads it back. Each event is an object whose "event"
// member names its kind ("step", "epoch", "expert_load", "log", "run_end").
#pragma once
#include "base/json.h"
#include "base/result.h"
#include "events/events.h"

namespace events {

/// The event as a JSON object. Non-finite numbers (a NaN loss) are written as null.
base::Json to_json(const Event& e);
/// The event a JSON object describes; the error names the member that is missing or mistyped.
base::Result<Event> event_from_json(const base::Json& j);

/// Small readers shared by every JSON form of the protocol: each says which member is wrong.
namespace json {
base::Status get(const base::Json& j, const char* key, int64_t& out);
base::Status get(const base::Json& j, const char* key, int& out);
base::Status get(const base::Json& j, const char* key, double& out);  // null reads as NaN
base::Status get(const base::Json& j, const char* key, bool& out);
base::Status get(const base::Json& j, const char* key, std::string& out);
base::Status get(const base::Json& j, const char* key, std::vector<int64_t>& out);
base::Status get(const base::Json& j, const char* key, std::vector<double>& out);
base::Status get(const base::Json& j, const char* key, std::vector<std::string>& out);
/// As get(), but a missing member leaves `out` as it is.
template <class T>
base::Status optional(const base::Json& j, const char* key, T& out) {
  return j.get(key) ? get(j, key, out) : base::Status();
}
base::Json number(double v);  // null when not finite
base::Json ints(const std::vector<int64_t>& v);
base::Json numbers(const std::vector<double>& v);
base::Json strings(const std::vector<std::string>& v);
}  // namespace json

}  // namespace events
