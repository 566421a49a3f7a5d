// `circuit check`, `circuit info`, `circuit ops` and `circuit import`.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "circuit/analysis.h"
#include "base/file.h"
#include "base/units.h"
#include "circuit/circuit_file.h"
#include "circuit/hf_import.h"
#include "circuit/op.h"
#include "commands.h"
#include "script/engine_extension.h"

using namespace circuit;

namespace cli {

namespace {

std::string thousands(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string bytes(int64_t b) { return base::bytes_text(double(b)); }

std::string shapes(const Shapes& s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) out += (k ? " " : "") + to_string(s[k]);
  return out;
}

struct Row {
  std::string path, op, out;
  int depth;
  const NodeInfo* info;
};

void rows(const Graph& g, const GraphAnalysis& a, const std::string& prefix, int depth, std::vector<Row>& out) {
  auto visit = [&](int i) {
    const Node& n = g.nodes[size_t(i)];
    const NodeInfo& info = a.nodes[size_t(i)];
    std::string o = !info.error.empty() ? "(error)" : info.blocked ? "(not checked)" : shapes(info.outputs);
    std::string op = n.op;
    if (n.op == "moe" && info.body) op += " x" + std::to_string(std::get<int64_t>(n.attrs.at("experts")));
    out.push_back({prefix + n.name, op, o, depth, &info});
    if (n.body && info.body) rows(*n.body, *info.body, prefix + n.name + "/", depth + 1, out);
  };
  for (int i : a.order) visit(i);
  for (size_t i = 0; i < a.nodes.size(); ++i)
    if (a.position[i] < 0) visit(int(i));
}

Json cost_json(const Cost& c) {
  Json j = Json::object();
  j.set("params", Json::integer(c.params));
  j.set("active_params", Json::integer(c.active_params));
  j.set("flops", Json::integer(c.flops));
  j.set("activation_bytes", Json::integer(c.activation_bytes));
  if (!c.inference.empty()) {
    Json m = Json::object(), w = Json::array();
    m.set("per_token", Json::integer(c.inference.per_token));
    for (auto& [window, e] : c.inference.windowed) {
      Json x = Json::object();
      x.set("window", Json::integer(window));
      x.set("per_token", Json::integer(e));
      w.push(std::move(x));
    }
    m.set("windowed", std::move(w));
    m.set("state", Json::integer(c.inference.state));
    j.set("inference_elements", std::move(m));
  }
  return j;
}

// Bytes per element of the inference cache: bf16 (what generation keeps caches in), f16 or fp32.
int cache_dtype_bytes(const std::string& name) { return name == "fp32" ? 4 : name == "bf16" || name == "f16" ? 2 : 0; }

Json type_json(const TensorType& t) {
  Json j = Json::object();
  Json axes = Json::array();
  for (auto& a : t.axes) {
    Json x = Json::object();
    x.set("name", Json::string(a.name));
    x.set("size", a.size.concrete() ? Json::integer(a.size.n) : Json::string(a.size.sym));
    axes.push(std::move(x));
  }
  j.set("axes", std::move(axes));
  j.set("dtype", Json::string(dtype_name(t.dtype)));
  return j;
}

bool load(const std::string& path, Circuit& out) {
  // Router plugins add names to the `moe` node's router choices; load them once, first.
  static std::unique_ptr<script::Host> routers = [] {
    try {
      return script::host_with_plugin_routers();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: %s\n", e.what());
      return std::unique_ptr<script::Host>();
    }
  }();
  auto c = load_circuit(path);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.error().message.c_str());
    return false;
  }
  out = std::move(*c);
  return true;
}

void print_diagnostics(const std::string& file, const std::vector<Diagnostic>& d) {
  for (auto& x : d) std::fprintf(stderr, "%s: error: %s\n", file.c_str(), x.message.c_str());
}

}  // namespace

// Runs `per_file` on every FILE argument that loads; returns the worst exit code.
static int each_circuit(const char* cmd, const std::vector<std::string>& args, const std::function<int(const std::string&, Circuit&)>& per_file) {
  if (args.empty()) {
    std::fprintf(stderr, "usage: circuit %s FILE...\n", cmd);
    return 2;
  }
  int worst = 0;
  for (auto& path : args) {
    Circuit c;
    worst = std::max(worst, load(path, c) ? per_file(path, c) : 2);
  }
  return worst;
}

