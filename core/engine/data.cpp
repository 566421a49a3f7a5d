#include "data.h"

#include "circuit/analysis.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numeric>

namespace engine {

int64_t HostArray::row_size() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

namespace {

using base::Error;
using base::Result;
using base::Status;

constexpr int64_t kIgnore = -100;  // target of a position that is not scored

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// xoshiro256** seeded through splitmix64. Written out rather than taken from <random> because the
/// standard distributions differ between libraries, and a seed must name the same data everywhere.
class Rng {
 public:
  // One stream per split, so resizing one split leaves the others as they were.
  Rng(uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    x = splitmix64(x) ^ (stream * 0xD1B54A32D192ED03ull);
    for (auto& s : s_) s = splitmix64(x);
  }

  uint64_t next() {
    uint64_t r = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0], s_[3] ^= s_[1], s_[1] ^= s_[2], s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return r;
  }

  // Uniform in [0, n): rejecting the low remainder keeps it exactly uniform.
  int64_t below(int64_t n) {
    uint64_t un = uint64_t(n), floor = (0 - un) % un, r;
    do r = next();
    while (r < floor);
    return int64_t(r % un);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

enum Stream : uint64_t { kTrain = 1, kVal = 2, kTest = 3 };

HostArray ints(std::vector<int64_t> shape) {
  HostArray a;
  a.is_int = true;
  int64_t n = 1;
  for (auto d : shape) n *= d;
  a.i64.assign(size_t(n), 0);
  a.shape = std::move(shape);
  return a;
}

int64_t capped(int64_t n, int64_t limit) { return limit > 0 ? std::min(n, limit) : n; }

Status positive(const char* option, int64_t v) {
  if (v <= 0) return Status::fail("option " + std::string(option) + " must be positive, got " + std::to_string(v));
  return {};
}

// ---- Fashion-MNIST ---------------------------------------------------------------------------

constexpr int64_t kSide = 28, kPixels = kSide * kSide, kValHeldOut = 5000;

uint32_t big_endian(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }

struct Idx {
  int64_t count = 0;
  std::vector<uint8_t> payload;  // count records, each kPixels bytes (images) or 1 byte (labels)
};

// Reads a whole file into memory in one pass; a header that lies about its size shows up as a
// truncated read, not as a huge allocation up front.
Result<Idx> read_idx(const std::string& path, bool images) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) {
    if (errno == ENOENT)
      return Error{path + ": not found; install the Debian package `dataset-fashion-mnist` (it puts the files in /usr/share/datasets/fashion-mnist)"};
    return Error{path + ": cannot open: " + std::strerror(errno)};
  }
  gzbuffer(f, 1 << 20);
  auto fail = [&](const std::string& what) {
    gzclose(f);
    return Error{path + ": " + what};
  };
  auto read = [&](uint8_t* dst, size_t n) -> int64_t {
    int got = gzread(f, dst, unsigned(n));
    int code = Z_OK;
    gzerror(f, &code);
    // A gzip stream cut short reads short with Z_BUF_ERROR: the caller reports that as truncation.
    return got < 0 || (code != Z_OK && code != Z_BUF_ERROR) ? -1 : got;
  };
  auto zlib_error = [&]() {
    int code = Z_OK;
    std::string msg = gzerror(f, &code);
    if (msg.starts_with(path + ": ")) msg.erase(0, path.size() + 2);  // zlib prefixes the path we already lead with
    return "cannot decompress (" + msg + "); the file is damaged, reinstall `dataset-fashion-mnist`";
  };

  const size_t header = images ? 16 : 8;
  const uint32_t magic = images ? 2051 : 2049;
  uint8_t h[16];
  int64_t got = read(h, header);
  if (got < 0) return fail(zlib_error());
  if (size_t(got) < header) return fail("too short for an IDX header (" + std::to_string(got) + " bytes)");
  if (uint32_t m = big_endian(h); m != magic)
    return fail("bad magic number " + std::to_string(m) + ": an IDX " + (images ? "image" : "label") + " file starts with " + std::to_string(magic));
  Idx idx;
  idx.count = big_endian(h + 4);
  int64_t record = 1;
  if (images) {
    uint32_t rows = big_endian(h + 8), cols = big_endian(h + 12);
    if (rows != kSide || cols != kSide)
      return fail("images are " + std::to_string(rows) + "x" + std::to_string(cols) + ", expected 28x28");
    record = kPixels;
  }

