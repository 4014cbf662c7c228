#include "e2e_gnn/graph_check.hpp"

#include "e2e_gnn/knn.hpp"

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

void check_graph_features(const TensorView* u, std::int64_t num_graphs, std::int64_t width) {
  if (u == nullptr) {
    require(width <= 0, [&] {
      return "the model takes graph features: input 'u' [" + std::to_string(num_graphs) + ", " +
             std::to_string(width) + "] is missing";
    });
    return;
  }
  require(width != 0, [&] {
    return "input 'u' " + shape_to_string(u->shape) +
           " given but the model takes no graph features";
  });
  require(u->dtype == DType::float32, [&] {
    return "input 'u' has dtype " + to_string(u->dtype) + ", expected float32";
  });
  const bool shape_ok = u->shape.size() == 2 && u->shape[0] == num_graphs &&
                        (width < 0 || u->shape[1] == width);
  require(shape_ok, [&] {
    return "input 'u' has shape " + shape_to_string(u->shape) + ", expected [" +
           std::to_string(num_graphs) + ", " + (width < 0 ? "F_u" : std::to_string(width)) +
           "] (graphs, graph features)";
  });
  const float* values = u->as<float>();
  for (std::int64_t i = 0; i < u->size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw std::invalid_argument("input 'u' has a non-finite value " + std::to_string(values[i]) +
                                  " at graph " + std::to_string(i / u->shape[1]) + ", feature " +
                                  std::to_string(i % u->shape[1]));
    }
  }
}

}  // namespace

std::int64_t check_graph_inputs(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch, std::int64_t num_features,
                                const TensorView* u, std::int64_t num_graph_features) {
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
  const std::int64_t num_graphs = graph[n - 1] + 1;
  check_graph_features(u, num_graphs, num_graph_features);
  return num_graphs;
}

void check_fixed_degree(const TensorView& edge_index, const TensorView& batch, std::int64_t k,
                        bool loop) {
  check_dtype_rank(edge_index, "edge_index", DType::int64, 2);
  check_dtype_rank(batch, "batch", DType::int64, 1);
  require(edge_index.shape[0] == 2, [&] {
    return "input 'edge_index' has shape " + shape_to_string(edge_index.shape) +
           ", expected [2, E]";
  });
  const std::int64_t num_edges = edge_index.shape[1];
  const std::int64_t* targets = edge_index.as<std::int64_t>() + num_edges;
  const std::int64_t* graph_of = batch.as<std::int64_t>();
  const std::int64_t num_nodes = batch.shape[0];
  std::int64_t e = 0;
  for (std::int64_t first = 0, last = 0; first < num_nodes; first = last) {
    while (last < num_nodes && graph_of[last] == graph_of[first]) ++last;
    const std::int64_t degree = knn_degree(last - first, k, loop);
    for (std::int64_t node = first; node < last; ++node) {
      for (std::int64_t d = 0; d < degree; ++d, ++e) {
        if (e >= num_edges || targets[e] != node) {
          throw std::invalid_argument(
              "input 'edge_index' does not have the fixed-degree layout this model needs: "
              "edge " + std::to_string(e) + " should be edge " + std::to_string(d) + " of " +
              std::to_string(degree) + " into node " + std::to_string(node) +
              " (targets sorted, knn_degree(n, k=" + std::to_string(k) +
              ") edges per node); build the graphs from the model's graph spec");
        }
      }
    }
  }
  if (e != num_edges) {
    throw std::invalid_argument("input 'edge_index' has " + std::to_string(num_edges) +
                                " edges, the fixed-degree layout of this model has " +
                                std::to_string(e));
  }
}

void check_frames(const TensorView& frames, const std::vector<std::int64_t>& item_shape) {
  // [B, C, H, W] or layered [B, C, L, H, W]: the rank is the spec's when it gives a shape
  const std::size_t rank = item_shape.empty() ? (frames.shape.size() == 5 ? 5 : 4)
                                              : item_shape.size() + 1;
  std::vector<std::int64_t> expected{-1};
  expected.insert(expected.end(), item_shape.begin(), item_shape.end());
  bool shape_ok = (rank == 4 || rank == 5) && frames.shape.size() == rank;
  for (std::size_t d = 1; shape_ok && !item_shape.empty() && d < rank; ++d) {
    shape_ok = frames.shape[d] == expected[d];
  }
  require(frames.dtype == DType::float32, [&] {
    return "input 'frames' has dtype " + to_string(frames.dtype) + ", expected float32";
  });
  require(shape_ok, [&] {
    const char* names4[] = {"B", "C", "H", "W"};
    const char* names5[] = {"B", "C", "L", "H", "W"};
    std::string wanted = "[B";
    for (std::size_t d = 1; d < (rank == 5 ? 5 : 4); ++d) {
      wanted += ", " + (item_shape.empty() ? std::string(rank == 5 ? names5[d] : names4[d])
                                           : std::to_string(expected[d]));
    }
    return "input 'frames' has shape " + shape_to_string(frames.shape) +
           ", the model expects " + wanted + "]";
  });
  const float* values = frames.as<float>();
  const std::int64_t count = frames.size();
  for (std::int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) {
      std::int64_t per_image = 1;
      for (std::size_t d = 1; d < rank; ++d) per_image *= frames.shape[d];
      std::string at;
      std::int64_t rest = i % per_image;
      for (std::size_t d = rank - 1; d >= 1; --d) {
        at = std::to_string(rest % frames.shape[d]) + (at.empty() ? "" : ", ") + at;
        rest /= frames.shape[d];
      }
      throw std::invalid_argument("input 'frames' has non-finite values in image " +
                                  std::to_string(i / per_image) + ": " +
                                  std::to_string(values[i]) + " at [" + at + "]");
    }
  }
}

}  // namespace e2e_gnn
