#include "e2e_gnn/batching.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace e2e_gnn {
namespace {

void check_features(std::int64_t num_features, const char* what) {
  if (num_features < 1) {
    throw std::invalid_argument(std::string(what) + " needs num_features >= 1, got " +
                                std::to_string(num_features));
  }
}

void check_nodes(std::int64_t graph, std::int64_t num_nodes) {
  if (num_nodes < 1) {
    throw std::invalid_argument("graph " + std::to_string(graph) + " has " +
                                std::to_string(num_nodes) +
                                " nodes: every graph needs at least one node (skip empty jets "
                                "before batching)");
  }
}

void check_graph_feature_width(std::int64_t num_graph_features, const char* what) {
  if (num_graph_features < 0) {
    throw std::invalid_argument(std::string(what) + " needs num_graph_features >= 0, got " +
                                std::to_string(num_graph_features));
  }
}

// The graph features of graph `graph` given to add(): present exactly when the batch has
// graph features.
void check_u(std::int64_t graph, const float* u, std::int64_t width) {
  if (width > 0 && u == nullptr) {
    throw std::invalid_argument("graph " + std::to_string(graph) + " has no graph features: "
                                "this batch takes " + std::to_string(width) +
                                " per graph (input 'u')");
  }
  if (width == 0 && u != nullptr) {
    throw std::invalid_argument("graph " + std::to_string(graph) +
                                " has graph features but this batch takes none (input 'u'); "
                                "construct it with num_graph_features");
  }
}

// u [num_graphs, width] from `num_values` floats at `u`, checked before anything is copied.
std::vector<float> graph_features(const float* u, std::int64_t num_values, std::int64_t width,
                                  std::int64_t num_graphs) {
  check_graph_feature_width(width, "set_graph_features");
  if (num_values != num_graphs * width || (num_values > 0 && u == nullptr)) {
    throw std::invalid_argument("input 'u' has " + std::to_string(num_values) +
                                " values, expected " + std::to_string(num_graphs) +
                                " graphs x " + std::to_string(width) +
                                " graph features = " + std::to_string(num_graphs * width));
  }
  return std::vector<float>(u, u + num_values);
}

}  // namespace

NodeBatch::NodeBatch(std::int64_t num_features, std::int64_t num_graph_features)
    : num_features_(num_features), num_graph_features_(num_graph_features) {
  check_features(num_features, "NodeBatch");
  check_graph_feature_width(num_graph_features, "NodeBatch");
}

NodeBatch::NodeBatch(std::int64_t num_features, const float* x, std::int64_t num_values,
                     const std::int64_t* ptr, std::int64_t ptr_size)
    : num_features_(num_features) {
  check_features(num_features, "NodeBatch");
  if (num_values < 0 || num_values % num_features != 0 || (num_values > 0 && x == nullptr)) {
    throw std::invalid_argument("input 'x' has " + std::to_string(num_values) +
                                " values, not a whole number of nodes of " +
                                std::to_string(num_features) + " features");
  }
  const std::int64_t num_nodes = num_values / num_features;
  if (ptr == nullptr || ptr_size < 1 || ptr[0] != 0 || ptr[ptr_size - 1] != num_nodes) {
    throw std::invalid_argument(
        "input 'ptr' must start at 0 and end at the number of nodes (" +
        std::to_string(num_nodes) + "), got " +
        (ptr == nullptr || ptr_size < 1
             ? std::string("no entries")
             : std::to_string(ptr[0]) + " ... " + std::to_string(ptr[ptr_size - 1])));
  }
  for (std::int64_t g = 0; g + 1 < ptr_size; ++g) check_nodes(g, ptr[g + 1] - ptr[g]);
  x_.assign(x, x + num_values);
  ptr_.assign(ptr, ptr + ptr_size);
}

void NodeBatch::add(const float* x, std::int64_t num_nodes, const float* u) {
  check_nodes(num_graphs(), num_nodes);
  check_u(num_graphs(), u, num_graph_features_);
  x_.insert(x_.end(), x, x + num_nodes * num_features_);
  ptr_.push_back(ptr_.back() + num_nodes);
  if (u != nullptr) u_.insert(u_.end(), u, u + num_graph_features_);
}