  // Reserving only address space is free, and a lying header is still capped.
  const size_t total = size_t(idx.count * record), chunk = size_t(16) << 20;
  idx.payload.reserve(std::min(total, size_t(1) << 28));
  while (idx.payload.size() < total) {
    size_t at = idx.payload.size(), n = std::min(chunk, total - at);
    idx.payload.resize(at + n);
    got = read(idx.payload.data() + at, n);
    if (got < 0) return fail(zlib_error());
    if (size_t(got) < n)
      return fail("truncated: the header declares " + std::to_string(idx.count) + (images ? " images" : " labels") + " but the data ends after " +
                  std::to_string((at + size_t(got)) / size_t(record)));
  }
  uint8_t extra;
  got = read(&extra, 1);
  if (got < 0) return fail(zlib_error());
  if (got > 0) return fail("has data beyond the " + std::to_string(idx.count) + (images ? " images" : " labels") + " its header declares");
  gzclose(f);
  return idx;
}

// Images and labels of one IDX pair, checked against each other.
Result<std::pair<Idx, Idx>> read_pair(const std::string& dir, const std::string& prefix) {
  std::string ip = dir + "/" + prefix + "-images-idx3-ubyte.gz", lp = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  auto im = read_idx(ip, true);
  if (!im) return im.error();
  auto lb = read_idx(lp, false);
  if (!lb) return lb.error();
  if (im->count != lb->count)
    return Error{lp + ": holds " + std::to_string(lb->count) + " labels but " + ip + " holds " + std::to_string(im->count) + " images"};
  for (size_t i = 0; i < lb->payload.size(); ++i)
    if (lb->payload[i] > 9) return Error{lp + ": label " + std::to_string(lb->payload[i]) + " of example " + std::to_string(i) + " is outside 0..9"};
  return std::pair{std::move(*im), std::move(*lb)};
}

// Examples [first, first + n) of an IDX pair, normalised with the data set's mean and std.
Split fashion_split(const std::pair<Idx, Idx>& d, int64_t first, int64_t n) {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[size_t(v)] = float((v / 255.0 - 0.2860) / 0.3530);
    return t;
  }();
  Split s;
  s.x.shape = {n, 1, kSide, kSide};
  s.x.f32.resize(size_t(n * kPixels));
  const uint8_t* px = d.first.payload.data() + first * kPixels;
  for (size_t i = 0; i < s.x.f32.size(); ++i) s.x.f32[i] = table[px[i]];
  s.y = ints({n});
  std::copy_n(d.second.payload.data() + first, n, s.y.i64.begin());
  return s;
}

Result<Dataset> fashion_mnist(const DataOptions& o) {
  auto train = read_pair(o.dir, "train");
  if (!train) return train.error();
  auto test = read_pair(o.dir, "t10k");
  if (!test) return test.error();
  int64_t n = train->first.count;
  if (n <= kValHeldOut)
    return Error{o.dir + "/train-images-idx3-ubyte.gz: holds " + std::to_string(n) + " examples; the last 5000 are held out for validation, so it needs more"};
  int64_t n_train = capped(n - kValHeldOut, o.train_limit), n_test = capped(test->first.count, o.test_limit);
  Dataset d;
  d.train = fashion_split(*train, 0, n_train);
  d.val = fashion_split(*train, n - kValHeldOut, kValHeldOut);
  d.test = fashion_split(*test, 0, n_test);
  d.classes = 10;
  d.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  d.protocol = "fashion-mnist: " + o.dir + " train " + std::to_string(n_train) + " (first of train file) val 5000 (last 5000 of train file) test " +
               std::to_string(n_test) + (n_test < test->first.count ? " (first of t10k file)" : "");
  return d;
}

// ---- Synthetic sequence tasks ----------------------------------------------------------------

