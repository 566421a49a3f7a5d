#include "detail/tensor.h"

#include <torch/torch.h>

#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "binding.h"
#include "host.h"

namespace script {

namespace {

using at::Tensor;

constexpr const char* kTensorType = "circuit.Tensor";

// ---- arguments ---------------------------------------------------------------------------------

Tensor* to_tensor_ptr(lua_State* L, int idx) { return static_cast<Tensor*>(luaL_testudata(L, idx, kTensorType)); }

// What the host counts for a tensor (Host::hold_native): its storage, once however many views share it.
const void* storage_key(const Tensor& t) { return t.defined() && t.has_storage() ? t.storage().unsafeGetStorageImpl() : nullptr; }

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A freed tensor (tensor:free(), a <close> variable gone out of scope) stays a userdata holding
// no tensor; using it again is this error, not a crash.
void check_live(const Tensor& t, const char* fn, int idx) {
  if (!t.defined())
    throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " is a tensor that was freed (tensor:free() or a <close> variable)");
}

// Room for a new tensor of `shape` and `dtype`, asked before allocating it.
void need_room(lua_State* L, at::IntArrayRef shape, at::ScalarType dtype, const char* fn) {
  int64_t n = 1;
  for (int64_t d : shape) n *= std::max<int64_t>(d, 0);
  std::string err = Host::of(L).make_room(size_t(n) * c10::elementSize(dtype), std::string("`circuit.tensor.") + fn + "` of " + shape_text(shape) + " " +
                                                                                    std::string(c10::toString(dtype)));
  if (!err.empty()) throw LuaError(err);
}

// A tensor, or a number (or boolean) made into a 0-dim tensor, for arithmetic and comparisons.
Tensor operand(lua_State* L, int idx, const char* fn, const char* what) {
  if (Tensor* t = to_tensor_ptr(L, idx)) return check_live(*t, fn, idx), *t;
  if (lua_type(L, idx) == LUA_TNUMBER)
    return lua_isinteger(L, idx) ? torch::scalar_tensor(int64_t(lua_tointeger(L, idx)), torch::kLong)
                                 : torch::scalar_tensor(double(lua_tonumber(L, idx)), torch::kFloat);
  if (lua_type(L, idx) == LUA_TBOOLEAN) return torch::scalar_tensor(bool(lua_toboolean(L, idx)), torch::kBool);
  throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (" + what + ") must be a tensor or a number, got " +
                 type_phrase(L, idx));
}

double arg_number(lua_State* L, int idx, const char* fn, const char* what) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (" + what + ") must be a number, got " +
                   type_phrase(L, idx));
  return lua_tonumber(L, idx);
}

int64_t opt_integer(lua_State* L, int idx, const char* fn, const char* what, int64_t fallback) {
  return lua_isnoneornil(L, idx) ? fallback : arg_integer(L, idx, fn, what);
}

bool opt_bool(lua_State* L, int idx, bool fallback) { return lua_isnoneornil(L, idx) ? fallback : lua_toboolean(L, idx); }

// A shape: a table of integers, or the integers themselves from `idx` on.
std::vector<int64_t> arg_shape(lua_State* L, int idx, const char* fn) {
  std::vector<int64_t> shape;
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, idx);
    for (lua_Integer k = 1; k <= n; ++k) {
      lua_rawgeti(L, idx, k);
      int ok = 0;
      lua_Integer v = lua_tointegerx(L, -1, &ok);
      lua_pop(L, 1);
      if (!ok) throw LuaError(std::string("`") + fn + "`: shape element " + std::to_string(k) + " must be an integer");
      shape.push_back(v);
    }
    return shape;
  }
  for (int i = idx; i <= lua_gettop(L) && lua_type(L, i) == LUA_TNUMBER; ++i) shape.push_back(arg_integer(L, i, fn, "size"));
  if (shape.empty() && !lua_isnoneornil(L, idx))
    throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (shape) must be a table of integers, got " +
                   type_phrase(L, idx));
  return shape;
}

std::vector<Tensor> arg_tensor_list(lua_State* L, int idx, const char* fn) {
  arg_table(L, idx, fn, "tensors");
  std::vector<Tensor> out;
  lua_Integer n = luaL_len(L, idx);
  for (lua_Integer k = 1; k <= n; ++k) {
    lua_rawgeti(L, idx, k);
    Tensor* t = to_tensor_ptr(L, -1);
    lua_pop(L, 1);
    if (!t) throw LuaError(std::string("`") + fn + "`: element " + std::to_string(k) + " must be a tensor");
    check_live(*t, fn, idx);
    out.push_back(*t);
  }
  return out;
}

