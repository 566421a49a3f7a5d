#include "checkpoint.h"
#include "engine/detail/train.h"

#include <torch/torch.h>

#include <cstdio>

#include "circuit/circuit_file.h"
#include "train.h"

namespace engine {

using base::Error;
using base::Result;
using base::Status;
using detail::torch_message;

namespace detail {

Status write_checkpoint(const std::string& path, Model& m, torch::optim::Optimizer& opt, const TrainOptions& o,
                        const std::string& protocol, int epochs_done, int64_t steps) {
  try {
    torch::serialize::OutputArchive ar;
    ar.write("format", c10::IValue(std::string("circuit-checkpoint-1")));
    ar.write("circuit", c10::IValue(circuit::circuit_to_text(m.circuit())));
    ar.write("protocol", c10::IValue(protocol));
    ar.write("optimizer_kind", c10::IValue(std::string(to_string(o.optimizer))));
    ar.write("seed", c10::IValue(int64_t(o.seed)));
    ar.write("epochs_done", c10::IValue(int64_t(epochs_done)));
    ar.write("steps", c10::IValue(steps));
    torch::serialize::OutputArchive ma, oa;
    m.module().save(ma);
    opt.save(oa);
    ar.write("model", ma);
    ar.write("optimizer", oa);
    std::string tmp = path + ".tmp";
    ar.save_to(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return Status::fail(path + ": could not replace the checkpoint");
  } catch (const std::exception& e) {
    return Status::fail(path + ": cannot write checkpoint: " + torch_message(e));
  }
  return {};
}

}  // namespace detail

Result<CheckpointInfo> read_checkpoint_info(const std::string& path) {
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path, torch::kCPU);  // a CUDA run's checkpoint, read where there is no GPU
    c10::IValue v;
    if (!ar.try_read("format", v) || v.toStringRef() != "circuit-checkpoint-1")
      return Error{path + ": not a Circuit Studio checkpoint (or from a newer version)"};
    CheckpointInfo i;
    ar.read("circuit", v), i.circuit_text = v.toStringRef();
    ar.read("protocol", v), i.protocol = v.toStringRef();
    ar.read("optimizer_kind", v);
    auto opt = parse_optimizer(v.toStringRef());
    if (!opt) return Error{path + ": the checkpoint names an unknown optimizer `" + v.toStringRef() + "`"};
    i.optimizer = *opt;
    ar.read("seed", v), i.seed = uint64_t(v.toInt());
    ar.read("epochs_done", v), i.epochs_done = int(v.toInt());
    ar.read("steps", v), i.steps = v.toInt();
    return i;
  } catch (const std::exception& e) {
    return Error{path + ": cannot read checkpoint: " + torch_message(e)};
  }
}

}  // namespace engine