// Generates n examples, one call of `example(rng, x_row, y_row)` each. Rows are filled in order
// from one stream, so a smaller n yields a prefix of a larger one.
template <class F>
Split synthesize(const DataOptions& o, Stream stream, int64_t n, bool token_targets, F&& example) {
  Rng rng(o.seed, stream);
  Split s;
  s.x = ints({n, o.seq_len});
  s.y = token_targets ? ints({n, o.seq_len}) : ints({n});
  int64_t ys = token_targets ? o.seq_len : 1;
  for (int64_t i = 0; i < n; ++i) example(rng, s.x.i64.data() + i * o.seq_len, s.y.i64.data() + i * ys);
  return s;
}

template <class F>
Result<Dataset> synthetic(const DataOptions& o, bool token_targets, std::string params, F&& example) {
  for (auto [name, v] : {std::pair{"train_size", o.train_size}, {"val_size", o.val_size}, {"test_size", o.test_size}})
    if (auto s = positive(name, v); !s) return Error{s.error};
  int64_t n_train = capped(o.train_size, o.train_limit), n_test = capped(o.test_size, o.test_limit);
  Dataset d;
  d.train = synthesize(o, kTrain, n_train, token_targets, example);
  d.val = synthesize(o, kVal, o.val_size, token_targets, example);
  d.test = synthesize(o, kTest, n_test, token_targets, example);
  d.token_targets = token_targets;
  d.protocol = o.name + ": seed=" + std::to_string(o.seed) + " " + params + " train=" + std::to_string(n_train) +
               " val=" + std::to_string(o.val_size) + " test=" + std::to_string(n_test);
  return d;
}

Result<Dataset> mqar(const DataOptions& o) {
  if (o.pairs < 1) return Error{"option pairs must be positive, got " + std::to_string(o.pairs)};
  if (o.seq_len < 4 * o.pairs)
    return Error{"mqar: seq_len=" + std::to_string(o.seq_len) + " is too short for pairs=" + std::to_string(o.pairs) +
                 ": it needs seq_len >= 4*pairs = " + std::to_string(4 * o.pairs) + " (the pairs, then as many queries)"};
  const int64_t half = o.vocab / 2;
  if (half < o.pairs + 1)
    return Error{"mqar: vocab=" + std::to_string(o.vocab) + " is too small for pairs=" + std::to_string(o.pairs) +
                 ": keys come from [1, vocab/2), so it needs vocab/2 >= pairs+1, i.e. vocab >= " + std::to_string(2 * (o.pairs + 1))};
  // Values are distinct too (as in Zoology), so a query can only be answered by recalling its key.
  std::vector<int64_t> keys(size_t(half - 1)), values(size_t(o.vocab - half));
  auto r = synthetic(o, true, "vocab=" + std::to_string(o.vocab) + " seq_len=" + std::to_string(o.seq_len) + " pairs=" + std::to_string(o.pairs),
                     [&](Rng& rng, int64_t* x, int64_t* y) {
                       std::iota(keys.begin(), keys.end(), 1);
                       std::iota(values.begin(), values.end(), half);
                       for (int64_t i = 0; i < o.pairs; ++i) {
                         std::swap(keys[size_t(i)], keys[size_t(i + rng.below(int64_t(keys.size()) - i))]);
                         std::swap(values[size_t(i)], values[size_t(i + rng.below(int64_t(values.size()) - i))]);
                         x[2 * i] = keys[size_t(i)], x[2 * i + 1] = values[size_t(i)];
                         y[2 * i] = y[2 * i + 1] = kIgnore;
                       }
                       for (int64_t p = 2 * o.pairs; p < o.seq_len; ++p) {
                         x[p] = 0, y[p] = kIgnore;
                         if (p % 2 == 0) {
                           int64_t q = rng.below(o.pairs);
                           x[p] = keys[size_t(q)], y[p] = values[size_t(q)];
                         }
                       }
                     });
  if (r) r->classes = o.vocab;
  return r;
}