int check(const std::vector<std::string>& args) {
  return each_circuit("check", args, [](const std::string& path, Circuit& c) {
    GraphAnalysis a = analyze(c);
    auto d = a.diagnostics(c.graph);
    if (d.empty() && a.outputs.empty() && a.error.empty()) d.push_back({"", "graph has no outputs"});
    if (!d.empty()) {
      print_diagnostics(path, d);
      return 1;
    }
    std::printf("%s: ok (%zu nodes, %s params, %s FLOPs per example)\n", path.c_str(), c.graph.nodes.size(),
                thousands(a.total.params).c_str(), thousands(a.total.flops).c_str());
    return 0;
  });
}

int info(const std::vector<std::string>& args) {
  const char* usage = "usage: circuit info FILE [--json] [--context TOKENS] [--cache-dtype bf16|f16|fp32]\n";
  std::string path, dtype = "bf16";
  bool json = false;
  int64_t context = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") json = true;
    else if ((a == "--context" || a == "--cache-dtype") && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (a == "--cache-dtype") dtype = v;
      else {
        char* end = nullptr;
        long long n = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end || n < 1) return std::fprintf(stderr, "circuit info: --context takes a positive number of tokens, got `%s`\n%s", v.c_str(), usage), 2;
        context = n;
      }
    } else if (path.empty() && a.rfind("--", 0) != 0) path = a;
    else {
      std::fprintf(stderr, "circuit info: unexpected argument `%s`\n%s", a.c_str(), usage);
      return 2;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  int elem = cache_dtype_bytes(dtype);
  if (!elem) return std::fprintf(stderr, "circuit info: --cache-dtype is bf16, f16 or fp32, got `%s`\n", dtype.c_str()), 2;
  Circuit c;
  if (!load(path, c)) return 2;
  if (!context) context = inference_context(c);
  GraphAnalysis a = analyze(c);
  std::vector<Row> table;
  rows(c.graph, a, "", 0, table);
  auto diags = a.diagnostics(c.graph);

  if (json) {
    Json j = Json::object();
    j.set("file", Json::string(path));
    j.set("name", Json::string(c.name));
    j.set("ok", Json::boolean(diags.empty()));
    Json nodes = Json::array();
    for (auto& r : table) {
      Json n = Json::object();
      n.set("path", Json::string(r.path));
      n.set("op", Json::string(r.op.substr(0, r.op.find(' '))));
      Json outs = Json::array();
      for (auto& t : r.info->outputs) outs.push(type_json(t));
      n.set("outputs", std::move(outs));
      n.set("cost", cost_json(r.info->cost));
      if (!r.info->error.empty()) n.set("error", Json::string(r.info->error));
      nodes.push(std::move(n));
    }
    j.set("nodes", std::move(nodes));
    Json outs = Json::array();
    for (auto& t : a.outputs) outs.push(type_json(t));
    j.set("outputs", std::move(outs));
    j.set("total", cost_json(a.total));
    Json inf = Json::object();
    inf.set("context", Json::integer(context));
    inf.set("cache_dtype", Json::string(dtype));
    inf.set("bytes_per_token", Json::integer(a.total.inference.per_token_unbounded() * elem));
    inf.set("bytes_at_context", Json::integer(a.total.inference.at(context) * elem));
    j.set("inference", std::move(inf));
    Json dj = Json::array();
    for (auto& d : diags) {
      Json x = Json::object();
      x.set("node", Json::string(d.node));
      x.set("message", Json::string(d.message));
      dj.push(std::move(x));
    }
    j.set("diagnostics", std::move(dj));
    std::fputs(write_json(j).c_str(), stdout);
    return diags.empty() ? 0 : 1;
  }

  std::printf("%s", c.name.empty() ? path.c_str() : c.name.c_str());
  if (!c.doc.empty()) std::printf(" — %s", c.doc.c_str());
  std::printf("\n\n");
  size_t wn = 4, wo = 2, ws = 6;
  for (auto& r : table) {
    wn = std::max(wn, r.path.substr(r.path.rfind('/') + 1).size() + 2 * size_t(r.depth));
    wo = std::max(wo, r.op.size());
    ws = std::max(ws, r.out.size());
  }
  // The inference column only where something keeps memory between steps.
  const InferenceMemory& mem = a.total.inference;
  std::string at_context = "at " + thousands(context) + " tok";
  bool infer = !mem.empty();
  std::printf("%-*s  %-*s  %-*s  %13s  %15s", int(wn), "node", int(wo), "op", int(ws), "output", "params", "FLOPs");
  if (infer) std::printf("  %14s", at_context.c_str());
  std::printf("\n");
  for (auto& r : table) {
    std::string name = std::string(size_t(2 * r.depth), ' ') + r.path.substr(r.path.rfind('/') + 1);
    std::printf("%-*s  %-*s  %-*s  %13s  %15s", int(wn), name.c_str(), int(wo), r.op.c_str(), int(ws), r.out.c_str(),
                thousands(r.info->cost.params).c_str(), thousands(r.info->cost.flops).c_str());
    if (infer) std::printf("  %14s", r.info->cost.inference.empty() ? "" : bytes(r.info->cost.inference.at(context) * elem).c_str());
    std::printf("\n");
  }
  std::printf("\ntotal: %s params (%s active), %s FLOPs per example, %s of activations per example, %s of fp32 weights\n",
              thousands(a.total.params).c_str(), thousands(a.total.active_params).c_str(), thousands(a.total.flops).c_str(),
              bytes(a.total.activation_bytes).c_str(), bytes(a.total.params * 4).c_str());
  if (infer) {
    std::string capped;
    for (auto& [w, e] : mem.windowed) capped += (capped.empty() ? "" : ", ") + bytes(e * elem) + " of it for at most " + thousands(w) + " tokens";
    std::printf("inference memory per sequence (%s cache): %s per token of context%s, %s of fixed state; at %s tokens: %s\n", dtype.c_str(),
                bytes(mem.per_token_unbounded() * elem).c_str(), capped.empty() ? "" : (" (" + capped + ")").c_str(), bytes(mem.state * elem).c_str(),
                thousands(context).c_str(), bytes(mem.at(context) * elem).c_str());
  }
  std::printf("outputs: %s\n", a.outputs.empty() ? "(unknown)" : shapes(a.outputs).c_str());
  if (!diags.empty()) {
    std::printf("\n");
    print_diagnostics(path, diags);
    return 1;
  }
  return 0;
}