void NodeBatch::add(const std::vector<float>& x, std::int64_t num_nodes,
                    const std::vector<float>& u) {
  check_nodes(num_graphs(), num_nodes);
  if (static_cast<std::int64_t>(u.size()) != num_graph_features_) {
    throw std::invalid_argument("graph " + std::to_string(num_graphs()) + " has " +
                                std::to_string(u.size()) + " graph features, expected " +
                                std::to_string(num_graph_features_) + " (input 'u')");
  }
  if (static_cast<std::int64_t>(x.size()) != num_nodes * num_features_) {
    throw std::invalid_argument("graph " + std::to_string(num_graphs()) + " has " +
                                std::to_string(x.size()) + " values, expected " +
                                std::to_string(num_nodes) + " nodes x " +
                                std::to_string(num_features_) + " features = " +
                                std::to_string(num_nodes * num_features_));
  }
  add(x.data(), num_nodes, u.empty() ? nullptr : u.data());
}

void NodeBatch::set_graph_features(const float* u, std::int64_t num_values,
                                   std::int64_t num_graph_features) {
  u_ = graph_features(u, num_values, num_graph_features, num_graphs());
  num_graph_features_ = num_graph_features;
}

void NodeBatch::clear() {
  x_.clear();
  u_.clear();
  ptr_.assign(1, 0);
}

Tensor RaggedTensor::row(std::int64_t g) const {
  if (g < 0 || g >= num_graphs()) {
    throw std::out_of_range("graph " + std::to_string(g) + " is not one of the " +
                            std::to_string(num_graphs()) + " graphs");
  }
  return slice_rows(values, offsets[static_cast<std::size_t>(g)],
                    offsets[static_cast<std::size_t>(g) + 1]);
}

GraphBatch::GraphBatch(std::int64_t num_features, std::int64_t num_graph_features)
    : num_features_(num_features), num_graph_features_(num_graph_features) {
  check_features(num_features, "GraphBatch");
  check_graph_feature_width(num_graph_features, "GraphBatch");
}

void GraphBatch::add(const float* x, std::int64_t num_nodes, const std::int64_t* edge_index,
                     std::int64_t num_edges, const float* u) {
  const std::int64_t graph = num_graphs();
  check_nodes(graph, num_nodes);
  check_u(graph, u, num_graph_features_);
  if (num_edges < 0) {
    throw std::invalid_argument("graph " + std::to_string(graph) + " has " +
                                std::to_string(num_edges) + " edges, expected >= 0");
  }
  for (std::int64_t e = 0; e < 2 * num_edges; ++e) {
    if (edge_index[e] < 0 || edge_index[e] >= num_nodes) {
      throw std::invalid_argument(
          "graph " + std::to_string(graph) + ": 'edge_index' has " +
          std::to_string(edge_index[e]) + " at [" + std::to_string(e / num_edges) + ", " +
          std::to_string(e % num_edges) + "], outside its " + std::to_string(num_nodes) +
          " nodes [0, " + std::to_string(num_nodes) + ")");
    }
  }
  const std::int64_t offset = node_ptr_.back();
  const std::size_t old_edges = edge_index_.size() / 2;
  const std::size_t new_edges = old_edges + static_cast<std::size_t>(num_edges);
  // Keep [sources | targets] contiguous: move the old targets up, then fill both rows.
  edge_index_.resize(2 * new_edges);
  std::int64_t* data = edge_index_.data();
  if (old_edges > 0) {
    std::memmove(data + new_edges, data + old_edges, old_edges * sizeof(std::int64_t));
  }
  for (std::int64_t e = 0; e < num_edges; ++e) {
    data[old_edges + e] = edge_index[e] + offset;
    data[new_edges + old_edges + e] = edge_index[num_edges + e] + offset;
  }
  x_.insert(x_.end(), x, x + num_nodes * num_features_);
  batch_.insert(batch_.end(), static_cast<std::size_t>(num_nodes), graph);
  node_ptr_.push_back(offset + num_nodes);
  if (u != nullptr) u_.insert(u_.end(), u, u + num_graph_features_);
}

void GraphBatch::assign(const NodeBatch& nodes, std::vector<std::int64_t>&& edge_index) {
  if (nodes.num_features() != num_features_) {
    throw std::invalid_argument("NodeBatch has " + std::to_string(nodes.num_features()) +
                                " features per node, this GraphBatch " +
                                std::to_string(num_features_));
  }
  if (edge_index.size() % 2 != 0) {
    throw std::invalid_argument("edge_index must hold 2 * E entries, got " +
                                std::to_string(edge_index.size()));
  }
  x_ = nodes.x();
  node_ptr_ = nodes.ptr();
  num_graph_features_ = nodes.num_graph_features();
  u_ = nodes.u();
  edge_index_ = std::move(edge_index);
  batch_.resize(x_.size() / static_cast<std::size_t>(num_features_));
  for (std::size_t g = 0; g + 1 < node_ptr_.size(); ++g) {
    std::fill(batch_.begin() + node_ptr_[g], batch_.begin() + node_ptr_[g + 1],
              static_cast<std::int64_t>(g));
  }
}

