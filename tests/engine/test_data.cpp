// Data sets: real Fashion-MNIST checked against an independent read of the files, located errors
// for broken files, and the synthetic tasks checked against their definitions.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "engine/data.h"

namespace engine {
namespace {

namespace fs = std::filesystem;

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

float normalised(uint8_t v) { return float((v / 255.0 - 0.2860) / 0.3530); }

// Record `i` of an IDX .gz file, read without the loader: skip the header, take `size` bytes.
std::vector<uint8_t> idx_record(const std::string& path, size_t header, size_t size, size_t i) {
  gzFile f = gzopen(path.c_str(), "rb");
  EXPECT_NE(f, nullptr) << path;
  std::vector<uint8_t> out(size);
  if (!f) return out;
  gzseek(f, z_off_t(header + i * size), SEEK_SET);
  EXPECT_EQ(gzread(f, out.data(), unsigned(size)), int(size));
  gzclose(f);
  return out;
}

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb1");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}

void put_be(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(x >> s));
}

// An IDX file of `n` records; pixel j of image i is (i + j) % 256, label i is i % 10.
std::vector<uint8_t> idx_bytes(bool images, uint32_t n, uint32_t magic = 0) {
  std::vector<uint8_t> v;
  put_be(v, magic ? magic : images ? 2051 : 2049);
  put_be(v, n);
  if (images) put_be(v, 28), put_be(v, 28);
  for (uint32_t i = 0; i < n; ++i)
    if (images)
      for (uint32_t j = 0; j < 784; ++j) v.push_back(uint8_t(i + j));
    else
      v.push_back(uint8_t(i % 10));
  return v;
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("circuit_data_test_" + std::to_string(getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A small but complete Fashion-MNIST directory: 5010 training examples, 20 test examples.
void write_small_fashion(const fs::path& dir) {
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_bytes(true, 5010));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes(false, 5010));
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_bytes(true, 20));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_bytes(false, 20));
}

std::string load_error(const DataOptions& o) {
  auto d = load_dataset(o);
  EXPECT_FALSE(d.ok());
  return d.ok() ? "" : d.error().message;
}

// ---- Fashion-MNIST ---------------------------------------------------------------------------

class Fashion : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = load_dataset(DataOptions{});
    if (r) data_ = new Dataset(std::move(*r));
    else error_ = r.error().message;
  }
  static void TearDownTestSuite() { delete data_, data_ = nullptr; }
  void SetUp() override { ASSERT_NE(data_, nullptr) << error_; }

  static inline Dataset* data_ = nullptr;
  static inline std::string error_;
};

TEST_F(Fashion, SizesShapesAndLabels) {
  const Dataset& d = *data_;
  EXPECT_EQ(d.name, "fashion-mnist");
  EXPECT_EQ(d.classes, 10);
  ASSERT_EQ(d.class_names.size(), 10u);
  EXPECT_EQ(d.class_names[0], "T-shirt/top");
  EXPECT_EQ(d.class_names[9], "Ankle boot");
  EXPECT_FALSE(d.token_targets);
  for (auto [s, n] : {std::pair{&d.train, 55000}, {&d.val, 5000}, {&d.test, 10000}}) {
    EXPECT_EQ(s->x.shape, (std::vector<int64_t>{n, 1, 28, 28}));
    EXPECT_FALSE(s->x.is_int);
    EXPECT_EQ(s->x.f32.size(), size_t(n) * 784);
    EXPECT_EQ(s->x.row_size(), 784);
    EXPECT_EQ(s->y.shape, (std::vector<int64_t>{n}));
    EXPECT_TRUE(s->y.is_int);
    ASSERT_EQ(s->y.i64.size(), size_t(n));
    std::set<int64_t> seen(s->y.i64.begin(), s->y.i64.end());
    EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  }
  EXPECT_NE(d.protocol.find("train 55000"), std::string::npos) << d.protocol;
  EXPECT_NE(d.protocol.find("last 5000"), std::string::npos) << d.protocol;
  EXPECT_NE(d.protocol.find(kFashion), std::string::npos) << d.protocol;
}