int fmt(const std::vector<std::string>& args) {
  return each_circuit("fmt", args, [](const std::string& path, Circuit& c) {
    Status s = save_circuit(c, path);
    if (!s) std::fprintf(stderr, "%s\n", s.error.c_str());
    return s ? 0 : 2;
  });
}

int ops(const std::vector<std::string>& args) {
  bool json = !args.empty() && args[0] == "--json";
  Json all = Json::array();
  for (const OpDef* d : all_ops()) {
    if (!json) {
      std::printf("%-12s %-10s %s%s\n", d->name.c_str(), circuit::to_string(d->category), d->learned ? "[learned] " : "", d->doc.c_str());
      for (auto& a : d->attrs)
        std::printf("    %-22s %-17s %s%s\n", a.name.c_str(), attr_type_name(a.type),
                    a.default_value ? ("= " + to_string(*a.default_value) + "  ").c_str() : "(required)  ", a.doc.c_str());
      continue;
    }
    Json o = Json::object();
    o.set("name", Json::string(d->name));
    o.set("category", Json::string(circuit::to_string(d->category)));
    o.set("doc", Json::string(d->doc));
    o.set("learned", Json::boolean(d->learned));
    Json at = Json::array();
    for (auto& a : d->attrs) {
      Json x = Json::object();
      x.set("name", Json::string(a.name));
      x.set("type", Json::string(attr_type_name(a.type)));
      x.set("required", Json::boolean(!a.default_value));
      x.set("doc", Json::string(a.doc));
      at.push(std::move(x));
    }
    o.set("attrs", std::move(at));
    all.push(std::move(o));
  }
  if (json) std::fputs(write_json(all).c_str(), stdout);
  return 0;
}