void GraphBatch::set_graph_features(const float* u, std::int64_t num_values,
                                    std::int64_t num_graph_features) {
  u_ = graph_features(u, num_values, num_graph_features, num_graphs());
  num_graph_features_ = num_graph_features;
}

void GraphBatch::clear() {
  x_.clear();
  u_.clear();
  edge_index_.clear();
  batch_.clear();
  node_ptr_.assign(1, 0);
}

TensorView GraphBatch::x() const { return TensorView::of(x_.data(), {num_nodes(), num_features_}); }

TensorView GraphBatch::edge_index() const {
  return TensorView::of(edge_index_.data(), {2, num_edges()});
}

TensorView GraphBatch::batch() const { return TensorView::of(batch_.data(), {num_nodes()}); }

TensorView GraphBatch::u() const {
  return TensorView::of(u_.data(), {num_graphs(), num_graph_features_});
}

NamedInputs GraphBatch::inputs() const {
  NamedInputs inputs{{"x", x()}, {"edge_index", edge_index()}, {"batch", batch()}};
  if (num_graph_features_ > 0) inputs.emplace_back("u", u());
  return inputs;
}

RaggedTensor GraphBatch::split(Tensor output, bool per_node) const {
  const std::int64_t graphs = num_graphs();
  const std::int64_t expected = per_node ? num_nodes() : graphs;
  if (output.shape.empty() || output.shape[0] != expected) {
    throw std::invalid_argument("output of shape " + shape_to_string(output.shape) +
                                " does not have one row per " + (per_node ? "node" : "graph") +
                                " (" + std::to_string(expected) + ") of this batch, as its "
                                "spec says");
  }
  RaggedTensor ragged{std::move(output), {}};
  if (per_node) {
    ragged.offsets = node_ptr_;
  } else {
    ragged.offsets.resize(static_cast<std::size_t>(graphs) + 1);
    for (std::int64_t g = 0; g <= graphs; ++g) ragged.offsets[static_cast<std::size_t>(g)] = g;
  }
  return ragged;
}

ImageBatch::ImageBatch(std::vector<std::int64_t> item_shape)
    : item_shape_(std::move(item_shape)), item_size_(element_count(item_shape_)) {
  if (item_size_ < 1) {
    throw std::invalid_argument("ImageBatch item shape " + shape_to_string(item_shape_) +
                                " holds no values");
  }
}

void ImageBatch::add(const float* data, std::int64_t count) {
  if (count < 0) {
    throw std::invalid_argument("ImageBatch::add count is " + std::to_string(count) +
                                ", expected >= 0");
  }
  data_.insert(data_.end(), data, data + count * item_size_);
  size_ += count;
}

void ImageBatch::clear() {
  data_.clear();
  size_ = 0;
}

TensorView ImageBatch::view() const {
  std::vector<std::int64_t> shape{size_};
  shape.insert(shape.end(), item_shape_.begin(), item_shape_.end());
  return TensorView::of(data_.data(), std::move(shape));
}

std::vector<Tensor> ImageBatch::split(const Tensor& output) const {
  if (output.shape.empty() || output.shape[0] != size_) {
    throw std::invalid_argument("output of shape " + shape_to_string(output.shape) +
                                " does not have one row per image (" + std::to_string(size_) +
                                ")");
  }
  std::vector<Tensor> parts;
  parts.reserve(static_cast<std::size_t>(size_));
  for (std::int64_t i = 0; i < size_; ++i) parts.push_back(slice_rows(output, i, i + 1));
  return parts;
}

Tensor slice_rows(const Tensor& tensor, std::int64_t begin, std::int64_t end) {
  if (tensor.shape.empty() || begin < 0 || end < begin || end > tensor.shape[0]) {
    throw std::invalid_argument("rows [" + std::to_string(begin) + ", " + std::to_string(end) +
                                ") are not within a tensor of shape " +
                                shape_to_string(tensor.shape));
  }
  Tensor part{tensor.dtype, tensor.shape, {}};
  part.shape[0] = end - begin;
  const std::size_t row_bytes =
      tensor.shape[0] == 0 ? 0 : tensor.bytes.size() / static_cast<std::size_t>(tensor.shape[0]);
  part.bytes.assign(tensor.bytes.begin() + static_cast<std::ptrdiff_t>(begin * row_bytes),
                    tensor.bytes.begin() + static_cast<std::ptrdiff_t>(end * row_bytes));
  return part;
}

}  // namespace e2e_gnn
