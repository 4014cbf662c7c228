#include "e2e_gnn/spec_graphs.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "e2e_gnn/knn.hpp"
#include "e2e_gnn/point_batch.hpp"

namespace e2e_gnn {

GraphBatch build_graphs(const GraphSpec& spec, const NodeBatch& nodes, int knn_threads) {
  if (spec.builder != "knn" || spec.k < 1) {
    throw std::invalid_argument("the graph spec asks for '" + spec.builder +
                                "' edges" + (spec.k < 1 ? " without k" : "") +
                                ": graphs are built from a spec for kNN edges only; pass "
                                "the graphs with their edges instead");
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
  GraphBatch graphs(width);
  if (nodes.num_graphs() == 0) return graphs;

  const std::vector<std::size_t> columns = spec.coordinate_columns();
  if (columns.empty()) {
    throw std::invalid_argument("the graph spec names no coordinates to build kNN edges from");
  }
  std::vector<float> scale;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    scale.push_back(spec.coordinate_scale.empty() ? 1.0f
                                                  : static_cast<float>(spec.coordinate_scale[c]));
  }
  const std::size_t n = static_cast<std::size_t>(nodes.num_nodes());
  const std::size_t dims = columns.size();
  std::vector<float> pos(n * dims);
  const float* x = nodes.x().data();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t c = 0; c < dims; ++c) {
      pos[i * dims + c] = x[i * static_cast<std::size_t>(width) + columns[c]] * scale[c];
    }
  }
  PointBatch points;
  points.pos = pos.data();
  points.num_nodes = n;
  points.dim = dims;
  points.ptr = nodes.ptr().data();
  points.num_graphs = static_cast<std::size_t>(nodes.num_graphs());
  KnnOptions knn;
  knn.k = spec.k;
  knn.loop = spec.loop;
  knn.threads = knn_threads;
  graphs.assign(nodes, knn_graph(points, knn).data);
  return graphs;
}

}  // namespace e2e_gnn
