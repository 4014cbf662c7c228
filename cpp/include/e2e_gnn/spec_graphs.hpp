// Spec -> positions -> graph: the graphs a model was trained on, built from raw node
// features as its graph spec says. The one implementation of every path: the C++ Tagger,
// Python's e2e_gnn.graphs.graphs_from_spec and the Triton graph builder (both through
// e2e_gnn._native.graphs_from_spec) call it.
#pragma once

#include "e2e_gnn/batching.hpp"
#include "e2e_gnn/model_spec.hpp"

namespace e2e_gnn {

/// The graphs of `nodes`: positions x[:, coordinates] * coordinate_scale in float32, then
/// kNN edges with the spec's k and self loops (e2e_gnn::knn_graph, target-sorted,
/// `knn_threads` workers); x is copied as it is. Throws std::invalid_argument for a builder
/// other than "knn" (or no k), no coordinates, a feature width other than the spec's,
/// non-finite coordinates or knn_threads < 1.
GraphBatch build_graphs(const GraphSpec& spec, const NodeBatch& nodes, int knn_threads = 1);

}  // namespace e2e_gnn