at::ScalarType dtype_of(const std::string& name, const char* fn) {
  if (name == "float") return torch::kFloat;
  if (name == "double") return torch::kDouble;
  if (name == "long") return torch::kLong;
  if (name == "int") return torch::kInt;
  if (name == "bool") return torch::kBool;
  throw LuaError(std::string("`") + fn + "`: unknown dtype `" + name + "` (float, double, long, int, bool)");
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "float";
    case torch::kDouble: return "double";
    case torch::kLong: return "long";
    case torch::kInt: return "int";
    case torch::kBool: return "bool";
    default: return std::string(c10::toString(t));
  }
}

at::TensorOptions options_arg(lua_State* L, int idx, const char* fn, at::ScalarType fallback = torch::kFloat) {
  auto name = opt_string(L, idx, fn, "dtype");
  return torch::TensorOptions().dtype(name ? dtype_of(*name, fn) : fallback);
}

const Tensor& self(lua_State* L, const char* fn) { return check_tensor(L, 1, fn, "self"); }

int push(lua_State* L, Tensor t) {
  push_tensor(L, std::move(t));
  return 1;
}

int push_pair(lua_State* L, std::tuple<Tensor, Tensor> p) {
  push_tensor(L, std::get<0>(p));
  push_tensor(L, std::get<1>(p));
  return 2;
}

void push_scalar(lua_State* L, const Tensor& t) {
  Tensor v = t.detach();
  if (v.scalar_type() == torch::kBool) lua_pushboolean(L, v.item<bool>());
  else if (at::isIntegralType(v.scalar_type(), false)) lua_pushinteger(L, v.item<int64_t>());
  else lua_pushnumber(L, v.item<double>());
}

void push_list(lua_State* L, const Tensor& t) {
  if (t.dim() == 0) return push_scalar(L, t);
  lua_createtable(L, int(t.size(0)), 0);
  for (int64_t i = 0; i < t.size(0); ++i) {
    push_list(L, t.select(0, i));
    lua_rawseti(L, -2, i + 1);
  }
}

// Nested Lua tables of numbers -> values and shape; every row must have the same length.
void read_nested(lua_State* L, int idx, size_t depth, std::vector<int64_t>& shape, std::vector<double>& values, bool& integral,
                 const char* fn) {
  if (lua_type(L, idx) == LUA_TNUMBER) {
    if (depth != shape.size()) throw LuaError(std::string("`") + fn + "`: rows of different depth");
    integral = integral && lua_isinteger(L, idx);
    values.push_back(lua_tonumber(L, idx));
    return;
  }
  if (lua_type(L, idx) != LUA_TTABLE) throw LuaError(std::string("`") + fn + "`: expected numbers or tables, got " + type_phrase(L, idx));
  int64_t n = int64_t(luaL_len(L, idx));
  if (depth == shape.size()) shape.push_back(n);
  else if (shape[depth] != n)
    throw LuaError(std::string("`") + fn + "`: row of length " + std::to_string(n) + " where " + std::to_string(shape[depth]) +
                   " was expected (rows must be equally long)");
  for (int64_t k = 1; k <= n; ++k) {
    lua_rawgeti(L, idx, k);
    read_nested(L, lua_gettop(L), depth + 1, shape, values, integral, fn);
    lua_pop(L, 1);
  }
}

// ---- creation: circuit.tensor.* ------------------------------------------------------------------