TEST_F(Fashion, NormalisedToMeanZeroStdOne) {
  double sum = 0, sq = 0;
  for (float v : data_->train.x.f32) sum += v, sq += double(v) * v;
  double n = double(data_->train.x.f32.size()), mean = sum / n;
  EXPECT_NEAR(mean, 0, 0.01);
  EXPECT_NEAR(std::sqrt(sq / n - mean * mean), 1, 0.02);
  EXPECT_FLOAT_EQ(*std::min_element(data_->train.x.f32.begin(), data_->train.x.f32.end()), normalised(0));
  EXPECT_FLOAT_EQ(*std::max_element(data_->train.x.f32.begin(), data_->train.x.f32.end()), normalised(255));
}

TEST_F(Fashion, ValidationIsTheLast5000OfTheTrainFile) {
  const std::string images = kFashion + "/train-images-idx3-ubyte.gz", labels = kFashion + "/train-labels-idx1-ubyte.gz";
  struct Case {
    const Split* split;
    int64_t row;
    size_t record;
  };
  for (Case c : {Case{&data_->train, 0, 0}, {&data_->train, 54999, 54999}, {&data_->val, 0, 55000}, {&data_->val, 4999, 59999}}) {
    SCOPED_TRACE("record " + std::to_string(c.record));
    auto px = idx_record(images, 16, 784, c.record);
    for (size_t j = 0; j < 784; ++j) ASSERT_FLOAT_EQ(c.split->x.f32[size_t(c.row) * 784 + j], normalised(px[j])) << "pixel " << j;
    EXPECT_EQ(c.split->y.i64[size_t(c.row)], idx_record(labels, 8, 1, c.record)[0]);
  }
  auto px = idx_record(kFashion + "/t10k-images-idx3-ubyte.gz", 16, 784, 9999);
  for (size_t j = 0; j < 784; ++j) ASSERT_FLOAT_EQ(data_->test.x.f32[9999 * 784 + j], normalised(px[j]));
}

TEST_F(Fashion, LimitsKeepTheFirstExamples) {
  DataOptions o;
  o.train_limit = 100, o.test_limit = 30;
  auto r = load_dataset(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->train.x.rows(), 100);
  EXPECT_EQ(r->test.x.rows(), 30);
  EXPECT_EQ(r->val.x.rows(), 5000);
  EXPECT_TRUE(std::equal(r->train.x.f32.begin(), r->train.x.f32.end(), data_->train.x.f32.begin()));
  EXPECT_EQ(r->val.x.f32, data_->val.x.f32);
  EXPECT_NE(r->protocol.find("train 100"), std::string::npos) << r->protocol;
}

TEST(FashionFiles, MissingDirectoryNamesTheDebianPackage) {
  DataOptions o;
  o.dir = "/nonexistent/fashion";
  std::string e = load_error(o);
  EXPECT_NE(e.find("/nonexistent/fashion/"), std::string::npos) << e;
  EXPECT_NE(e.find("dataset-fashion-mnist"), std::string::npos) << e;
}

TEST(FashionFiles, SmallValidDirectory) {
  TempDir t;
  write_small_fashion(t.path());
  DataOptions o;
  o.dir = t.path().string();
  auto r = load_dataset(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->train.x.rows(), 10);
  EXPECT_EQ(r->val.x.rows(), 5000);
  EXPECT_EQ(r->test.x.rows(), 20);
  // Val row 0 is record 10 of the file: pixel j = (10 + j) % 256, label 0.
  EXPECT_FLOAT_EQ(r->val.x.f32[5], normalised(15));
  EXPECT_EQ(r->val.y.i64[0], 0);
  EXPECT_EQ(r->val.y.i64[3], 3);
}

TEST(FashionFiles, DamagedFilesGiveLocatedErrors) {
  const std::string images = "train-images-idx3-ubyte.gz", labels = "train-labels-idx1-ubyte.gz";
  struct Case {
    std::string file;
    std::vector<uint8_t> content;
    bool gzip;
    std::string expect;
  };
  auto truncated = idx_bytes(true, 5010);
  truncated.resize(truncated.size() - 784 * 3);
  auto extra = idx_bytes(false, 5010);
  extra.push_back(1);
  auto bad_label = idx_bytes(false, 5010);
  bad_label[8 + 77] = 12;
  std::vector<uint8_t> garbage = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};  // a gzip header, then junk
  for (int i = 0; i < 200; ++i) garbage.push_back(uint8_t(i * 37 + 11));
  for (const Case& c : std::vector<Case>{
           {images, idx_bytes(true, 5010, 2049), true, "bad magic number 2049"},
           {labels, idx_bytes(false, 5010, 2051), true, "bad magic number 2051"},
           {images, truncated, true, "truncated"},
           {labels, idx_bytes(false, 5000), true, "5000 labels"},
           {labels, extra, true, "beyond"},
           {labels, bad_label, true, "label 12 of example 77"},
           {images, {1, 2, 3}, true, "too short"},
           {images, garbage, false, "cannot decompress"},
       }) {
    SCOPED_TRACE(c.file + " " + c.expect);
    TempDir t;
    write_small_fashion(t.path());
    if (c.gzip) write_gz(t.path() / c.file, c.content);
    else std::ofstream(t.path() / c.file, std::ios::binary).write(reinterpret_cast<const char*>(c.content.data()), std::streamsize(c.content.size()));
    DataOptions o;
    o.dir = t.path().string();
    std::string e = load_error(o);
    EXPECT_NE(e.find((t.path() / c.file).string() + ": "), std::string::npos) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
}

