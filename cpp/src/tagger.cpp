#include "e2e_gnn/tagger.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/knn.hpp"
#include "e2e_gnn/point_batch.hpp"

namespace e2e_gnn {
namespace {

const char* const kGraphInputs[] = {"x", "edge_index", "batch"};

const TensorInfo* find_info(const std::vector<TensorInfo>& infos, const std::string& name) {
  auto found = std::find_if(infos.begin(), infos.end(),
                            [&](const TensorInfo& info) { return info.name == name; });
  return found == infos.end() ? nullptr : &*found;
}

}  // namespace

Tagger::Tagger(const std::string& model_path, const TaggerOptions& options)
    : session_(model_path, options.session),
      spec_(ModelSpec::from_metadata(session_.metadata(), "model '" + model_path + "'")),
      options_(options) {
  const std::string source = "model '" + model_path + "'";
  if (options.knn_threads < 1) {
    throw std::invalid_argument("TaggerOptions::knn_threads is " +
                                std::to_string(options.knn_threads) + ", expected >= 1");
  }
  if (!spec_.graph) {
    check_frame_model(source);
  } else {
    for (const char* name : kGraphInputs) {
      if (!find_info(session_.inputs(), name)) {
        throw std::invalid_argument(source + " has no input '" + name +
                                    "': a graph model takes x, edge_index, batch");
      }
    }
    if (session_.inputs().size() != 3) {
      throw std::invalid_argument(source + " has " + std::to_string(session_.inputs().size()) +
                                  " inputs; the Tagger feeds exactly x, edge_index, batch");
    }
    const auto& x_shape = find_info(session_.inputs(), "x")->shape;
    if (x_shape.size() == 2 && x_shape[1] >= 0 && x_shape[1] != num_features()) {
      throw std::invalid_argument(source + " takes " + std::to_string(x_shape[1]) +
                                  " features per node but its spec names " +
                                  std::to_string(num_features()));
    }
    const GraphSpec& graph = graph_spec();
    coordinate_columns_ = graph.coordinate_columns();
    for (std::size_t c = 0; c < coordinate_columns_.size(); ++c) {
      coordinate_scale_.push_back(
          graph.coordinate_scale.empty() ? 1.0f : static_cast<float>(graph.coordinate_scale[c]));
    }
  }
  const std::string scores = spec_.outputs.empty() ? "scores" : spec_.outputs.front().name;
  const TensorInfo* output = find_info(session_.outputs(), scores);
  if (!output) {
    throw std::invalid_argument(source + " has no output '" + scores + "' named by its spec");
  }
  scores_index_ = static_cast<std::size_t>(output - session_.outputs().data());
  num_classes_ = output->shape.size() == 2 && output->shape[1] >= 0 ? output->shape[1] : 0;
}

const GraphSpec& Tagger::graph_spec() const {
  if (!spec_.graph) {
    throw std::invalid_argument("model '" + session_.model_path() +
                                "' is a frame model: tag it with an ImageBatch, not graphs");
  }
  return *spec_.graph;
}

void Tagger::check_frame_model(const std::string& source) const {
  const auto& inputs = session_.inputs();
  if (inputs.size() != 1 || inputs[0].name != "frames" || inputs[0].dtype != DType::float32 ||
      inputs[0].shape.size() != 4) {
    std::string names;
    for (const auto& info : inputs) names += (names.empty() ? "" : ", ") + info.name;
    throw std::invalid_argument(source + " has neither a graph spec nor one float32 input "
                                "'frames' [B, C, H, W] (its inputs: " + names + ")");
  }
  for (std::size_t d = 0; d < spec_.frame_shape.size() && d + 1 < 4; ++d) {
    const std::int64_t dim = inputs[0].shape[d + 1];
    if (dim >= 0 && dim != spec_.frame_shape[d]) {
      throw std::invalid_argument(source + " takes frames " + shape_to_string(inputs[0].shape) +
                                  " but its spec says " + shape_to_string(spec_.frame_shape));
    }
  }
}

GraphBatch Tagger::build_graphs(const NodeBatch& nodes) const {
  const GraphSpec& graph = graph_spec();
  if (graph.builder != "knn" || graph.k < 1) {
    throw std::invalid_argument("model '" + session_.model_path() + "' builds graphs with '" +
                                graph.builder +
                                "' edges, which the C++ Tagger does not build: pass a "
                                "GraphBatch with its edges to tag()");
  }
  if (nodes.num_features() != num_features()) {
    throw std::invalid_argument("input 'x' has " + std::to_string(nodes.num_features()) +
                                " features per node, the model expects " +
                                std::to_string(num_features()));
  }
  GraphBatch graphs(num_features());
  if (nodes.num_graphs() == 0) return graphs;

  // Positions as Python builds them: x[:, columns] * scale, in float32.
  const std::size_t n = static_cast<std::size_t>(nodes.num_nodes());
  const std::size_t dims = coordinate_columns_.size();
  const std::size_t width = static_cast<std::size_t>(num_features());
  std::vector<float> pos(n * dims);
  const float* x = nodes.x().data();
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t c = 0; c < dims; ++c) {
      pos[i * dims + c] = x[i * width + coordinate_columns_[c]] * coordinate_scale_[c];
    }
  }
  PointBatch points;
  points.pos = pos.data();
  points.num_nodes = n;
  points.dim = dims;
  points.ptr = nodes.ptr().data();
  points.num_graphs = static_cast<std::size_t>(nodes.num_graphs());
  KnnOptions knn;
  knn.k = graph.k;
  knn.loop = graph.loop;
  knn.threads = options_.knn_threads;
  graphs.assign(nodes, knn_graph(points, knn).data);
  return graphs;
}

