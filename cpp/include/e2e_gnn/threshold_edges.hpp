// Layered distance-threshold graphs (the ATLAS displaced-photon GNN's edges).
#pragma once

#include <cstdint>
#include <vector>

#include "e2e_gnn/point_batch.hpp"

namespace e2e_gnn {

struct ThresholdOptions {
  /// Largest distance between two nodes of the same layer (negative: no such edges).
  double same_layer = 0.0;
  /// Largest distance between nodes of adjacent layers, |layer_i - layer_j| = 1 (negative: none).
  double adjacent_layer = 0.0;
  /// Give every node a self loop (distance 0).
  bool loop = false;
  /// Optional wrap-around coordinate (phi, period 2 pi).
  Periodicity periodic;
};

/// Edges and their lengths, in the same order.
struct WeightedEdges {
  EdgeIndex edges;
  std::vector<float> distance;
};

/// Connects, within each graph, every pair of nodes of the same layer whose distance is at most
/// options.same_layer and every pair of nodes of adjacent layers whose distance is at most
/// options.adjacent_layer, in both directions. The distance is Euclidean over all coordinates,
/// in double precision, the periodic one folded onto [0, period / 2]; it is returned as float32
/// per edge. Edges are sorted by target, then by source.
///
/// `layer` holds points.num_nodes layer numbers. Throws std::invalid_argument for a bad batch,
/// a missing layer array or non-finite thresholds.
WeightedEdges threshold_graph(const PointBatch& points, const std::int64_t* layer,
                              const ThresholdOptions& options);

}  // namespace e2e_gnn
