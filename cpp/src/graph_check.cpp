#include "e2e_gnn/graph_check.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace e2e_gnn {
namespace {

// The checks run on every inference call: each message is built only when its check
// fails (a lambda), never for inputs that pass.
template <class Message>
void require(bool condition, Message&& message) {
  if (!condition) throw std::invalid_argument(message());
}

void check_dtype_rank(const TensorView& tensor, const char* name, DType dtype, std::size_t rank) {
  require(tensor.dtype == dtype, [&] {
    return std::string("input '") + name + "' has dtype " + to_string(tensor.dtype) +
           ", expected " + to_string(dtype);
  });
  require(tensor.shape.size() == rank, [&] {
    return std::string("input '") + name + "' has shape " + shape_to_string(tensor.shape) +
           ", expected rank " + std::to_string(rank);
  });
}

}  // namespace

std::int64_t check_graph_inputs(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch, std::int64_t num_features) {
  check_dtype_rank(x, "x", DType::float32, 2);
  check_dtype_rank(edge_index, "edge_index", DType::int64, 2);
  check_dtype_rank(batch, "batch", DType::int64, 1);
  const std::int64_t n = x.shape[0];
  require(n > 0, [&] {
    return "input 'x' has no nodes (shape " + shape_to_string(x.shape) +
           "): a batch needs at least one graph with one node";
  });
  if (num_features >= 0) {
    require(x.shape[1] == num_features, [&] {
      return "input 'x' has " + std::to_string(x.shape[1]) +
             " features per node, the model expects " + std::to_string(num_features);
    });
  }
  require(edge_index.shape[0] == 2, [&] {
    return "input 'edge_index' has shape " + shape_to_string(edge_index.shape) +
           ", expected [2, E]";
  });
  require(batch.shape[0] == n, [&] {
    return "input 'batch' has " + std::to_string(batch.shape[0]) +
           " entries, expected one per node (" + std::to_string(n) + ")";
  });

  const float* features = x.as<float>();
  // The loops below test first and build a message only on failure (they run per element).
  for (std::int64_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(features[i])) {
      throw std::invalid_argument("input 'x' has a non-finite value " +
                                  std::to_string(features[i]) + " at node " +
                                  std::to_string(i / x.shape[1]) + ", feature " +
                                  std::to_string(i % x.shape[1]));
    }
  }
  const std::int64_t* edges = edge_index.as<std::int64_t>();
  const std::int64_t num_edges = edge_index.shape[1];
  for (std::int64_t e = 0; e < 2 * num_edges; ++e) {
    if (edges[e] < 0 || edges[e] >= n) {
      throw std::invalid_argument(
          "input 'edge_index' has " + std::to_string(edges[e]) + " at [" +
          std::to_string(e / num_edges) + ", " + std::to_string(e % num_edges) + "], outside the " +
          std::to_string(n) + " nodes [0, " + std::to_string(n) + ")");
    }
  }
  const std::int64_t* graph = batch.as<std::int64_t>();
  require(graph[0] == 0, [&] {
    return "input 'batch' starts with graph " + std::to_string(graph[0]) +
           ", expected 0 (graph ids are 0..G-1, sorted)";
  });
  for (std::int64_t i = 1; i < n; ++i) {
    if (graph[i] != graph[i - 1] && graph[i] != graph[i - 1] + 1) {
      throw std::invalid_argument(
          "input 'batch' goes from graph " + std::to_string(graph[i - 1]) + " to " +
          std::to_string(graph[i]) + " at node " + std::to_string(i) +
          ": graph ids must be sorted and every graph 0..G-1 must have a node");
    }
  }
  for (std::int64_t e = 0; e < num_edges; ++e) {
    const std::int64_t source = edges[e], target = edges[num_edges + e];
    if (graph[source] != graph[target]) {
      throw std::invalid_argument(
          "input 'edge_index' edge " + std::to_string(e) + " connects node " +
          std::to_string(source) + " (graph " + std::to_string(graph[source]) + ") to node " +
          std::to_string(target) + " (graph " + std::to_string(graph[target]) +
          "): edges must stay within one graph");
    }
  }
  return graph[n - 1] + 1;
}

}  // namespace e2e_gnn