// ---- MQAR ------------------------------------------------------------------------------------

DataOptions mqar_options(uint64_t seed = 3) {
  DataOptions o;
  o.name = "mqar", o.seed = seed, o.vocab = 64, o.seq_len = 64, o.pairs = 8;
  o.train_size = 500, o.val_size = 100, o.test_size = 100;
  return o;
}

TEST(Mqar, EveryScoredTargetIsTheValuePairedWithTheQueryKey) {
  auto r = load_dataset(mqar_options());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->classes, 64);
  EXPECT_TRUE(r->token_targets);
  EXPECT_EQ(r->train.x.shape, (std::vector<int64_t>{500, 64}));
  EXPECT_EQ(r->train.y.shape, (std::vector<int64_t>{500, 64}));
  EXPECT_EQ(r->protocol, "mqar: seed=3 vocab=64 seq_len=64 pairs=8 train=500 val=100 test=100");
  for (const Split* s : {&r->train, &r->val, &r->test})
    for (int64_t i = 0; i < s->x.rows(); ++i) {
      const int64_t* x = s->x.i64.data() + i * 64;
      const int64_t* y = s->y.i64.data() + i * 64;
      std::map<int64_t, int64_t> value_of;
      std::set<int64_t> values;
      for (int p = 0; p < 8; ++p) {
        ASSERT_GE(x[2 * p], 1);
        ASSERT_LT(x[2 * p], 32);
        ASSERT_GE(x[2 * p + 1], 32);
        ASSERT_LT(x[2 * p + 1], 64);
        ASSERT_EQ(y[2 * p], -100);
        ASSERT_EQ(y[2 * p + 1], -100);
        ASSERT_TRUE(value_of.emplace(x[2 * p], x[2 * p + 1]).second) << "repeated key";
        ASSERT_TRUE(values.insert(x[2 * p + 1]).second) << "repeated value";
      }
      for (int t = 16; t < 64; ++t) {
        if (t % 2) {
          ASSERT_EQ(x[t], 0);
          ASSERT_EQ(y[t], -100);
        } else {
          ASSERT_TRUE(value_of.count(x[t])) << "query " << x[t] << " is not a key of row " << i;
          ASSERT_EQ(y[t], value_of[x[t]]);
        }
      }
    }
}

TEST(Mqar, SeedDeterminesTheDataAndSplitsAreIndependent) {
  auto a = load_dataset(mqar_options(3)), b = load_dataset(mqar_options(3)), c = load_dataset(mqar_options(4));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->train.x.i64, b->train.x.i64);
  EXPECT_EQ(a->test.y.i64, b->test.y.i64);
  EXPECT_NE(a->train.x.i64, c->train.x.i64);
  EXPECT_NE(a->test.x.i64, c->test.x.i64);
  EXPECT_FALSE(std::equal(a->test.x.i64.begin(), a->test.x.i64.end(), a->train.x.i64.begin()));
  EXPECT_FALSE(std::equal(a->val.x.i64.begin(), a->val.x.i64.end(), a->test.x.i64.begin()));

  auto o = mqar_options(3);
  o.train_size = 200, o.test_size = 150, o.train_limit = 0;
  auto d = load_dataset(o);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->val.x.i64, a->val.x.i64);
  EXPECT_TRUE(std::equal(d->train.x.i64.begin(), d->train.x.i64.end(), a->train.x.i64.begin()));
  EXPECT_TRUE(std::equal(a->test.x.i64.begin(), a->test.x.i64.end(), d->test.x.i64.begin()));
  o.train_limit = 50, o.test_limit = 10;
  auto e = load_dataset(o);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->train.x.rows(), 50);
  EXPECT_EQ(e->test.x.rows(), 10);
  EXPECT_TRUE(std::equal(e->train.y.i64.begin(), e->train.y.i64.end(), a->train.y.i64.begin()));
}

