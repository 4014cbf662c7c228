// Ragged batches of points (one graph per segment) and the edge lists built over them.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace e2e_gnn {

/// A read-only view of many point sets stored back to back ("ragged batching").
///
/// `pos` is row-major float32 [num_nodes, dim]; graph g owns nodes [ptr[g], ptr[g + 1]).
/// `ptr` has num_graphs + 1 entries, starts at 0, never decreases and ends at num_nodes.
struct PointBatch {
  const float* pos = nullptr;
  std::size_t num_nodes = 0;
  std::size_t dim = 0;
  const std::int64_t* ptr = nullptr;
  std::size_t num_graphs = 0;

  /// Throws std::invalid_argument naming the offending entry when `ptr` is not a valid
  /// partition of the nodes or a position is NaN or infinite.
  void validate() const;

  std::size_t graph_size(std::size_t g) const {
    return static_cast<std::size_t>(ptr[g + 1] - ptr[g]);
  }
};

/// Edges of a batch of graphs, laid out like `edge_index` [2, E]: the E sources (row 0)
/// followed by the E targets (row 1), as global node indices.
struct EdgeIndex {
  std::vector<std::int64_t> data;

  std::size_t num_edges() const { return data.size() / 2; }
};

/// Wrap coordinate `dim` with `period` (e.g. phi with 2 pi); dim < 0 means no wrap-around.
struct Periodicity {
  int dim = -1;
  double period = 6.283185307179586;

  /// Throws std::invalid_argument unless dim < 0 or (dim < num_dims and period > 0).
  void validate(std::size_t num_dims) const;
};

/// The per-coordinate difference used by every builder: |a - b| in double precision,
/// folded onto [0, period / 2] for the periodic coordinate.
/// The NumPy reference (python/e2e_gnn/graphs/reference.py) repeats these exact operations.
inline double coordinate_difference(float a, float b, bool periodic, double period) {
  double diff = std::fabs(static_cast<double>(a) - static_cast<double>(b));
  if (periodic) {
    diff = std::fmod(diff, period);
    diff = std::fmin(diff, period - diff);
  }
  return diff;
}

}  // namespace e2e_gnn
