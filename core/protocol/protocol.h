// The `circuit serve --stdio` protocol: JSON lines both ways. A front end (the studio, `circuit
// train --on`, a notebook) writes requests on the engine's stdin; the engine writes replies on its
// stdout, each carrying the id of the request it answers (0: the hello, and errors about lines
// that had no readable id). The engine's stderr is its own log. docs/protocol.md is the reference;
// this header is its one implementation, used by both sides. No LibTorch, no Qt, no Lua.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "engine/data.h"
#include "engine/train.h"
#include "events/events.h"

namespace protocol {

/// Bumped whenever a request or reply changes meaning; both sides refuse another version.
inline constexpr int kVersion = 1;
/// The longest line either side accepts (a circuit with many nodes is well under 1 MiB; an
/// exported model comes back in chunks below this).
inline constexpr size_t kMaxLine = 16u << 20;

// ---- Requests (front end -> engine) ----

/// Train a circuit (the text of a .circuit.json) on a named data set; replies with events while
/// it runs and a TrainDone. The trained model stays in the engine for Export.
struct Train {
  std::string circuit;
  engine::DataOptions data;     // name, seed, limits; resolved on the engine's machine
  engine::TrainOptions train;   // the option table's options (bus, cancel and device are the engine's)
  std::string device = "auto";  // cpu | cuda | cuda:N | auto
  int threads = 0;              // 0: the engine's default
};
/// Export the last trained model; `name` ends in .pt (TorchScript) or .onnx. Replies with File
/// chunks and a Done.
struct Export {
  std::string name;
};
/// Run Lua in the engine's one persistent state (globals survive between requests, as in a
/// notebook kernel). `circuit` (a .circuit.json text) becomes the global `c` first. Replies with
/// log events for print() and a LuaDone.
struct Lua {
  std::string code, chunk = "=console", circuit;
  bool expression = true;  // try `return <code>` first, as lua.c does for a line
};
/// Run or resume a study in a store the engine can reach; replies with log events per trial and a
/// Done. Front ends watch the store for the trials.
struct Search {
  std::string space, space_name;  // the search space's JSON text, and its file name for messages
  std::string study, db, strategy = "nsga2", device = "auto";
  int trials = 12;
  engine::TrainOptions train;
  int64_t train_limit = 2000;
  uint64_t seed = 0;
  bool baseline = true;
};
/// Stop the request `target`: training ends after the current step, Lua is interrupted, a
/// search stops between trials.
struct Cancel {
  int64_t target = 0;
};
/// End the engine after cancelling what runs.
struct Shutdown {};

using RequestBody = std::variant<Train, Export, Lua, Search, Cancel, Shutdown>;
struct Request {
  int64_t id = 0;  // > 0, chosen by the front end, unique per engine
  RequestBody body;
};

// ---- Replies (engine -> front end) ----

/// The engine's first line.
struct Hello {
  int protocol = kVersion;
  std::string version;        // circuit's
  std::string torch;          // LibTorch's
  std::vector<std::string> devices;  // "cpu", "cuda:0 (NVIDIA H100)", ...
  std::string cuda_reason;    // why CUDA is unavailable, or ""
  int threads = 0;
  std::vector<std::string> plugins, data_sets;
  int64_t pid = 0;
};
/// How a training ended.
struct TrainDone {
  events::RunStatus status = events::RunStatus::error;
  std::string message, device;
  int epochs_done = 0;
  int64_t steps = 0;
  double seconds = 0, train_loss = 0, val_loss = 0, val_accuracy = 0;
  bool tested = false;
  double test_loss = 0, test_accuracy = 0;
  std::vector<int64_t> exit_histogram;  // with exit heads: examples leaving at each head
  double exit_threshold = 0, exit_accuracy = 0, exit_cost = 0;  // the histogram's confidence threshold
  bool has_model = false;               // a model is kept for Export
};
/// How a Lua request ended: its results (tab-separated, as lua.c prints them), its error with
/// the traceback, and `c` when the script changed it.
struct LuaDone {
  std::string results, error;
  std::optional<std::string> circuit;
};
/// A piece of a file the engine made (an export): base64 in the line, decoded here.
struct File {
  std::string name;
  int64_t offset = 0;
  std::string bytes;
  bool last = false;
};
/// A request that is not Train or Lua ended: `error` is empty on success.
struct Done {
  std::string summary, error;
};
/// A line the engine could not take (malformed, unknown, too long, wrong version, busy).
struct Problem {
  std::string message;
};

using ReplyBody = std::variant<Hello, events::Event, TrainDone, LuaDone, File, Done, Problem>;
struct Reply {
  int64_t id = 0;
  ReplyBody body;
};

base::Json to_json(const Request& r);
base::Json to_json(const Reply& r);
/// The request a line holds. On an error, `id` gets the line's id when it had a readable one, so
/// the engine can answer that request.
base::Result<Request> parse_request(std::string_view line, int64_t* id = nullptr);
base::Result<Reply> parse_reply(std::string_view line);
/// One line of JSON with its newline.
std::string to_line(const Request& r);
std::string to_line(const Reply& r);

/// The option table's options that differ from their defaults, as a JSON object.
base::Json options_json(const engine::TrainOptions& o);
/// Options from a JSON object of option-table names; unknown names and bad values are errors.
base::Status read_options(const base::Json& j, engine::TrainOptions& o);

/// Why a front end must not talk to the engine that said `hello` (another protocol version, both
/// versions named; `where`: "the engine there"), or "".
std::string version_problem(const Hello& hello, const std::string& where);

/// Splits a byte stream into lines, both sides' reader: a line over kMaxLine is dropped up to its
/// end (on_oversize once), "\r\n" ends a line too, and blank lines are skipped.
class LineSplitter {
 public:
  /// Feeds bytes; calls on_line(line) for each complete line. Returns false when on_line did.
  template <class OnLine, class OnOversize>
  bool feed(std::string_view bytes, OnLine&& on_line, OnOversize&& on_oversize) {
    size_t scanned = buf_.size(), start = 0;
    buf_.append(bytes);
    for (size_t nl; (nl = buf_.find('\n', scanned)) != std::string::npos; start = scanned = nl + 1) {
      std::string_view line(buf_.data() + start, nl - start);
      if (dropping_) {
        dropping_ = false;
        continue;
      }
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
      if (!on_line(line)) return buf_.erase(0, nl + 1), false;
    }
    buf_.erase(0, start);
    if (buf_.size() > kMaxLine) {
      if (!dropping_) on_oversize();
      buf_.clear(), dropping_ = true;
    }
    return true;
  }
  /// Bytes of an unfinished line (at the end of the stream: it was cut).
  size_t pending() const { return dropping_ ? 0 : buf_.size(); }

 private:
  std::string buf_;
  bool dropping_ = false;
};

std::string base64_encode(std::string_view bytes);
base::Result<std::string> base64_decode(std::string_view text);

}  // namespace protocol