Result<Dataset> copy_task(const DataOptions& o) {
  if (o.seq_len < 3) return Error{"option seq_len must be at least 3 for copy (tokens, delimiter, copies), got " + std::to_string(o.seq_len)};
  const int64_t len = (o.seq_len - 1) / 2;
  // The target for token i sits on the i-th padding zero after the delimiter, so every scored
  // position comes after the whole sequence has been seen.
  auto r = synthetic(o, true, "vocab=" + std::to_string(o.vocab) + " seq_len=" + std::to_string(o.seq_len) + " copied=" + std::to_string(len),
                     [&](Rng& rng, int64_t* x, int64_t* y) {
                       std::fill_n(x, o.seq_len, 0);
                       std::fill_n(y, o.seq_len, kIgnore);
                       for (int64_t i = 0; i < len; ++i) x[i] = 2 + rng.below(o.vocab - 2), y[len + 1 + i] = x[i];
                       x[len] = 1;
                     });
  if (r) r->classes = o.vocab;
  return r;
}

Result<Dataset> parity(const DataOptions& o) {
  auto r = synthetic(o, false, "seq_len=" + std::to_string(o.seq_len), [&](Rng& rng, int64_t* x, int64_t* y) {
    int64_t sum = 0;
    for (int64_t i = 0; i < o.seq_len; ++i) sum += x[i] = int64_t(rng.next() >> 63);
    *y = sum % 2;
  });
  if (r) r->classes = 2, r->class_names = {"even", "odd"};
  return r;
}

// ---- Character-level text --------------------------------------------------------------------

std::string byte_name(uint8_t b) {
  switch (b) {
    case '\n': return "\\n";
    case '\t': return "\\t";
    case '\r': return "\\r";
  }
  if (b >= 0x20 && b < 0x7f) return std::string(1, char(b));
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", b);
  return buf;
}

Result<Dataset> text(const DataOptions& o) {
  std::ifstream f(o.text_path, std::ios::binary);
  if (!f) return Error{o.text_path + ": cannot open: " + std::strerror(errno)};
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return Error{o.text_path + ": read failed"};

  std::array<int64_t, 256> id;
  id.fill(-1);
  for (unsigned char c : bytes) id[c] = 0;
  Dataset d;
  for (int b = 0; b < 256; ++b)
    if (id[size_t(b)] == 0) id[size_t(b)] = int64_t(d.class_names.size()), d.class_names.push_back(byte_name(uint8_t(b)));

  const int64_t n = int64_t(bytes.size()), window = o.seq_len + 1;
  const int64_t cut[4] = {0, n * 90 / 100, n * 95 / 100, n};
  const char* names[3] = {"train", "val", "test"};
  Split* splits[3] = {&d.train, &d.val, &d.test};
  int64_t windows[3];
  for (int k = 0; k < 3; ++k) {
    int64_t len = cut[k + 1] - cut[k];
    windows[k] = len / window;
    if (windows[k] == 0)
      return Error{o.text_path + ": too short: the " + std::string(names[k]) + " split gets " + std::to_string(len) +
                   " bytes, less than one window of seq_len+1 = " + std::to_string(window) + " (the file has " + std::to_string(n) + " bytes)"};
  }
  windows[0] = capped(windows[0], o.train_limit);
  windows[2] = capped(windows[2], o.test_limit);
  for (int k = 0; k < 3; ++k) {
    Split& s = *splits[k];
    s.x = ints({windows[k], o.seq_len});
    s.y = ints({windows[k], o.seq_len});
    for (int64_t w = 0; w < windows[k]; ++w) {
      const char* src = bytes.data() + cut[k] + w * window;
      for (int64_t t = 0; t < o.seq_len; ++t) {
        s.x.i64[size_t(w * o.seq_len + t)] = id[uint8_t(src[t])];
        s.y.i64[size_t(w * o.seq_len + t)] = id[uint8_t(src[t + 1])];
      }
    }
  }
  const int64_t distinct = int64_t(d.class_names.size());
  while (int64_t(d.class_names.size()) < o.min_classes) d.class_names.push_back("(unused " + std::to_string(d.class_names.size()) + ")");
  d.classes = int64_t(d.class_names.size());
  d.token_targets = true;
  d.protocol = "text: " + o.text_path + " (" + std::to_string(n) + " bytes, " + std::to_string(distinct) + " distinct" +
               (d.classes > distinct ? ", ids padded to " + std::to_string(d.classes) : "") + ") seq_len=" +
               std::to_string(o.seq_len) + " non-overlapping windows of seq_len+1 bytes: train " + std::to_string(windows[0]) +
               " (first 90%) val " + std::to_string(windows[1]) + " (next 5%) test " + std::to_string(windows[2]) + " (last 5%)";
  return d;
}


