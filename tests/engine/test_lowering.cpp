// The lowering table is complete: every op the IR registers compiles, and has a TorchScript and
// an ONNX form or an explicit refusal with its reason. Torch-free, so it compiles in seconds.
#include <gtest/gtest.h>

#include "circuit/op.h"
#include "engine/lowering.h"

TEST(Lowering, EveryRegisteredOpHasAllThreeForms) {
  std::string report;
  for (const std::string& gap : engine::lowering_gaps()) report += "  " + gap + "\n";
  EXPECT_TRUE(report.empty()) << "ops without a complete lowering:\n" << report;
}

TEST(Lowering, EveryRecordIsAnOpAndEveryOpIsLowered) {
  ASSERT_GE(circuit::all_ops().size(), 27u);
  for (const circuit::OpDef* d : circuit::all_ops()) {
    engine::LoweringInfo l = engine::lowering_info(d->name);
    EXPECT_TRUE(l.found) << d->name;
    if (l.graph_input) continue;
    EXPECT_TRUE(l.compiles) << d->name;
    EXPECT_TRUE(l.torchscript || !l.torchscript_refusal.empty()) << d->name;
    EXPECT_TRUE(l.onnx || !l.onnx_refusal.empty()) << d->name;
  }
  EXPECT_FALSE(engine::lowering_info("no_such_op").found);
}

TEST(Lowering, RefusalsSayWhy) {
  // MoE routing is dynamic: the one op ONNX cannot express today, refused with its reason.
  engine::LoweringInfo moe = engine::lowering_info("moe");
  EXPECT_FALSE(moe.onnx);
  EXPECT_NE(moe.onnx_refusal.find("routing"), std::string::npos) << moe.onnx_refusal;
  EXPECT_TRUE(engine::lowering_info("input").graph_input);
}