// The factories ask for room before they allocate: the sizes are known from the shape.
template <Tensor (*make)(at::IntArrayRef, at::TensorOptions)>
int factory(lua_State* L, const char* fn, int options_at) {
  auto shape = arg_shape(L, 1, fn);
  auto options = options_at ? options_arg(L, options_at, fn) : torch::TensorOptions().dtype(torch::kFloat);
  need_room(L, shape, c10::typeMetaToScalarType(options.dtype()), fn);
  return push(L, make(shape, options));
}
Tensor zeros_(at::IntArrayRef s, at::TensorOptions o) { return torch::zeros(s, o); }
Tensor ones_(at::IntArrayRef s, at::TensorOptions o) { return torch::ones(s, o); }
Tensor randn_(at::IntArrayRef s, at::TensorOptions o) { return torch::randn(s, o); }
Tensor rand_(at::IntArrayRef s, at::TensorOptions o) { return torch::rand(s, o); }
int f_zeros(lua_State* L) { return factory<zeros_>(L, "zeros", 2); }
int f_ones(lua_State* L) { return factory<ones_>(L, "ones", 2); }
int f_full(lua_State* L) {
  auto shape = arg_shape(L, 1, "full");
  auto options = options_arg(L, 3, "full");
  need_room(L, shape, c10::typeMetaToScalarType(options.dtype()), "full");
  return push(L, torch::full(shape, arg_number(L, 2, "full", "value"), options));
}
int f_randn(lua_State* L) { return factory<randn_>(L, "randn", 0); }
int f_rand(lua_State* L) { return factory<rand_>(L, "rand", 0); }
int f_arange(lua_State* L) {
  bool ints = lua_isinteger(L, 1) && (lua_isnoneornil(L, 2) || lua_isinteger(L, 2)) && (lua_isnoneornil(L, 3) || lua_isinteger(L, 3));
  double a = arg_number(L, 1, "arange", "start or end");
  double b = lua_isnoneornil(L, 2) ? a : arg_number(L, 2, "arange", "end");
  double s = lua_isnoneornil(L, 3) ? 1 : arg_number(L, 3, "arange", "step");
  if (lua_isnoneornil(L, 2)) a = 0;
  return push(L, torch::arange(a, b, s, torch::TensorOptions().dtype(ints ? torch::kLong : torch::kFloat)));
}
int f_from(lua_State* L) {
  std::vector<int64_t> shape;
  std::vector<double> values;
  bool integral = true;
  if (lua_type(L, 1) != LUA_TTABLE && lua_type(L, 1) != LUA_TNUMBER)
    throw LuaError("`from`: argument 1 (values) must be a number or a table of numbers, got " + type_phrase(L, 1));
  read_nested(L, 1, 0, shape, values, integral, "from");
  Tensor t = torch::tensor(values, torch::kDouble).reshape(shape);
  auto name = opt_string(L, 2, "from", "dtype");
  return push(L, t.to(name ? dtype_of(*name, "from") : integral ? torch::kLong : torch::kFloat));
}
int f_eye(lua_State* L) { return push(L, torch::eye(arg_integer(L, 1, "eye", "n"))); }
int f_cat(lua_State* L) { return push(L, torch::cat(arg_tensor_list(L, 1, "cat"), opt_integer(L, 2, "cat", "dim", 0))); }
int f_stack(lua_State* L) { return push(L, torch::stack(arg_tensor_list(L, 1, "stack"), opt_integer(L, 2, "stack", "dim", 0))); }
int f_where(lua_State* L) {
  return push(L, torch::where(check_tensor(L, 1, "where", "condition").to(torch::kBool), operand(L, 2, "where", "a"), operand(L, 3, "where", "b")));
}
int f_manual_seed(lua_State* L) {
  torch::manual_seed(uint64_t(arg_integer(L, 1, "manual_seed", "seed")));
  return 0;
}
int f_is_tensor(lua_State* L) {
  lua_pushboolean(L, is_tensor(L, 1));
  return 1;
}
int f_randn_like(lua_State* L) { return push(L, torch::randn_like(check_tensor(L, 1, "randn_like", "tensor"))); }
int f_zeros_like(lua_State* L) { return push(L, torch::zeros_like(check_tensor(L, 1, "zeros_like", "tensor"))); }

// Runs fn(...) without recording gradients. Lua errors inside fn propagate after the guard is gone.
int f_no_grad(lua_State* L) {
  if (lua_type(L, 1) != LUA_TFUNCTION) throw LuaError("`no_grad`: argument 1 (fn) must be a function, got " + type_phrase(L, 1));
  int base = 0, status = 0;
  {
    torch::NoGradGuard guard;
    status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  }
  if (status != LUA_OK) throw LuaError(lua_tostring(L, -1) ? lua_tostring(L, -1) : "error in no_grad");
  return lua_gettop(L) - base;
}

// ---- methods -------------------------------------------------------------------------------------

