// "The other machine" is a real sshd on 127.0.0.1 with its own host and user keys
// (tests/support/sshd.h): `circuit train --on` trains there through `ssh -T host circuit serve
// --stdio`, its exported model.onnx arrives here and ONNX Runtime computes it; a wrong host, a
// refused key and a `circuit` of another protocol version each say so.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "support/sshd.h"

namespace {

struct Ran {
  int rc = -1;
  std::string out;
};

Ran run(const std::string& cmd) {
  Ran r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  int st = ::pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class OverSsh : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = testing_ssh::Server::start_new(&why_).release();
    if (server_) ::setenv("CIRCUIT_SSH", server_->ssh_command().c_str(), 1);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no sshd: " << why_;
  }
  std::string train_on(const std::string& host, const std::string& circuit, const std::string& extra = "") {
    return std::string(CIRCUIT_CLI) + " train " CIRCUIT_SOURCE_DIR "/resources/examples/mlp.circuit.json --data fashion-mnist --limit 512 "
           "--epochs 1 --threads 1 --on " + host + " --on-circuit " + circuit + " " + extra;
  }
  static testing_ssh::Server* server_;
  static std::string why_;
};
testing_ssh::Server* OverSsh::server_ = nullptr;
std::string OverSsh::why_;

TEST_F(OverSsh, TrainsOnTheOtherMachineAndItsOnnxExportComesBackAndRuns) {
  std::string out = server_->dir() + "/local/model.onnx";
  std::filesystem::create_directories(server_->dir() + "/local");
  Ran r = run(train_on("engine-host", CIRCUIT_CLI, "--export " + out));
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("training on engine-host"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch 1/1: train loss"), std::string::npos) << "the events come back as they happen: " << r.out;
  EXPECT_NE(r.out.find("exported"), std::string::npos) << r.out;
  ASSERT_GT(std::filesystem::file_size(out), 100'000u) << "the trained weights arrived";
  if (std::string(CIRCUIT_NODE).empty() || !std::filesystem::exists(CIRCUIT_ORT_DIR "/package.json"))
    GTEST_SKIP() << "ONNX Runtime is not installed (scripts/setup.sh installs onnxruntime-node): the arrived model.onnx was not run";
  Ran ort = run(std::string(CIRCUIT_NODE) + " " CIRCUIT_SOURCE_DIR "/tests/protocol/ort_run.mjs " + out + " " CIRCUIT_ORT_DIR " 2,1,28,28");
  EXPECT_EQ(ort.rc, 0) << ort.out;
  EXPECT_NE(ort.out.find("ok"), std::string::npos) << ort.out;
  EXPECT_NE(ort.out.find("[2,10]"), std::string::npos) << ort.out;
}

TEST_F(OverSsh, AWrongHostARefusedKeyAndAnotherProtocolEachSaySo) {
  Ran wrong = run(train_on("no-such-host.invalid", CIRCUIT_CLI));
  EXPECT_EQ(wrong.rc, 1);
  EXPECT_NE(wrong.out.find("circuit train --on no-such-host.invalid: the engine"), std::string::npos) << wrong.out;
  EXPECT_NE(wrong.out.find("Could not resolve hostname"), std::string::npos) << wrong.out;

  Ran refused = run(train_on("refused-host", CIRCUIT_CLI));
  EXPECT_EQ(refused.rc, 1);
  EXPECT_NE(refused.out.find("Permission denied (publickey)"), std::string::npos) << refused.out;

  // A `circuit` of another version there: what it says first is all it takes to refuse it.
  std::string other = server_->dir() + "/circuit-9.9.9";
  std::ofstream(other) << "#!/bin/sh\necho '{\"id\": 0, \"reply\": \"hello\", \"protocol\": 99, \"version\": \"9.9.9\"}'\nsleep 5\n";
  ::chmod(other.c_str(), 0755);
  Ran version = run(train_on("engine-host", other));
  EXPECT_EQ(version.rc, 1);
  EXPECT_NE(version.out.find("the engine there speaks protocol 99 (circuit 9.9.9); this one speaks protocol 1"), std::string::npos) << version.out;
}

}  // namespace