TEST(Mqar, ImpossibleOptionsNameThemselves) {
  auto o = mqar_options();
  o.seq_len = 30;
  std::string e = load_error(o);
  EXPECT_NE(e.find("seq_len=30"), std::string::npos) << e;
  EXPECT_NE(e.find("pairs=8"), std::string::npos) << e;
  o = mqar_options();
  o.vocab = 16;
  e = load_error(o);
  EXPECT_NE(e.find("vocab=16"), std::string::npos) << e;
  EXPECT_NE(e.find("pairs=8"), std::string::npos) << e;
  o.vocab = 18;
  EXPECT_TRUE(load_dataset(o).ok());
}

// ---- copy, parity ----------------------------------------------------------------------------

TEST(Copy, TargetsAreTheTokensBeforeTheDelimiter) {
  for (int64_t seq_len : {21, 20}) {
    SCOPED_TRACE(seq_len);
    DataOptions o;
    o.name = "copy", o.seq_len = seq_len, o.vocab = 10, o.train_size = 300, o.val_size = 10, o.test_size = 10;
    auto r = load_dataset(o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->classes, 10);
    EXPECT_TRUE(r->token_targets);
    const int64_t len = (seq_len - 1) / 2;
    for (int64_t i = 0; i < r->train.x.rows(); ++i) {
      const int64_t* x = r->train.x.i64.data() + i * seq_len;
      const int64_t* y = r->train.y.i64.data() + i * seq_len;
      for (int64_t t = 0; t < len; ++t) {
        ASSERT_GE(x[t], 2);
        ASSERT_LT(x[t], 10);
        ASSERT_EQ(y[t], -100);
      }
      ASSERT_EQ(x[len], 1);
      ASSERT_EQ(y[len], -100);
      for (int64_t t = 0; t < len; ++t) {
        ASSERT_EQ(x[len + 1 + t], 0);
        ASSERT_EQ(y[len + 1 + t], x[t]);
      }
      for (int64_t t = 2 * len + 1; t < seq_len; ++t) {
        ASSERT_EQ(x[t], 0);
        ASSERT_EQ(y[t], -100);
      }
    }
  }
}

TEST(Parity, LabelIsTheBitSumModTwo) {
  DataOptions o;
  o.name = "parity", o.seq_len = 17, o.seed = 9, o.train_size = 1000, o.val_size = 50, o.test_size = 50;
  auto r = load_dataset(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->classes, 2);
  EXPECT_EQ(r->class_names, (std::vector<std::string>{"even", "odd"}));
  EXPECT_FALSE(r->token_targets);
  EXPECT_EQ(r->train.y.shape, (std::vector<int64_t>{1000}));
  int64_t odd = 0, ones = 0;
  for (int64_t i = 0; i < 1000; ++i) {
    int64_t sum = 0;
    for (int64_t t = 0; t < 17; ++t) {
      int64_t b = r->train.x.i64[size_t(i * 17 + t)];
      ASSERT_TRUE(b == 0 || b == 1);
      sum += b;
    }
    ASSERT_EQ(r->train.y.i64[size_t(i)], sum % 2);
    odd += sum % 2, ones += sum;
  }
  EXPECT_GT(odd, 400);
  EXPECT_LT(odd, 600);
  EXPECT_NEAR(double(ones) / (1000 * 17), 0.5, 0.03);
}

// ---- text ------------------------------------------------------------------------------------

