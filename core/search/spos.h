// Single-path one-shot search (SPOS, Guo et al. 2020) over a search space: train one
// weight-sharing supernet by sampling one valid circuit of the space uniformly per step, then
// search sub-networks with inherited weights (NSGA-II over the space's objectives and
// constraints), and check how far inherited-weight accuracy can be trusted: Kendall's tau
// against stand-alone training of a few sampled sub-networks. Torch-free header.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/data.h"
#include "space.h"
#include "trial_runner.h"

namespace search {

struct SposOptions {
  int64_t steps = 1000;     // supernet training steps (one sampled circuit per step)
  int candidates = 100;     // sub-networks evaluated with inherited weights during the search
  int population = 20;      // NSGA-II population of that search
  int check = 8;            // sub-networks re-trained stand-alone for the rank correlation
  int64_t recalibrate = 20; // batches for batch-norm statistics before evaluating a sub-network
  uint64_t seed = 0;
  /// How the check sub-networks train alone. The supernet trains alike where it can: the same
  /// device, batch, learning rate and weight decay (AdamW, one step per sampled sub-network).
  TrialProtocol standalone;
};

/// One sub-network evaluated with inherited weights.
struct SposCandidate {
  Point point;
  std::string describe;
  Metrics metrics;          // accuracy / loss (validation, inherited weights) + params, active_params, flops
  bool on_front = false;
};

struct SposResult {
  int64_t shared_parameters = 0;   // weights in the supernet bank
  int64_t sampled_circuits = 0;    // distinct circuits trained at least once
  double supernet_seconds = 0, search_seconds = 0, check_seconds = 0;
  std::vector<double> loss;        // supernet loss, mean per tenth of training
  std::vector<SposCandidate> candidates;
  std::vector<std::pair<double, double>> check;  // (inherited-weight accuracy, stand-alone accuracy)
  std::vector<std::string> check_points;         // describe() of each checked sub-network
  double kendall_tau = 0;
};

/// Progress lines for people ("supernet step 400/1000, loss 0.61").
using SposProgress = std::function<void(const std::string&)>;

base::Result<SposResult> run_spos(const Space& space, const engine::Dataset& d, const SposOptions& o, const SposProgress& progress = {});

/// Kendall's tau-b of two equally long samples (ties counted as neither concordant nor discordant).
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace search