void Tagger::check_fixed_degree(const TensorView& edge_index, const TensorView& batch) const {
  const GraphSpec& graph = graph_spec();
  const std::int64_t num_edges = edge_index.shape[1];
  const std::int64_t* targets = edge_index.as<std::int64_t>() + num_edges;
  const std::int64_t* graph_of = batch.as<std::int64_t>();
  const std::int64_t num_nodes = batch.shape[0];
  std::int64_t e = 0;
  for (std::int64_t first = 0, last = 0; first < num_nodes; first = last) {
    while (last < num_nodes && graph_of[last] == graph_of[first]) ++last;
    const std::int64_t degree = knn_degree(last - first, graph.k, graph.loop);
    for (std::int64_t node = first; node < last; ++node) {
      for (std::int64_t d = 0; d < degree; ++d, ++e) {
        if (e >= num_edges || targets[e] != node) {
          throw std::invalid_argument(
              "input 'edge_index' does not have the fixed-degree layout this model needs: "
              "edge " + std::to_string(e) + " should be edge " + std::to_string(d) + " of " +
              std::to_string(degree) + " into node " + std::to_string(node) +
              " (targets sorted, knn_degree(n, k=" + std::to_string(graph.k) +
              ") edges per node); build the graphs with Tagger::build_graphs");
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

std::vector<Tensor> Tagger::run(const GraphBatch& graphs) const {
  return run(graphs.x(), graphs.edge_index(), graphs.batch());
}

std::vector<Tensor> Tagger::run(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch) const {
  check_graph_inputs(x, edge_index, batch, num_features());
  if (graph_spec().fixed_degree) check_fixed_degree(edge_index, batch);
  return session_.run({{"x", x}, {"edge_index", edge_index}, {"batch", batch}});
}

Tensor Tagger::tag(const GraphBatch& graphs) const {
  if (graphs.num_graphs() == 0) return empty_scores();
  auto outputs = run(graphs);
  return std::move(outputs[scores_index_]);
}

Tensor Tagger::tag(const NodeBatch& nodes) const { return tag(build_graphs(nodes)); }

Tensor Tagger::tag(const ImageBatch& frames) const { return tag_frames(frames.view()); }

Tensor Tagger::tag_frames(const TensorView& frames) const {
  if (is_graph_model()) {
    throw std::invalid_argument("model '" + session_.model_path() +
                                "' is a graph model: tag it with a GraphBatch or NodeBatch");
  }
  if (frames.dtype != DType::float32 || frames.shape.size() != 4) {
    throw std::invalid_argument("input 'frames' has dtype " + to_string(frames.dtype) +
                                " and shape " + shape_to_string(frames.shape) +
                                ", expected float32 [B, C, H, W]");
  }
  if (frames.shape[0] == 0) return empty_scores();
  const float* values = frames.as<float>();
  const std::int64_t count = frames.size();
  const std::int64_t per_image = count / frames.shape[0];
  for (std::int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) {
      throw std::invalid_argument("input 'frames' has a non-finite value " +
                                  std::to_string(values[i]) + " in image " +
                                  std::to_string(i / per_image) + " at flat position " +
                                  std::to_string(i % per_image));
    }
  }
  auto outputs = session_.run({{"frames", frames}});
  return std::move(outputs[scores_index_]);
}

}  // namespace e2e_gnn