int m_shape(lua_State* L) {
  const Tensor& t = self(L, "shape");
  lua_createtable(L, int(t.dim()), 0);
  for (int64_t d = 0; d < t.dim(); ++d) lua_pushinteger(L, t.size(d)), lua_rawseti(L, -2, d + 1);
  return 1;
}
int m_size(lua_State* L) {
  lua_pushinteger(L, self(L, "size").size(arg_integer(L, 2, "size", "dim")));
  return 1;
}
int m_dim(lua_State* L) {
  lua_pushinteger(L, self(L, "dim").dim());
  return 1;
}
int m_numel(lua_State* L) {
  lua_pushinteger(L, self(L, "numel").numel());
  return 1;
}
int m_dtype(lua_State* L) {
  std::string n = dtype_name(self(L, "dtype").scalar_type());
  lua_pushlstring(L, n.data(), n.size());
  return 1;
}
int m_item(lua_State* L) {
  const Tensor& t = self(L, "item");
  if (t.numel() != 1) throw LuaError("`item`: the tensor has " + std::to_string(t.numel()) + " elements, not 1");
  push_scalar(L, t);
  return 1;
}
int m_tolist(lua_State* L) {
  push_list(L, self(L, "tolist").detach().contiguous());
  return 1;
}
int m_to(lua_State* L) { return push(L, self(L, "to").to(dtype_of(arg_string(L, 2, "to", "dtype"), "to"))); }
int m_float(lua_State* L) { return push(L, self(L, "float").to(torch::kFloat)); }
int m_long(lua_State* L) { return push(L, self(L, "long").to(torch::kLong)); }
int m_bool(lua_State* L) { return push(L, self(L, "bool").to(torch::kBool)); }
int m_requires_grad(lua_State* L) {
  const Tensor& t = self(L, "requires_grad");
  if (lua_isnoneornil(L, 2)) {
    lua_pushboolean(L, t.requires_grad());
    return 1;
  }
  Tensor(t).requires_grad_(lua_toboolean(L, 2));
  lua_settop(L, 1);
  return 1;
}
int m_grad(lua_State* L) {
  const Tensor& g = self(L, "grad").grad();
  if (!g.defined()) return lua_pushnil(L), 1;
  return push(L, g);
}
int m_backward(lua_State* L) {
  const Tensor& t = self(L, "backward");
  if (lua_isnoneornil(L, 2)) {
    if (t.numel() != 1) throw LuaError("`backward`: the tensor has " + std::to_string(t.numel()) + " elements; pass a gradient of its shape");
    t.backward();
  } else {
    t.backward(check_tensor(L, 2, "backward", "gradient"));
  }
  return 0;
}
int m_detach(lua_State* L) { return push(L, self(L, "detach").detach()); }
int m_clone(lua_State* L) { return push(L, self(L, "clone").clone()); }
int m_contiguous(lua_State* L) { return push(L, self(L, "contiguous").contiguous()); }

#define UNARY(name, expr)                        \
  int m_##name(lua_State* L) {                   \
    const Tensor& t = self(L, #name);            \
    return push(L, expr);                        \
  }
UNARY(neg, -t)
UNARY(exp, t.exp())
UNARY(log, t.log())
UNARY(sqrt, t.sqrt())
UNARY(abs, t.abs())
UNARY(sign, t.sign())
UNARY(relu, torch::relu(t))
UNARY(sigmoid, torch::sigmoid(t))
UNARY(tanh, torch::tanh(t))
UNARY(softplus, torch::softplus(t))
UNARY(logical_not, t.logical_not())
UNARY(floor, t.floor())
UNARY(nonzero, t.nonzero())
UNARY(t, t.t())
#undef UNARY

