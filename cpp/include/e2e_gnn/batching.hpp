// Ragged batching: many variable-size graphs (all jets of an event, or many events) or
// images concatenated into ONE model input, and the model outputs split back per item.
// No padding: graph g owns nodes [node_ptr[g], node_ptr[g + 1]) and its edges are offset.
#pragma once

#include <cstdint>
#include <vector>

#include "e2e_gnn/session.hpp"
#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn {

/// Node features of many graphs stored back to back, before edges are built: graph g owns
/// rows [ptr[g], ptr[g + 1]) of x [num_nodes, num_features] (row-major).
class NodeBatch {
 public:
  explicit NodeBatch(std::int64_t num_features);
  /// Every graph at once from caller-owned arrays: x holds `num_values` floats
  /// [N, num_features] and ptr its `ptr_size` = G + 1 offsets. Checks everything before
  /// copying: throws std::invalid_argument naming the entry unless ptr starts at 0, never
  /// decreases, gives every graph a node and ends at N = num_values / num_features.
  NodeBatch(std::int64_t num_features, const float* x, std::int64_t num_values,
            const std::int64_t* ptr, std::int64_t ptr_size);

  /// Appends a graph of `num_nodes` rows of `num_features` floats (copied): `x` must hold
  /// num_nodes * num_features floats. Throws std::invalid_argument for num_nodes < 1 (a jet
  /// without hits has no graph).
  void add(const float* x, std::int64_t num_nodes);
  /// The same from a vector, which must hold exactly num_nodes * num_features floats
  /// (std::invalid_argument otherwise, before anything is read).
  void add(const std::vector<float>& x, std::int64_t num_nodes);
  /// Forgets every graph, keeping the allocated memory for the next event.
  void clear();

  std::int64_t num_features() const { return num_features_; }
  std::int64_t num_nodes() const { return static_cast<std::int64_t>(ptr_.back()); }
  std::int64_t num_graphs() const { return static_cast<std::int64_t>(ptr_.size()) - 1; }
  const std::vector<float>& x() const { return x_; }
  const std::vector<std::int64_t>& ptr() const { return ptr_; }

 private:
  std::int64_t num_features_;
  std::vector<float> x_;
  std::vector<std::int64_t> ptr_{0};
};

/// A ragged batch of graphs laid out as the model inputs x float32 [N, F],
/// edge_index int64 [2, E] (sources, then targets, global node indices) and batch int64 [N].
class GraphBatch {
 public:
  explicit GraphBatch(std::int64_t num_features);

  /// Appends one graph: x [num_nodes, F] and edge_index [2, num_edges] (its E sources, then
  /// its E targets) in the graph's own node numbering 0..num_nodes-1; both are copied and
  /// the indices offset. Throws std::invalid_argument naming the graph, the position and
  /// the value for num_nodes < 1, num_edges < 0 or an index outside [0, num_nodes).
  void add(const float* x, std::int64_t num_nodes, const std::int64_t* edge_index,
           std::int64_t num_edges);
  /// Takes nodes and their edges (global indices, e.g. from knn_graph) in one step.
  void assign(const NodeBatch& nodes, std::vector<std::int64_t>&& edge_index);
  /// Forgets every graph, keeping the allocated memory for the next event.
  void clear();

  std::int64_t num_features() const { return num_features_; }
  std::int64_t num_nodes() const { return static_cast<std::int64_t>(node_ptr_.back()); }
  std::int64_t num_edges() const { return static_cast<std::int64_t>(edge_index_.size() / 2); }
  std::int64_t num_graphs() const { return static_cast<std::int64_t>(node_ptr_.size()) - 1; }
  /// num_graphs + 1 offsets: graph g owns nodes [node_ptr[g], node_ptr[g + 1]).
  const std::vector<std::int64_t>& node_ptr() const { return node_ptr_; }

  /// Zero-copy views of the three model inputs (valid while the batch is unchanged).
  TensorView x() const;
  TensorView edge_index() const;
  TensorView batch() const;
  /// {"x", "edge_index", "batch"} for Session::run.
  NamedInputs inputs() const;

  /// Splits a model output back per graph: a per-graph output [G, ...] gives graph g its
  /// row as [1, ...]; a per-node output [N, ...] gives graph g its nodes' rows [n_g, ...].
  /// Throws std::invalid_argument when the first dimension is neither G nor N.
  std::vector<Tensor> split(const Tensor& output) const;

 private:
  std::int64_t num_features_;
  std::vector<float> x_;
  std::vector<std::int64_t> edge_index_;  // [2, E], rebuilt by add() to stay contiguous
  std::vector<std::int64_t> batch_;
  std::vector<std::int64_t> node_ptr_{0};
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

}  // namespace e2e_gnn
