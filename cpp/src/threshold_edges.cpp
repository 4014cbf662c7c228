#include "e2e_gnn/threshold_edges.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e_gnn {
namespace {

struct Edge {
  std::int64_t target;
  std::int64_t source;
  float distance;
};

double distance(const float* a, const float* b, std::size_t dim, const Periodicity& periodic) {
  double acc = 0.0;
  for (std::size_t d = 0; d < dim; ++d) {
    const double diff =
        coordinate_difference(a[d], b[d], static_cast<int>(d) == periodic.dim, periodic.period);
    acc += diff * diff;
  }
  return std::sqrt(acc);
}

// Edges of one graph (nodes [begin, begin + n)), appended to `edges` in any order.
void graph_edges(const PointBatch& points, const std::int64_t* layer, std::size_t begin,
                 std::size_t n, const ThresholdOptions& options, std::vector<Edge>& edges) {
  const std::size_t dim = points.dim;
  const float* pos = points.pos + begin * dim;
  const double reach = std::max(options.same_layer, options.adjacent_layer);
  // Sweep along a coordinate that does not wrap: nodes farther apart along it than `reach`
  // cannot be linked. Without one, every pair is tested.
  std::size_t axis = 0;
  while (axis < dim && static_cast<int>(axis) == options.periodic.dim) {
    ++axis;
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  const bool sweep = axis < dim;
  if (sweep) {
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return pos[a * dim + axis] < pos[b * dim + axis];
    });
  }
  // Distances are never shorter than their component along the axis, up to rounding.
  const double cut = reach + 1e-9 * (1.0 + std::fabs(reach));
  const auto gap_along = [&](std::size_t j, std::size_t i) {
    return static_cast<double>(pos[j * dim + axis]) - static_cast<double>(pos[i * dim + axis]);
  };
  for (std::size_t a = 0; a < n; ++a) {
    const std::size_t i = order[a];
    const std::int64_t gi = static_cast<std::int64_t>(begin + i);
    if (options.loop) {
      edges.push_back({gi, gi, 0.0f});
    }
    for (std::size_t b = a + 1; b < n; ++b) {
      const std::size_t j = order[b];
      if (sweep && gap_along(j, i) > cut) {
        break;
      }
      const std::int64_t gj = static_cast<std::int64_t>(begin + j);
      const std::int64_t step =
          layer[gi] > layer[gj] ? layer[gi] - layer[gj] : layer[gj] - layer[gi];
      if (step > 1) {
        continue;
      }
      const double limit = step == 0 ? options.same_layer : options.adjacent_layer;
      const double d = distance(pos + i * dim, pos + j * dim, dim, options.periodic);
      if (d <= limit) {
        edges.push_back({gi, gj, static_cast<float>(d)});
        edges.push_back({gj, gi, static_cast<float>(d)});
      }
    }
  }
}

}  // namespace

WeightedEdges threshold_graph(const PointBatch& points, const std::int64_t* layer,
                              const ThresholdOptions& options) {
  points.validate();
  options.periodic.validate(points.dim);
  if (layer == nullptr && points.num_nodes > 0) {
    throw std::invalid_argument("layer must hold one value per node, got none");
  }
  if (!std::isfinite(options.same_layer)) {
    throw std::invalid_argument("same_layer = " + std::to_string(options.same_layer) +
                                " must be finite");
  }
  if (!std::isfinite(options.adjacent_layer)) {
    throw std::invalid_argument("adjacent_layer = " + std::to_string(options.adjacent_layer) +
                                " must be finite");
  }
  std::vector<Edge> edges;
  for (std::size_t g = 0; g < points.num_graphs; ++g) {
    graph_edges(points, layer, static_cast<std::size_t>(points.ptr[g]), points.graph_size(g),
                options, edges);
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return a.target < b.target || (a.target == b.target && a.source < b.source);
  });
  WeightedEdges out;
  const std::size_t num_edges = edges.size();
  out.edges.data.resize(2 * num_edges);
  out.distance.resize(num_edges);
  for (std::size_t e = 0; e < num_edges; ++e) {
    out.edges.data[e] = edges[e].source;
    out.edges.data[num_edges + e] = edges[e].target;
    out.distance[e] = edges[e].distance;
  }
  return out;
}

}  // namespace e2e_gnn
