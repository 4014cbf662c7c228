#include "e2e_gnn/spec_graphs.hpp"

#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "e2e_gnn/delaunay.hpp"
#include "e2e_gnn/knn.hpp"
#include "e2e_gnn/point_batch.hpp"
#include "e2e_gnn/threshold_edges.hpp"

namespace e2e_gnn {
namespace {

constexpr double kTwoPi = 6.283185307179586;

// Positions x[:, coordinates] * coordinate_scale in float32. With `unwrap_phi` (Delaunay in
// (eta, phi)) the second coordinate is first moved by a multiple of 2 pi to within pi of
// the phi of its graph's first node, so a jet across phi = +-pi keeps its shape; a phi
// already within pi is kept as it is, bit for bit.
std::vector<float> positions(const GraphSpec& spec, const NodeBatch& nodes, bool unwrap_phi) {
  const std::vector<std::size_t> columns = spec.coordinate_columns();
  const std::size_t dims = columns.size();
  std::vector<float> scale;
  for (std::size_t c = 0; c < dims; ++c) {
    scale.push_back(spec.coordinate_scale.empty() ? 1.0f
                                                  : static_cast<float>(spec.coordinate_scale[c]));
  }
  const std::size_t width = static_cast<std::size_t>(spec.num_features());
  const float* x = nodes.x().data();
  const std::vector<std::int64_t>& ptr = nodes.ptr();
  std::vector<float> pos(static_cast<std::size_t>(nodes.num_nodes()) * dims);
  for (std::size_t g = 0; g + 1 < ptr.size(); ++g) {
    const auto first = static_cast<std::size_t>(ptr[g]);
    for (auto i = first; i < static_cast<std::size_t>(ptr[g + 1]); ++i) {
      for (std::size_t c = 0; c < dims; ++c) {
        float value = x[i * width + columns[c]];
        if (unwrap_phi && c == 1) {
          const double shift = static_cast<double>(value) - x[first * width + columns[c]];
          if (std::fabs(shift) > kTwoPi / 2) {  // false for NaN: delaunay_graph refuses it
            value = static_cast<float>(value - kTwoPi * std::round(shift / kTwoPi));
          }
        }
        pos[i * dims + c] = value * scale[c];
      }
    }
  }
  return pos;
}

// The layer number of every node, from the spec's layer feature (0 without one); throws
// for a value that is not a whole number.
std::vector<std::int64_t> layers(const GraphSpec& spec, const NodeBatch& nodes) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(nodes.num_nodes()), 0);
  const std::optional<std::size_t> column = spec.layer_column();
  if (!column) return out;
  const std::size_t width = static_cast<std::size_t>(spec.num_features());
  const float* x = nodes.x().data();
  const std::vector<std::int64_t>& ptr = nodes.ptr();
  for (std::size_t g = 0; g + 1 < ptr.size(); ++g) {
    for (auto i = static_cast<std::size_t>(ptr[g]); i < static_cast<std::size_t>(ptr[g + 1]); ++i) {
      const float value = x[i * width + *column];
      if (!(std::fabs(value) < 1e9f) || value != std::nearbyint(value)) {
        std::ostringstream text;
        text << "input 'x' has layer " << value << " (feature '" << spec.layer << "') at node "
             << i << " (graph " << g << "), expected a whole number";
        throw std::invalid_argument(text.str());
      }
      out[i] = static_cast<std::int64_t>(value);
    }
  }
  return out;
}

}  // namespace

GraphBatch build_graphs(const GraphSpec& spec, const NodeBatch& nodes, int knn_threads) {
  const bool knn = spec.builder == "knn", delaunay = spec.builder == "delaunay";
  const bool threshold = spec.builder == "threshold";
  if (!knn && !delaunay && !threshold && spec.builder != "none") {
    throw std::invalid_argument("the graph spec asks for '" + spec.builder +
                                "' edges: graphs are built from a spec for 'knn', 'delaunay', "
                                "'threshold' and 'none' edges only; pass the graphs with their "
                                "edges instead");
  }
  if (knn && spec.k < 1) {
    throw std::invalid_argument("the graph spec asks for 'knn' edges without k");
  }
  if (threshold && (!spec.same_layer || !spec.adjacent_layer)) {
    throw std::invalid_argument(
        "the graph spec asks for 'threshold' edges without their distances (same_layer, "
        "adjacent_layer: a model exported before the spec recorded them): re-export it, or "
        "pass the graphs with their edges");
  }
  const std::int64_t width = spec.num_features();
  if (nodes.num_features() != width) {
    throw std::invalid_argument("input 'x' has " + std::to_string(nodes.num_features()) +
                                " features per node, the model expects " +
                                std::to_string(width));
  }
  if (knn_threads < 1) {
    throw std::invalid_argument("knn_threads is " + std::to_string(knn_threads) +
                                ", expected >= 1");
  }
  GraphBatch graphs(width, nodes.num_graph_features());
  if (spec.builder == "none") {
    graphs.assign(nodes, {});
    return graphs;
  }
  if ((knn || threshold) && spec.coordinates.empty()) {
    throw std::invalid_argument("the graph spec names no coordinates to build '" + spec.builder +
                                "' edges from");
  }
  if (delaunay && spec.coordinates.size() != 2) {
    throw std::invalid_argument("the graph spec names " + std::to_string(spec.coordinates.size()) +
                                " coordinates: Delaunay edges need 2, (eta, phi)");
  }
  if (nodes.num_graphs() == 0) return graphs;

  const std::vector<float> pos = positions(spec, nodes, delaunay);
  PointBatch points;
  points.pos = pos.data();
  points.num_nodes = static_cast<std::size_t>(nodes.num_nodes());
  points.dim = spec.coordinates.size();
  points.ptr = nodes.ptr().data();
  points.num_graphs = static_cast<std::size_t>(nodes.num_graphs());
  if (delaunay) {
    graphs.assign(nodes, delaunay_graph(points).data);
    return graphs;
  }
  if (threshold) {
    const std::vector<std::int64_t> layer = layers(spec, nodes);
    ThresholdOptions options;
    options.same_layer = *spec.same_layer;
    options.adjacent_layer = *spec.adjacent_layer;
    options.loop = spec.loop;
    graphs.assign(nodes, threshold_graph(points, layer.data(), options).edges.data);
    return graphs;
  }
  KnnOptions options;
  options.k = spec.k;
  options.loop = spec.loop;
  options.threads = knn_threads;
  graphs.assign(nodes, knn_graph(points, options).data);
  return graphs;
}

}  // namespace e2e_gnn
