// Pareto ranking and hypervolume over objective vectors. Everything here minimises: callers with
// maximised objectives convert once with to_minimization(), so no routine needs a direction flag.
#pragma once
#include <vector>

namespace search {

/// Whether an objective is minimised or maximised.
enum class Direction { minimize, maximize };

/// One objective vector.
using Vec = std::vector<double>;

/// Negates maximised objectives (and leaves minimised ones) so every routine below can minimise.
std::vector<Vec> to_minimization(const std::vector<Vec>& points, const std::vector<Direction>& dirs);
Vec to_minimization(const Vec& point, const std::vector<Direction>& dirs);

/// a Pareto-dominates b: no worse in every objective and better in one. Equal points do not
/// dominate each other, so duplicates share a front.
bool dominates(const Vec& a, const Vec& b);

/// Non-dominated sorting: fronts of point indices, best first; within a front indices ascend.
/// Sort-based (ENS with binary search over fronts): O(N log N) in 2-D, O(M N^2) at worst and far
/// less in practice otherwise.
std::vector<std::vector<int>> nondominated_fronts(const std::vector<Vec>& points);

/// Constraint-domination (Deb 2000): feasible points (violation 0) are ranked by Pareto fronts;
/// infeasible ones come after every feasible one, in fronts of equal violation, smaller first.
std::vector<std::vector<int>> constrained_fronts(const std::vector<Vec>& points, const std::vector<double>& violation);

/// a constraint-dominates b: feasible beats infeasible, less violation beats more, and between
/// feasible points Pareto dominance decides.
bool constraint_dominates(const Vec& a, double violation_a, const Vec& b, double violation_b);

/// Crowding distance of each member of `front` (parallel to it): boundary points get infinity,
/// the rest the sum over objectives of the normalised gap between neighbours.
std::vector<double> crowding_distance(const std::vector<Vec>& points, const std::vector<int>& front);

/// The volume dominated by `points` and bounded by `reference` (minimisation). Points that are
/// not strictly better than the reference in every objective contribute nothing. Exact:
/// 2-D sweep O(N log N); 3-D sweep with a balanced tree O(N log N) (Beume et al. 2009);
/// 4-D and more slice along the last objective down to the 3-D case (HSO).
double hypervolume(const std::vector<Vec>& points, const Vec& reference);

/// Indices of the first front only.
std::vector<int> pareto_front(const std::vector<Vec>& points);

}  // namespace search
