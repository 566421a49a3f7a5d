// Data sets behind one interface, as plain host arrays (no LibTorch here: the engine turns them
// into tensors). Every split is explicit and described in `protocol`, so a trial records exactly
// which data it saw.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "circuit/graph.h"

namespace circuit { struct GraphAnalysis; }

namespace engine {

/// A dense row-major array of float32 or int64 values. Row = first dimension = examples.
struct HostArray {
  std::vector<int64_t> shape;
  std::vector<float> f32;    // used when !is_int
  std::vector<int64_t> i64;  // used when is_int
  bool is_int = false;

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t row_size() const;  // product of shape[1:]
  size_t bytes() const { return f32.size() * sizeof(float) + i64.size() * sizeof(int64_t); }
};

/// Inputs and targets of one split. Targets are [n] class ids, or [n, seq] token ids where
/// -100 marks positions that are not scored.
struct Split {
  HostArray x, y;
};

/// A loaded task.
struct Dataset {
  std::string name;
  Split train, val, test;
  int64_t classes = 0;                   // number of classes, or vocabulary size for token targets
  std::vector<std::string> class_names;  // may be empty
  bool token_targets = false;            // y is [n, seq] rather than [n]
  std::string protocol;                  // one line: source, split sizes, seed, generator parameters
  size_t bytes() const {
    size_t n = 0;
    for (const Split* s : {&train, &val, &test}) n += s->x.bytes() + s->y.bytes();
    return n;
  }
};

/// What to load. `name` is one of: fashion-mnist, mqar, copy, parity, text.
struct DataOptions {
  std::string name = "fashion-mnist";
  uint64_t seed = 0;
  int64_t train_limit = 0;  // 0: all; else the first N training examples (after the val split)
  int64_t test_limit = 0;   // 0: all
  std::string dir = "/usr/share/datasets/fashion-mnist";  // fashion-mnist IDX .gz files
  std::string text_path = "/usr/share/common-licenses/GPL-3";  // text
  // Synthetic and text tasks:
  int64_t seq_len = 64;
  int64_t vocab = 64;    // mqar, copy: token vocabulary
  int64_t pairs = 8;     // mqar: key-value pairs per sequence
  int64_t train_size = 20000, val_size = 2000, test_size = 2000;  // synthetic sizes
  int64_t min_classes = 0;  // text: pad the vocabulary with unused ids up to this (a model's fixed output size)
};

/// The shape of a data set's examples, known before it is loaded.
enum class DataShape {
  images,         // f32 [batch, 1, 28, 28] -> one of `classes` classes
  tokens_class,   // i64 [batch, seq] -> one of `classes` classes
  tokens_tokens,  // i64 [batch, seq] -> a token per position (vocabulary sized from the circuit)
};

/// One data set the engine loads: the registry every front end lists and checks names against.
struct DataSetInfo {
  const char* name;
  const char* help;       // one line
  DataShape shape;
  int64_t classes = 0;    // fixed class count (images, tokens_class); 0: sized from the circuit
  base::Result<Dataset> (*load)(const DataOptions&) = nullptr;
};

/// Every data set, in the order front ends list them.
std::span<const DataSetInfo> data_sets();
/// The data set named `name`, or null.
const DataSetInfo* find_data_set(std::string_view name);
/// "fashion-mnist | mqar | copy | parity | text", for usage text.
std::string data_set_names();
/// Whether a circuit with this analysis can train on the data set: its one input and every
/// output have the data set's ranks, dtype and fixed sizes (checked on the IR, nothing loaded).
bool fits(const DataSetInfo& d, const circuit::GraphAnalysis& a);

/// Sizes a token task (mqar, copy, text) to a circuit that takes [batch, seq] token ids and gives
/// [batch, seq, vocab] scores: seq_len from the input's `seq`, vocab (mqar, copy) or min_classes
/// (text) from the output. Other data sets and other circuits are left as they are.
void size_to_circuit(DataOptions& o, const circuit::Circuit& c);

/// Loads or generates a data set. Errors name the file or the option at fault (and the Debian
/// package for missing Fashion-MNIST files).
base::Result<Dataset> load_dataset(const DataOptions& o);

}  // namespace engine
