// k-nearest-neighbour graphs over a ragged batch of point sets.
#pragma once

#include <cstdint>

#include "e2e_gnn/point_batch.hpp"

namespace e2e_gnn {

struct KnnOptions {
  /// Number of incoming edges per node (at least 1).
  std::int64_t k = 16;
  /// Give every node a self loop; it counts towards k.
  bool loop = false;
  /// Optional wrap-around coordinate (phi, period 2 pi).
  Periodicity periodic;
  /// Worker threads (at least 1); nodes are split evenly between them.
  int threads = 1;
};

/// Incoming edges per node of a graph with n nodes: min(k, n - 1), or min(k, n) with loops.
std::int64_t knn_degree(std::int64_t num_nodes, std::int64_t k, bool loop);

/// Builds the kNN graph of every point set of `points` in one call; edges never cross graphs.
///
/// Node i of a graph with n nodes receives exactly knn_degree(n, k, loop) edges j -> i: the
/// other nodes of its graph with the smallest (squared Euclidean distance, node index), so ties
/// go to the smaller index, plus its self loop with `loop` (which then counts towards k).
/// Distances are summed in double precision over the coordinates in order, the periodic
/// coordinate folded onto [0, period / 2]. Edges are sorted by target, then by source: the
/// result is canonical, reproducible bit for bit by the NumPy reference, whatever the number
/// of threads.
///
/// Throws std::invalid_argument for k < 1, threads < 1, a bad `ptr`, a bad periodic
/// coordinate or a non-finite position.
EdgeIndex knn_graph(const PointBatch& points, const KnnOptions& options);

}  // namespace e2e_gnn