const DataSetInfo kDataSets[] = {
    {"fashion-mnist", "28x28 grey clothing images, 10 classes (Debian's dataset-fashion-mnist)", DataShape::images, 10, fashion_mnist},
    {"mqar", "multi-query associative recall: recall the value of each queried key", DataShape::tokens_tokens, 0, mqar},
    {"copy", "copy a token sequence after a separator", DataShape::tokens_tokens, 0, copy_task},
    {"parity", "parity of a bit sequence, 2 classes", DataShape::tokens_class, 2, parity},
    {"text", "next byte of a text file (--text PATH)", DataShape::tokens_tokens, 0, text},
};

}  // namespace

std::span<const DataSetInfo> data_sets() { return kDataSets; }

const DataSetInfo* find_data_set(std::string_view name) {
  for (const DataSetInfo& d : kDataSets)
    if (name == d.name) return &d;
  return nullptr;
}

std::string data_set_names() {
  std::string s;
  for (const DataSetInfo& d : kDataSets) s += (s.empty() ? "" : " | ") + std::string(d.name);
  return s;
}

bool fits(const DataSetInfo& d, const circuit::GraphAnalysis& a) {
  if (!a.ok() || a.inputs.size() != 1 || a.outputs.empty()) return false;
  const circuit::TensorType& in = a.nodes[size_t(a.inputs[0])].outputs[0];
  auto is = [](const circuit::Axis& x, int64_t n) { return !x.size.concrete() || x.size.n == n; };
  if (d.shape == DataShape::images) {
    if (in.dtype == circuit::DType::i64 || in.rank() != 4 || !is(in.axes[1], 1) || !is(in.axes[2], 28) || !is(in.axes[3], 28)) return false;
  } else if (in.dtype != circuit::DType::i64 || in.rank() != 2) {
    return false;
  }
  for (const circuit::TensorType& o : a.outputs) {
    size_t rank = d.shape == DataShape::tokens_tokens ? 3 : 2;
    if (o.rank() != rank || !o.axes.back().size.concrete()) return false;
    if (d.classes && o.axes.back().size.n != d.classes) return false;
  }
  return true;
}

void size_to_circuit(DataOptions& o, const circuit::Circuit& c) {
  const DataSetInfo* info = find_data_set(o.name);
  if (!info || info->shape != DataShape::tokens_tokens) return;
  circuit::GraphAnalysis a = circuit::analyze(c);
  if (!a.ok() || a.inputs.size() != 1 || a.outputs.size() != 1) return;
  const circuit::TensorType& in = a.nodes[size_t(a.inputs[0])].outputs[0];
  const circuit::TensorType& out = a.outputs[0];
  if (in.dtype != circuit::DType::i64 || in.rank() != 2 || out.rank() != 3 || !out.axes[2].size.concrete()) return;
  circuit::Bindings b = circuit::cost_bindings(c);
  if (in.axes[1].size.concrete() || b.count(in.axes[1].size.sym)) o.seq_len = circuit::resolve(in.axes[1].size, b);
  // A text model's output is the byte vocabulary padded up to it; a synthetic task's vocabulary is the output.
  if (info->load == text) o.min_classes = out.axes[2].size.n;
  else o.vocab = out.axes[2].size.n;
}

Result<Dataset> load_dataset(const DataOptions& o) {
  if (o.train_limit < 0) return Error{"option train_limit must be >= 0 (0: all), got " + std::to_string(o.train_limit)};
  if (o.test_limit < 0) return Error{"option test_limit must be >= 0 (0: all), got " + std::to_string(o.test_limit)};
  const DataSetInfo* info = find_data_set(o.name);
  if (!info) return Error{"unknown data set `" + o.name + "` (valid: " + data_set_names() + ")"};
  if (info->shape != DataShape::images && o.seq_len < 2) return Error{"option seq_len must be at least 2, got " + std::to_string(o.seq_len)};
  if (info->shape == DataShape::tokens_tokens && info->load != text && o.vocab < 4)
    return Error{"option vocab must be at least 4, got " + std::to_string(o.vocab)};
  auto r = info->load(o);
  if (r) r->name = o.name;
  return r;
}

}  // namespace engine
