// Compiling a circuit into LibTorch: the graph walk. Each op's record in the lowering table
// (ops_*.cpp) turns a node (with its analysed input and output types) into a step: registered
// parameters plus a function over tensors. Named axes become dimension indices there, once, at
// compile time.
#include "model.h"

#include "lowering.h"
#include "memory.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>

#include "circuit/op.h"
#include "engine/detail/device.h"
#include "engine/detail/lowering.h"

namespace engine {

using base::Error;
using base::Result;
using circuit::TensorType;
using torch::Tensor;
using Tensors = std::vector<Tensor>;

namespace detail {

std::pair<int64_t, int64_t> pair_of(const std::vector<int64_t>& v, int64_t dflt) {
  if (v.empty()) return {dflt, dflt};
  if (v.size() == 1) return {v[0], v[0]};
  return {v[0], v[1]};
}

Tensor on_last(const Tensor& x, int64_t d, const std::function<Tensor(const Tensor&)>& f) {
  int64_t last = x.dim() - 1;
  if (d == last) return f(x);
  return f(x.movedim(d, last)).movedim(last, d);
}

Fn unary(std::function<Tensor(const Tensor&)> f) {
  return [f = std::move(f)](const Tensors& a, Ctx&) { return Tensors{f(a[0])}; };
}

const Lowering* find_lowering(std::string_view op) {
  // Built once, in family order; looked up by name only here.
  static const std::vector<Lowering> table = [] {
    std::vector<Lowering> t;
    add_io_lowerings(t);
    add_dense_lowerings(t);
    add_conv_lowerings(t);
    add_shape_lowerings(t);
    add_einsum_lowerings(t);
    add_sequence_lowerings(t);
    add_mixer_lowerings(t);
    add_moe_lowerings(t);
    return t;
  }();
  for (auto& l : table)
    if (l.op == op) return &l;
  return nullptr;
}

Tensors GraphModule::forward(const Tensors& in, Ctx& ctx) {
  std::vector<Tensors> vals(node_count);
  for (size_t k = 0; k < inputs.size() && k < in.size(); ++k) vals[size_t(inputs[k])] = {in[k]};
  Tensors args;
  for (size_t s = 0; s < steps.size(); ++s) {
    const Step& st = steps[s];
    args.clear();
    for (auto [n, p] : st.src) args.push_back(vals[size_t(n)][size_t(p)]);
    vals[size_t(st.node)] = st.fn(args, ctx);
    // Drop values nobody reads any more, so inference does not hold every activation.
    for (auto [n, p] : st.src)
      if (last_use[size_t(n)] == int(s)) vals[size_t(n)].clear();
  }
  Tensors out;
  for (auto [n, p] : outputs) out.push_back(vals[size_t(n)][size_t(p)]);
  return out;
}

Result<std::shared_ptr<GraphModule>> Compiler::body(const Site& s) const {
  return compile_graph(*s.node.body, *s.info.body, bindings, prefix + s.node.name + "/");
}

Result<std::shared_ptr<GraphModule>> compile_graph(const circuit::Graph& g, const circuit::GraphAnalysis& a,
                                                   const circuit::Bindings& b, const std::string& prefix) {
  auto m = std::make_shared<GraphModule>();
  m->node_count = g.nodes.size();
  m->inputs = a.inputs;
  m->last_use.assign(g.nodes.size(), -1);
  Compiler compiler{*m, b, prefix};
  for (int i : a.order) {
    const circuit::Node& node = g.nodes[size_t(i)];
    if (std::find(a.inputs.begin(), a.inputs.end(), i) != a.inputs.end()) continue;  // bound by the caller
    const circuit::NodeInfo& info = a.nodes[size_t(i)];
    std::vector<TensorType> in;
    GraphModule::Step st{i, {}, {}};
    for (size_t p = 0; p < node.inputs.size(); ++p) {
      auto [src, port] = a.sources[size_t(i)][p];
      st.src.push_back({src, port});
      in.push_back(a.nodes[size_t(src)].outputs[size_t(port)]);
      m->last_use[size_t(src)] = int(m->steps.size());
    }
    Site site(node, *circuit::find_op(node.op), in, b, info, prefix + node.name);
    const Lowering* l = find_lowering(node.op);
    if (!l || !l->compile) return Error{site.where() + ": op `" + node.op + "` has no engine implementation"};
    auto fn = l->compile(compiler, site);
    if (!fn) return fn.error();
    st.fn = std::move(*fn);
    m->steps.push_back(std::move(st));
  }
  for (auto& r : g.outputs) {
    int src = g.find(r.node);
    m->outputs.push_back({src, r.port});
    m->last_use[size_t(src)] = int(m->steps.size());  // outputs live to the end
  }
  return m;
}

}  // namespace detail

LoweringInfo lowering_info(std::string_view op) {
  LoweringInfo r;
  const detail::Lowering* l = detail::find_lowering(op);
  if (!l) return r;
  r.found = true, r.graph_input = l->graph_input;
  r.compiles = l->compile != nullptr;
  r.torchscript = l->torchscript != nullptr, r.onnx = l->onnx != nullptr;
  r.torchscript_refusal = l->torchscript_refusal, r.onnx_refusal = l->onnx_refusal;
  return r;
}

std::vector<std::string> lowering_gaps() {
  std::vector<std::string> gaps;
  for (const circuit::OpDef* d : circuit::all_ops()) {
    LoweringInfo l = lowering_info(d->name);
    std::string op = "op `" + d->name + "`: ";
    if (!l.found) gaps.push_back(op + "no lowering record (add one to core/engine/ops_<family>.cpp)");
    if (!l.found || l.graph_input) continue;
    if (!l.compiles) gaps.push_back(op + "no compile lowering");
    if (!l.torchscript && l.torchscript_refusal.empty()) gaps.push_back(op + "no TorchScript form and no refusal");
    if (!l.onnx && l.onnx_refusal.empty()) gaps.push_back(op + "no ONNX form and no refusal");
    if (l.torchscript && !l.torchscript_refusal.empty()) gaps.push_back(op + "both a TorchScript form and a refusal");
    if (l.onnx && !l.onnx_refusal.empty()) gaps.push_back(op + "both an ONNX form and a refusal");
  }
  return gaps;
}

using detail::Ctx;
using detail::GraphModule;

struct Model::Impl {
  circuit::Circuit circuit;
  circuit::GraphAnalysis analysis;
  std::shared_ptr<GraphModule> root;
  at::Device device = at::kCPU;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::unique_ptr<Model>> Model::compile(const circuit::Circuit& c, uint64_t seed, double memory_budget) {
  auto impl = std::make_unique<Impl>();
  impl->circuit = c;
  impl->analysis = circuit::analyze(impl->circuit);
  auto diags = impl->analysis.diagnostics(impl->circuit.graph);
  if (!diags.empty()) return Error{"cannot compile a circuit with errors: " + diags[0].message};
  if (impl->analysis.outputs.empty()) return Error{"cannot compile: the circuit has no outputs"};
  if (auto s = check_model_memory(impl->analysis, memory_budget); !s) return Error{"cannot compile: " + s.error};
  torch::manual_seed(seed);
  Result<std::shared_ptr<GraphModule>> root = Error{};
  try {
    root = detail::compile_graph(impl->circuit.graph, impl->analysis, circuit::cost_bindings(impl->circuit), "");
  } catch (const c10::Error& e) {  // LibTorch refusing a size or an allocation: its message, not its backtrace
    return Error{"cannot compile: " + std::string(e.what_without_backtrace())};
  }
  if (!root) return root.error();
  impl->root = *root;
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

std::vector<at::Tensor> Model::forward(const std::vector<at::Tensor>& inputs, std::vector<at::Tensor>* aux,
                                       std::vector<events::ExpertLoad>* telemetry, int64_t step) {
  Ctx ctx;
  ctx.aux = aux;
  ctx.moe.telemetry = telemetry;
  ctx.moe.step = step;
  if (impl_->device.is_cpu()) return impl_->root->forward(inputs, ctx);
  // A caller that moved its batch (the training loop, pinned and non-blocking) pays nothing here.
  std::vector<at::Tensor> moved;
  for (auto& t : inputs) moved.push_back(detail::to_device(t, device()));
  return impl_->root->forward(moved, ctx);
}

void Model::set_training(bool on) { impl_->root->train(on); }
void Model::to(const Device& device) {
  at::Device d = detail::to_torch(device);
  if (d == impl_->device) return;
  impl_->root->to(d);
  impl_->device = d;
}
Device Model::device() const { return detail::from_torch(impl_->device); }
torch::nn::Module& Model::module() { return *impl_->root; }
const torch::nn::Module& Model::module() const { return *impl_->root; }
int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (auto& p : impl_->root->parameters()) n += p.numel();
  return n;
}
const circuit::Circuit& Model::circuit() const { return impl_->circuit; }
const circuit::GraphAnalysis& Model::analysis() const { return impl_->analysis; }

int runtime_threads() { return at::get_num_threads(); }

RuntimeInfo configure_runtime(int threads, bool keep_heap) {
  RuntimeInfo r;
  // Debian's LibTorch allocates CPU tensors with plain malloc. Left to its defaults, glibc hands
  // the multi-megabyte activation buffers back to the kernel at the end of every step and the
  // next step page-faults them in again (a fifth to a third of a CNN step). Fixing both
  // thresholds keeps them: buffers up to 32 MiB come from the heap, and the heap is trimmed only
  // above 1 GiB of free top. A variable set by the user (GLIBC_TUNABLES) wins.
  r.allocator = "glibc defaults";
  if (keep_heap && !std::getenv("GLIBC_TUNABLES")) {
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1)
      r.allocator = "glibc, mmap threshold 32 MiB, trim threshold 1 GiB";
  } else if (std::getenv("GLIBC_TUNABLES")) {
    r.allocator = std::string("glibc, GLIBC_TUNABLES=") + std::getenv("GLIBC_TUNABLES");
  }
  r.cores = int(std::thread::hardware_concurrency());
  if (threads <= 0) threads = r.cores > 0 ? r.cores : 1;
  torch::set_num_threads(threads);
  r.threads = at::get_num_threads();
  r.torch_version = TORCH_VERSION;
  // The line that names the parallel backend (OpenMP, and with which thread count).
  std::istringstream info(at::get_parallel_info());
  for (std::string l; std::getline(info, l);)
    if (l.find("OpenMP") != std::string::npos || l.find("backend") != std::string::npos) {
      r.parallel += (r.parallel.empty() ? "" : "; ") + l.substr(l.find_first_not_of(" \t"));
    }
  // Which BLAS the libblas.so.3 alternative resolves to (OpenBLAS is ~50x the reference BLAS).
  if (void* h = dlopen("libblas.so.3", RTLD_LAZY | RTLD_NOLOAD)) {
    if (void* sym = dlsym(h, "sgemm_")) {
      Dl_info di;
      if (dladdr(sym, &di) && di.dli_fname) {
        char resolved[4096];
        r.blas = realpath(di.dli_fname, resolved) ? resolved : di.dli_fname;
      }
    }
    dlclose(h);
  }
  r.blas_is_system = !r.blas.empty();
  if (r.blas.empty()) r.blas = "LibTorch's own (libblas.so.3 is not loaded)";
  return r;
}

}  // namespace engine