#define BINARY(name, expr)                                 \
  int m_##name(lua_State* L) {                             \
    Tensor a = operand(L, 1, #name, "self");               \
    Tensor b = operand(L, 2, #name, "other");              \
    return push(L, expr);                                  \
  }
BINARY(add, a + b)
BINARY(sub, a - b)
BINARY(mul, a * b)
BINARY(div, a / b)
BINARY(pow, a.pow(b))
BINARY(eq, a.eq(b))
BINARY(ne, a.ne(b))
BINARY(lt, a.lt(b))
BINARY(le, a.le(b))
BINARY(gt, a.gt(b))
BINARY(ge, a.ge(b))
BINARY(logical_and, a.to(torch::kBool).logical_and(b.to(torch::kBool)))
BINARY(logical_or, a.to(torch::kBool).logical_or(b.to(torch::kBool)))
BINARY(maximum, torch::maximum(a, b))
BINARY(minimum, torch::minimum(a, b))
BINARY(remainder, a.remainder(b))
BINARY(matmul, a.matmul(b))
#undef BINARY

int m_clamp(lua_State* L) {
  const Tensor& t = self(L, "clamp");
  c10::optional<at::Scalar> lo, hi;
  if (!lua_isnoneornil(L, 2)) lo = arg_number(L, 2, "clamp", "min");
  if (!lua_isnoneornil(L, 3)) hi = arg_number(L, 3, "clamp", "max");
  return push(L, torch::clamp(t, lo, hi));
}

// Reductions: without a dim over everything; with one, over that dim (keepdim optional).
#define REDUCE(name, all, along)                                  \
  int m_##name(lua_State* L) {                                    \
    const Tensor& t = self(L, #name);                             \
    if (lua_isnoneornil(L, 2)) return push(L, all);               \
    int64_t d = arg_integer(L, 2, #name, "dim");                  \
    bool keep = opt_bool(L, 3, false);                            \
    return push(L, along);                                        \
  }
REDUCE(sum, t.sum(), t.sum(d, keep))
REDUCE(mean, t.mean(), t.mean(d, keep))
REDUCE(argmax, t.argmax(), t.argmax(d, keep))
REDUCE(argmin, t.argmin(), t.argmin(d, keep))
REDUCE(logsumexp, t.flatten().logsumexp(0), t.logsumexp(d, keep))
#undef REDUCE

int m_max(lua_State* L) {
  const Tensor& t = self(L, "max");
  if (lua_isnoneornil(L, 2)) return push(L, t.max());
  return push_pair(L, t.max(arg_integer(L, 2, "max", "dim"), opt_bool(L, 3, false)));
}
int m_min(lua_State* L) {
  const Tensor& t = self(L, "min");
  if (lua_isnoneornil(L, 2)) return push(L, t.min());
  return push_pair(L, t.min(arg_integer(L, 2, "min", "dim"), opt_bool(L, 3, false)));
}
int m_softmax(lua_State* L) { return push(L, torch::softmax(self(L, "softmax"), opt_integer(L, 2, "softmax", "dim", -1))); }
int m_log_softmax(lua_State* L) { return push(L, torch::log_softmax(self(L, "log_softmax"), opt_integer(L, 2, "log_softmax", "dim", -1))); }
int m_cumsum(lua_State* L) { return push(L, self(L, "cumsum").cumsum(arg_integer(L, 2, "cumsum", "dim"))); }

int m_reshape(lua_State* L) { return push(L, self(L, "reshape").reshape(arg_shape(L, 2, "reshape"))); }
int m_view(lua_State* L) { return push(L, self(L, "view").view(arg_shape(L, 2, "view"))); }
int m_expand(lua_State* L) { return push(L, self(L, "expand").expand(arg_shape(L, 2, "expand"))); }
int m_permute(lua_State* L) { return push(L, self(L, "permute").permute(arg_shape(L, 2, "permute"))); }
int m_transpose(lua_State* L) {
  return push(L, self(L, "transpose").transpose(arg_integer(L, 2, "transpose", "dim0"), arg_integer(L, 3, "transpose", "dim1")));
}
int m_unsqueeze(lua_State* L) { return push(L, self(L, "unsqueeze").unsqueeze(arg_integer(L, 2, "unsqueeze", "dim"))); }
int m_squeeze(lua_State* L) {
  const Tensor& t = self(L, "squeeze");
  return push(L, lua_isnoneornil(L, 2) ? t.squeeze() : t.squeeze(arg_integer(L, 2, "squeeze", "dim")));
}
int m_flatten(lua_State* L) {
  return push(L, self(L, "flatten").flatten(opt_integer(L, 2, "flatten", "start", 0), opt_integer(L, 3, "flatten", "end", -1)));
}
int m_narrow(lua_State* L) {
  return push(L, self(L, "narrow").narrow(arg_integer(L, 2, "narrow", "dim"), arg_integer(L, 3, "narrow", "start"),
                                          arg_integer(L, 4, "narrow", "length")));
}
int m_select(lua_State* L) { return push(L, self(L, "select").select(arg_integer(L, 2, "select", "dim"), arg_integer(L, 3, "select", "index"))); }
int m_index_select(lua_State* L) {
  return push(L, self(L, "index_select").index_select(arg_integer(L, 2, "index_select", "dim"), check_tensor(L, 3, "index_select", "index")));
}
int m_repeat_interleave(lua_State* L) {
  const Tensor& t = self(L, "repeat_interleave");
  if (is_tensor(L, 2)) return push(L, t.repeat_interleave(check_tensor(L, 2, "repeat_interleave", "repeats")));
  c10::optional<int64_t> dim;
  if (!lua_isnoneornil(L, 3)) dim = arg_integer(L, 3, "repeat_interleave", "dim");
  return push(L, t.repeat_interleave(arg_integer(L, 2, "repeat_interleave", "repeats"), dim));
}

int m_topk(lua_State* L) {
  const Tensor& t = self(L, "topk");
  return push_pair(L, t.topk(arg_integer(L, 2, "topk", "k"), opt_integer(L, 3, "topk", "dim", -1), opt_bool(L, 4, true)));
}
int m_sort(lua_State* L) {
  const Tensor& t = self(L, "sort");
  return push_pair(L, t.sort(/*stable=*/true, opt_integer(L, 2, "sort", "dim", -1), opt_bool(L, 3, false)));
}
int m_argsort(lua_State* L) {
  const Tensor& t = self(L, "argsort");
  return push(L, std::get<1>(t.sort(/*stable=*/true, opt_integer(L, 2, "argsort", "dim", -1), opt_bool(L, 3, false))));
}
int m_gather(lua_State* L) {
  return push(L, self(L, "gather").gather(arg_integer(L, 2, "gather", "dim"), check_tensor(L, 3, "gather", "index")));
}
int m_scatter(lua_State* L) {
  const Tensor& t = self(L, "scatter");
  int64_t d = arg_integer(L, 2, "scatter", "dim");
  const Tensor& idx = check_tensor(L, 3, "scatter", "index");
  if (lua_type(L, 4) == LUA_TNUMBER) return push(L, t.scatter(d, idx, at::Scalar(lua_tonumber(L, 4))));
  return push(L, t.scatter(d, idx, check_tensor(L, 4, "scatter", "src")));
}
int m_scatter_add(lua_State* L) {
  return push(L, self(L, "scatter_add").scatter_add(arg_integer(L, 2, "scatter_add", "dim"), check_tensor(L, 3, "scatter_add", "index"),
                                                    check_tensor(L, 4, "scatter_add", "src")));
}
int m_index_add(lua_State* L) {
  return push(L, self(L, "index_add").index_add(arg_integer(L, 2, "index_add", "dim"), check_tensor(L, 3, "index_add", "index"),
                                                check_tensor(L, 4, "index_add", "src")));
}
int m_masked_fill(lua_State* L) {
  return push(L, self(L, "masked_fill").masked_fill(check_tensor(L, 2, "masked_fill", "mask").to(torch::kBool),
                                                    at::Scalar(arg_number(L, 3, "masked_fill", "value"))));
}
int m_bincount(lua_State* L) {
  return push(L, torch::bincount(self(L, "bincount"), {}, opt_integer(L, 2, "bincount", "minlength", 0)));
}
int m_one_hot(lua_State* L) {
  return push(L, torch::one_hot(self(L, "one_hot"), opt_integer(L, 2, "one_hot", "classes", -1)));
}

int m_tostring(lua_State* L) {
  if (Tensor* freed = to_tensor_ptr(L, 1); freed && !freed->defined()) return lua_pushliteral(L, "tensor (freed)"), 1;
  const Tensor& t = self(L, "tostring");
  std::ostringstream s;
  s << "tensor(" << dtype_name(t.scalar_type()) << ", [";
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  s << "]";
  if (t.numel() <= 16) {
    s << ", {";
    Tensor f = t.detach().flatten().to(torch::kDouble).contiguous();
    for (int64_t i = 0; i < f.numel(); ++i) s << (i ? ", " : "") << f.data_ptr<double>()[i];
    s << "}";
  }
  if (t.requires_grad()) s << ", requires_grad";
  s << ")";
  std::string out = s.str();
  lua_pushlstring(L, out.data(), out.size());
  return 1;
}
int m_len(lua_State* L) {
  const Tensor& t = self(L, "len");
  lua_pushinteger(L, t.dim() ? t.size(0) : 1);
  return 1;
}
// Stops counting the tensor's storage and lets go of it; the userdata stays, holding no tensor.
void release(lua_State* L, Tensor& t) {
  if (const void* key = storage_key(t)) Host::of(L).drop_native(key);
  t = Tensor();
}

int m_gc(lua_State* L) {
  if (Tensor* t = to_tensor_ptr(L, 1)) {
    release(L, *t);
    t->~Tensor();
  }
  return 0;
}

// tensor:free() and the __close of a <close> variable: the memory goes back now, not at the next collection.
int m_free(lua_State* L) {
  Tensor* t = to_tensor_ptr(L, 1);
  if (!t) throw LuaError("`free`: argument 1 (self) must be a tensor, got " + type_phrase(L, 1));
  release(L, *t);
  return 0;
}

#define P(name) {#name, protect<m_##name>}
const luaL_Reg kMethods[] = {
    P(shape), P(size), P(dim), P(numel), P(dtype), P(item), P(tolist), P(to), P(float), P(long), P(bool),
    P(requires_grad), P(grad), P(backward), P(detach), P(clone), P(contiguous), P(free),
    P(neg), P(exp), P(log), P(sqrt), P(abs), P(sign), P(relu), P(sigmoid), P(tanh), P(softplus), P(logical_not), P(floor),
    P(nonzero), P(t),
    P(add), P(sub), P(mul), P(div), P(pow), P(eq), P(ne), P(lt), P(le), P(gt), P(ge), P(logical_and), P(logical_or),
    P(maximum), P(minimum), P(remainder), P(matmul), P(clamp),
    P(sum), P(mean), P(argmax), P(argmin), P(logsumexp), P(max), P(min), P(softmax), P(log_softmax), P(cumsum),
    P(reshape), P(view), P(expand), P(permute), P(transpose), P(unsqueeze), P(squeeze), P(flatten), P(narrow), P(select),
    P(index_select), P(repeat_interleave), P(topk), P(sort), P(argsort), P(gather), P(scatter), P(scatter_add), P(index_add),
    P(masked_fill), P(bincount), P(one_hot),
    {nullptr, nullptr}};
#undef P

#define F(name) {#name, protect<f_##name>}
const luaL_Reg kFunctions[] = {F(zeros), F(ones), F(full), F(randn), F(rand), F(arange), F(from), F(eye), F(cat), F(stack),
                               F(where), F(manual_seed), F(is_tensor), F(randn_like), F(zeros_like), F(no_grad), {nullptr, nullptr}};
#undef F

void make_metatable(lua_State* L) {
  if (!luaL_newmetatable(L, kTensorType)) return lua_pop(L, 1);
  luaL_newlib(L, kMethods);
  lua_setfield(L, -2, "__index");
  const luaL_Reg meta[] = {{"__add", protect<m_add>}, {"__sub", protect<m_sub>}, {"__mul", protect<m_mul>},
                           {"__div", protect<m_div>}, {"__pow", protect<m_pow>}, {"__unm", protect<m_neg>},
                           {"__tostring", protect<m_tostring>}, {"__len", protect<m_len>}, {"__gc", m_gc}, {"__close", protect<m_free>},
                           {nullptr, nullptr}};
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
}

}  // namespace

void push_tensor(lua_State* L, at::Tensor t) {
  Host& host = Host::of(L);
  const void* key = storage_key(t);
  size_t bytes = key ? t.storage().nbytes() : 0;
  if (key && !host.holds_native(key))
    if (std::string err = host.make_room(bytes, "a tensor of " + shape_text(t.sizes()) + " " + std::string(c10::toString(t.scalar_type())));
        !err.empty())
      throw LuaError(err);
  void* p = lua_newuserdatauv(L, sizeof(Tensor), 0);
  new (p) Tensor(std::move(t));
  luaL_setmetatable(L, kTensorType);
  if (key) host.hold_native(key, bytes);
}

bool is_tensor(lua_State* L, int idx) { return to_tensor_ptr(L, idx) != nullptr; }

const at::Tensor& check_tensor(lua_State* L, int idx, const char* fn, const char* what) {
  if (Tensor* t = to_tensor_ptr(L, idx)) return check_live(*t, fn, idx), *t;
  throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (" + what + ") must be a tensor, got " +
                 type_phrase(L, idx));
}

void open_tensor_functions(lua_State* L, int module) {
  module = lua_absindex(L, module);
  make_metatable(L);
  luaL_newlib(L, kFunctions);
  lua_setfield(L, module, "tensor");
}

}  // namespace script