TEST(Text, IdsDecodeToTheFileAndTargetsAreShiftedByOne) {
  const std::string path = "/usr/share/common-licenses/GPL-3";
  std::ifstream f(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 10000u);
  std::set<unsigned char> distinct(bytes.begin(), bytes.end());
  std::vector<unsigned char> vocab(distinct.begin(), distinct.end());

  DataOptions o;
  o.name = "text", o.text_path = path, o.seq_len = 32;
  auto r = load_dataset(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->classes, int64_t(vocab.size()));
  ASSERT_EQ(r->class_names.size(), vocab.size());
  EXPECT_TRUE(r->token_targets);
  auto nl = std::find(vocab.begin(), vocab.end(), '\n') - vocab.begin();
  EXPECT_EQ(r->class_names[size_t(nl)], "\\n");
  auto a = std::find(vocab.begin(), vocab.end(), 'a') - vocab.begin();
  EXPECT_EQ(r->class_names[size_t(a)], "a");

  const size_t n = bytes.size(), starts[3] = {0, n * 90 / 100, n * 95 / 100}, ends[3] = {n * 90 / 100, n * 95 / 100, n};
  const Split* splits[3] = {&r->train, &r->val, &r->test};
  for (int k = 0; k < 3; ++k) {
    const Split& s = *splits[k];
    EXPECT_EQ(size_t(s.x.rows()), (ends[k] - starts[k]) / 33) << k;
    EXPECT_EQ(s.x.shape, s.y.shape);
    for (int64_t w = 0; w < s.x.rows(); ++w)
      for (int64_t t = 0; t < 32; ++t) {
        size_t at = starts[k] + size_t(w) * 33 + size_t(t);
        ASSERT_EQ(vocab[size_t(s.x.i64[size_t(w * 32 + t)])], uint8_t(bytes[at])) << "split " << k << " window " << w;
        ASSERT_EQ(vocab[size_t(s.y.i64[size_t(w * 32 + t)])], uint8_t(bytes[at + 1]));
      }
  }
  o.train_limit = 5, o.test_limit = 2;
  auto limited = load_dataset(o);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->train.x.rows(), 5);
  EXPECT_EQ(limited->test.x.rows(), 2);
  EXPECT_EQ(limited->val.x.rows(), r->val.x.rows());
}

TEST(Text, MissingOrShortFiles) {
  DataOptions o;
  o.name = "text", o.text_path = "/nonexistent/corpus.txt";
  std::string e = load_error(o);
  EXPECT_NE(e.find("/nonexistent/corpus.txt: "), std::string::npos) << e;
  TempDir t;
  std::ofstream(t.path() / "short.txt") << std::string(1000, 'x');
  o.text_path = (t.path() / "short.txt").string();
  e = load_error(o);
  EXPECT_NE(e.find("short.txt: too short"), std::string::npos) << e;
  EXPECT_NE(e.find("val"), std::string::npos) << e;
  o.seq_len = 40;  // 50 bytes of val and of test: one window each
  auto r = load_dataset(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->classes, 1);
  EXPECT_EQ(r->val.x.rows(), 1);
}

// ---- options ---------------------------------------------------------------------------------

TEST(Options, InvalidOptionsNameTheOption) {
  DataOptions unknown;
  unknown.name = "cifar";
  std::string e = load_error(unknown);
  EXPECT_NE(e.find("cifar"), std::string::npos) << e;
  for (auto name : {"fashion-mnist", "mqar", "copy", "parity", "text"}) EXPECT_NE(e.find(name), std::string::npos) << e;

  struct Case {
    std::string name;
    void (*set)(DataOptions&);
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{
           {"parity", [](DataOptions& o) { o.seq_len = 1; }, "seq_len"},
           {"text", [](DataOptions& o) { o.seq_len = 0; }, "seq_len"},
           {"copy", [](DataOptions& o) { o.vocab = 3; }, "vocab"},
           {"copy", [](DataOptions& o) { o.seq_len = 2; }, "seq_len"},
           {"mqar", [](DataOptions& o) { o.pairs = 0; }, "pairs"},
           {"parity", [](DataOptions& o) { o.train_size = 0; }, "train_size"},
           {"copy", [](DataOptions& o) { o.val_size = -5; }, "val_size must be positive, got -5"},
           {"mqar", [](DataOptions& o) { o.test_size = 0; }, "test_size"},
           {"parity", [](DataOptions& o) { o.train_limit = -1; }, "train_limit"},
           {"fashion-mnist", [](DataOptions& o) { o.test_limit = -1; }, "test_limit"},
       }) {
    DataOptions o;
    o.name = c.name;
    c.set(o);
    e = load_error(o);
    EXPECT_NE(e.find(c.expect), std::string::npos) << c.name << ": " << e;
  }
}

TEST(HostArray, RowSize) {
  HostArray a;
  a.shape = {5, 1, 28, 28};
  EXPECT_EQ(a.row_size(), 784);
  EXPECT_EQ(a.rows(), 5);
  a.shape = {7};
  EXPECT_EQ(a.row_size(), 1);
  a.shape = {3, 64};
  EXPECT_EQ(a.row_size(), 64);
}

}  // namespace
}  // namespace engine
