// Ragged batching: many variable-size graphs (all jets of an event, or many events) or
// images concatenated into ONE model input, and the model outputs split back per item.
// No padding: graph g owns nodes [node_ptr[g], node_ptr[g + 1]) and its edges are offset.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "e2e_gnn/session.hpp"
#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn {

/// Node features of many graphs stored back to back, before edges are built: graph g owns
/// rows [ptr[g], ptr[g + 1]) of x [num_nodes, num_features] (row-major), and row g of the
/// graph features u [num_graphs, num_graph_features] when the model reads some
/// (GraphSpec::graph_feature_names).
class NodeBatch {
 public:
  /// `num_graph_features` > 0: every add() takes that many graph features (u).
  explicit NodeBatch(std::int64_t num_features, std::int64_t num_graph_features = 0);
  /// Every graph at once from caller-owned arrays: x holds `num_values` floats
  /// [N, num_features] and ptr its `ptr_size` = G + 1 offsets. Checks everything before
  /// copying: throws std::invalid_argument naming the entry unless ptr starts at 0, never
  /// decreases, gives every graph a node and ends at N = num_values / num_features.
  /// Graph features, if any, follow with set_graph_features().
  NodeBatch(std::int64_t num_features, const float* x, std::int64_t num_values,
            const std::int64_t* ptr, std::int64_t ptr_size);

  /// Appends a graph of `num_nodes` rows of `num_features` floats (copied): `x` must hold
  /// num_nodes * num_features floats, `u` its num_graph_features() graph features (nullptr
  /// when there are none). Throws std::invalid_argument for num_nodes < 1 (a jet without
  /// hits has no graph) or a missing or unexpected u.
  void add(const float* x, std::int64_t num_nodes, const float* u = nullptr);
  /// The same from vectors, which must hold exactly num_nodes * num_features floats and
  /// num_graph_features() floats (std::invalid_argument otherwise, before anything is read).
  void add(const std::vector<float>& x, std::int64_t num_nodes, const std::vector<float>& u = {});
  /// The graph features of every graph at once: u [num_graphs, num_graph_features] (row g:
  /// graph g), `num_values` floats; replaces any set before and fixes num_graph_features()
  /// for later add() calls. Throws std::invalid_argument unless num_values is num_graphs() *
  /// num_graph_features (num_graph_features >= 0; 0 removes u).
  void set_graph_features(const float* u, std::int64_t num_values, std::int64_t num_graph_features);
  /// Forgets every graph, keeping the allocated memory for the next event.
  void clear();

  std::int64_t num_features() const { return num_features_; }
  std::int64_t num_graph_features() const { return num_graph_features_; }
  std::int64_t num_nodes() const { return static_cast<std::int64_t>(ptr_.back()); }
  std::int64_t num_graphs() const { return static_cast<std::int64_t>(ptr_.size()) - 1; }
  const std::vector<float>& x() const { return x_; }
  const std::vector<std::int64_t>& ptr() const { return ptr_; }
  /// u [num_graphs, num_graph_features], row-major (empty without graph features).
  const std::vector<float>& u() const { return u_; }

 private:
  std::int64_t num_features_;
  std::int64_t num_graph_features_ = 0;
  std::vector<float> x_;
  std::vector<std::int64_t> ptr_{0};
  std::vector<float> u_;
};

/// Rows of many graphs back to back, e.g. a per-node model output split per graph without
/// padding: graph g owns rows [offsets[g], offsets[g + 1]) of values [rows, ...].
struct RaggedTensor {
  Tensor values;
  std::vector<std::int64_t> offsets{0};  // G + 1 entries, from 0 to values.shape[0]

  std::int64_t num_graphs() const { return static_cast<std::int64_t>(offsets.size()) - 1; }
  std::int64_t num_rows(std::int64_t g) const { return offsets.at(g + 1) - offsets.at(g); }
  /// Graph g's rows as a new tensor [num_rows(g), ...]; std::out_of_range for a bad g.
  Tensor row(std::int64_t g) const;
  /// Graph g's first value, for direct reads of its rows (C-contiguous, num_rows(g) rows).
  template <typename T> const T* data(std::int64_t g) const;
};

/// A ragged batch of graphs laid out as the model inputs x float32 [N, F],
/// edge_index int64 [2, E] (sources, then targets, global node indices), batch int64 [N],
/// and u float32 [G, F_u] for a model reading graph features.
class GraphBatch {
 public:
  /// `num_graph_features` > 0: every add() takes that many graph features (u).
  explicit GraphBatch(std::int64_t num_features, std::int64_t num_graph_features = 0);

