// Delaunay-triangulation graphs in a plane (eta-phi), as in the jet-calibration GNN.
#pragma once

#include "e2e_gnn/point_batch.hpp"

namespace e2e_gnn {

/// Connects, within each graph, the nodes joined by an edge of the Delaunay triangulation of
/// their positions (points.dim must be 2), in both directions and once each. Edges are sorted by
/// target, then by source.
///
/// Predicates are exact (floating-point filter, then exact expansion arithmetic), so the result
/// is a true Delaunay triangulation for any input; where it is not unique (four or more
/// cocircular points) one of the valid triangulations is chosen deterministically.
/// Degenerate graphs are handled explicitly:
///  - fewer than 2 distinct positions: no edges;
///  - all positions on one line (including 2 nodes): a path joining consecutive positions
///    along the line;
///  - several nodes at the same position: the first such node takes part in the triangulation,
///    every later one is joined only to that first node.
/// Coordinates do not wrap around: pass phi relative to the jet axis.
/// Throws std::invalid_argument for a bad batch or points.dim != 2.
EdgeIndex delaunay_graph(const PointBatch& points);

}  // namespace e2e_gnn