int import_model(const std::vector<std::string>& args) {
  const char* usage =
      "usage: circuit import CONFIG.json -o OUT.circuit.json [--layers N] [--width D] [--experts E] [--vocab V] [--seq T]\n"
      "  a Hugging Face config.json (model_type llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, qwen3_moe, olmoe,\n"
      "  deepseek_v2, deepseek_v3, qwen3_next, mamba2) becomes a circuit, one block per layer; the options shrink it\n"
      "  to train here, keeping which layers are dense, MoE, attention or recurrent\n";
  std::string in, out;
  HfShrink shrink;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto number = [&](int64_t& v) {
      if (i + 1 >= args.size()) return false;
      char* end = nullptr;
      long long n = std::strtoll(args[++i].c_str(), &end, 10);
      if (*end || n < 1) return false;
      v = n;
      return true;
    };
    bool ok = true;
    if (a == "-o" && i + 1 < args.size()) out = args[++i];
    else if (a == "--layers") ok = number(shrink.layers);
    else if (a == "--width") ok = number(shrink.width);
    else if (a == "--experts") ok = number(shrink.experts);
    else if (a == "--vocab") ok = number(shrink.vocab);
    else if (a == "--seq") ok = number(shrink.seq);
    else if (a == "--help" || a == "-h") return std::fputs(usage, stdout), 0;
    else if (in.empty() && a.rfind("-", 0) != 0) in = a;
    else ok = false;
    if (!ok) return std::fprintf(stderr, "circuit import: bad argument `%s`\n%s", a.c_str(), usage), 2;
  }
  if (in.empty() || out.empty()) return std::fprintf(stderr, "%s", usage), 2;
  bool not_config = false;
  auto imp = import_hf_file(in, shrink, &not_config);
  if (!imp && not_config) {
    // By content: ONNX is protobuf, whose ModelProto starts with its ir_version field (tag 0x08).
    auto text = base::read_file(in);
    if (text && !text->empty() && (*text)[0] == 0x08)
      return std::fprintf(stderr, "circuit import: %s is an ONNX model; ONNX import is not built yet (issue 27)\n", in.c_str()), 2;
    return std::fprintf(stderr, "circuit import: %s\n", imp.error().message.c_str()), 2;
  }
  if (!imp) return std::fprintf(stderr, "circuit import: %s\n", imp.error().message.c_str()), 1;
  std::string name = std::filesystem::path(out).filename().string();  // the circuit is named as its file
  imp->circuit.name = name.substr(0, name.find('.'));
  GraphAnalysis a = analyze(imp->circuit);
  auto diags = a.diagnostics(imp->circuit.graph);
  if (!diags.empty()) {
    std::fprintf(stderr, "%s: the imported circuit does not check (a bug in the importer):\n", in.c_str());
    print_diagnostics(out, diags);
    return 1;
  }
  Status saved = save_circuit(imp->circuit, out);
  if (!saved) return std::fprintf(stderr, "circuit import: %s\n", saved.error.c_str()), 2;
  int64_t blocks = 0;
  for (auto& n : imp->circuit.graph.nodes) blocks += n.op == "block";
  const InferenceMemory& mem = a.total.inference;
  std::printf("%s: %s, %lld layers: %s params (%s active per token: the input embedding counts one row); KV cache %s per token (bf16), %s of state\n",
              out.c_str(), imp->model_type.c_str(), (long long)blocks, thousands(a.total.params).c_str(), thousands(a.total.active_params).c_str(),
              bytes(mem.per_token_unbounded() * 2).c_str(), bytes(mem.state * 2).c_str());
  if (!imp->ignored.empty()) {
    std::printf("ignored (inference or training settings, not the architecture):");
    for (auto& k : imp->ignored) std::printf("\n  %s", k.c_str());
    std::printf("\n");
  }
  return 0;
}

}  // namespace cli
