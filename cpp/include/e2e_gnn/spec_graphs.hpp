// Spec -> positions -> graph: the graphs a model was trained on, built from raw node
// features as its graph spec says. The one implementation of every path: the C++ Tagger,
// Python's e2e_gnn.graphs.graphs_from_spec and the Triton graph builder (both through
// e2e_gnn._native.graphs_from_spec) call it.
#pragma once

#include "e2e_gnn/batching.hpp"
#include "e2e_gnn/model_spec.hpp"

namespace e2e_gnn {

/// The graphs of `nodes` as the spec's builder makes them; x and the graph features u are
/// copied as they are. Positions are x[:, coordinates] * coordinate_scale in float32.
///  - "knn": kNN edges with the spec's k and self loops (e2e_gnn::knn_graph, target-sorted,
///    `knn_threads` workers);
///  - "delaunay": the Delaunay triangulation (e2e_gnn::delaunay_graph) in the spec's two
///    coordinates (eta, phi), phi in radians wrapping around: before scaling, each node's
///    phi is moved by a multiple of 2 pi to within pi of the phi of its graph's first node
///    (unchanged when already there), so a jet across phi = +-pi is triangulated as one
///    piece (graphs must span less than pi in phi);
///  - "threshold": layered distance-threshold edges (e2e_gnn::threshold_graph, target-sorted):
///    nodes of one layer within the spec's same_layer, of adjacent layers within its
///    adjacent_layer, Euclidean over the scaled coordinates (no wrap-around), with the
///    spec's self loops; layer numbers from the spec's layer feature (none: one layer);
///  - "none": no edges (E = 0), no coordinates needed.
/// Throws std::invalid_argument for another builder ("given": pass the graphs with their
/// edges), kNN without k or coordinates, Delaunay without exactly 2 coordinates, threshold
/// edges without coordinates or distances (specs written before they were recorded) or
/// with a layer that is not a whole number, a feature width other than the spec's,
/// non-finite coordinates or knn_threads < 1.
GraphBatch build_graphs(const GraphSpec& spec, const NodeBatch& nodes, int knn_threads = 1);

}  // namespace e2e_gnn