  /// Appends one graph: x [num_nodes, F] and edge_index [2, num_edges] (its E sources, then
  /// its E targets) in the graph's own node numbering 0..num_nodes-1, and its
  /// num_graph_features() graph features u (nullptr when there are none); all are copied
  /// and the indices offset. Throws std::invalid_argument naming the graph, the position
  /// and the value for num_nodes < 1, num_edges < 0, an index outside [0, num_nodes) or a
  /// missing or unexpected u.
  void add(const float* x, std::int64_t num_nodes, const std::int64_t* edge_index,
           std::int64_t num_edges, const float* u = nullptr);
  /// Takes nodes (and their graph features) and their edges (global indices, e.g. from
  /// knn_graph) in one step.
  void assign(const NodeBatch& nodes, std::vector<std::int64_t>&& edge_index);
  /// The graph features of every graph at once, as NodeBatch::set_graph_features.
  void set_graph_features(const float* u, std::int64_t num_values, std::int64_t num_graph_features);
  /// Forgets every graph, keeping the allocated memory for the next event.
  void clear();

  std::int64_t num_features() const { return num_features_; }
  std::int64_t num_graph_features() const { return num_graph_features_; }
  std::int64_t num_nodes() const { return static_cast<std::int64_t>(node_ptr_.back()); }
  std::int64_t num_edges() const { return static_cast<std::int64_t>(edge_index_.size() / 2); }
  std::int64_t num_graphs() const { return static_cast<std::int64_t>(node_ptr_.size()) - 1; }
  /// num_graphs + 1 offsets: graph g owns nodes [node_ptr[g], node_ptr[g + 1]).
  const std::vector<std::int64_t>& node_ptr() const { return node_ptr_; }

  /// Zero-copy views of the model inputs (valid while the batch is unchanged).
  TensorView x() const;
  TensorView edge_index() const;
  TensorView batch() const;
  /// u [G, F_u]; F_u = 0 without graph features.
  TensorView u() const;
  /// {"x", "edge_index", "batch"} for Session::run, and "u" when the batch has graph
  /// features.
  NamedInputs inputs() const;

  /// A model output [rows, ...] split per graph at the level its spec gives it
  /// (TensorSpec::per_node()): per node, graph g owns rows [node_ptr[g], node_ptr[g + 1]);
  /// per graph, row g. Never guessed from the row count (equal for one-node graphs).
  /// Throws std::invalid_argument when the output does not have one row per node (N) or
  /// per graph (G) as its level says.
  RaggedTensor split(Tensor output, bool per_node) const;

 private:
  std::int64_t num_features_;
  std::int64_t num_graph_features_ = 0;
  std::vector<float> x_;
  std::vector<std::int64_t> edge_index_;  // [2, E], rebuilt by add() to stay contiguous
  std::vector<std::int64_t> batch_;
  std::vector<std::int64_t> node_ptr_{0};
  std::vector<float> u_;
};

/// A batch of images [B, C, H, W] (or any fixed item shape) filled one item at a time.
class ImageBatch {
 public:
  /// `item_shape` is the shape of one image, e.g. {C, H, W}.
  explicit ImageBatch(std::vector<std::int64_t> item_shape);

  /// Appends `count` images stored back to back at `data` (copied).
  void add(const float* data, std::int64_t count = 1);
  void clear();

  std::int64_t size() const { return size_; }
  const std::vector<std::int64_t>& item_shape() const { return item_shape_; }
  /// [B, item_shape...] view of the images (valid while the batch is unchanged).
  TensorView view() const;
  /// Splits an output [B, ...] into B tensors [1, ...]; throws unless its first dim is B.
  std::vector<Tensor> split(const Tensor& output) const;

 private:
  std::vector<std::int64_t> item_shape_;
  std::int64_t item_size_;
  std::int64_t size_ = 0;
  std::vector<float> data_;
};

/// Rows [begin, end) of `tensor` along its first dimension, as a new tensor.
Tensor slice_rows(const Tensor& tensor, std::int64_t begin, std::int64_t end);

template <typename T> const T* RaggedTensor::data(std::int64_t g) const {
  if (dtype_of<T>() != values.dtype) {
    throw std::invalid_argument("RaggedTensor::data: the values are " + to_string(values.dtype) +
                                ", not " + to_string(dtype_of<T>()));
  }
  const std::int64_t rows = values.shape.empty() ? 0 : values.shape[0];
  const std::size_t row_size = rows == 0 ? 0 : static_cast<std::size_t>(values.size() / rows);
  return values.as<T>() + static_cast<std::size_t>(offsets.at(g)) * row_size;
}

}  // namespace e2e_gnn
