#include "e2e_gnn/tagger.hpp"

#include <algorithm>
#include <stdexcept>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/spec_graphs.hpp"

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
      (inputs[0].shape.size() != 4 && inputs[0].shape.size() != 5)) {
    std::string names;
    for (const auto& info : inputs) names += (names.empty() ? "" : ", ") + info.name;
    throw std::invalid_argument(source + " has neither a graph spec nor one float32 input "
                                "'frames' [B, C, H, W] or [B, C, L, H, W] (its inputs: " +
                                names + ")");
  }
  const std::size_t rank = inputs[0].shape.size();
  if (!spec_.frame_shape.empty() && spec_.frame_shape.size() + 1 != rank) {
    throw std::invalid_argument(source + " takes frames " + shape_to_string(inputs[0].shape) +
                                " but its spec says " + shape_to_string(spec_.frame_shape));
  }
  for (std::size_t d = 0; d < spec_.frame_shape.size() && d + 1 < rank; ++d) {
    const std::int64_t dim = inputs[0].shape[d + 1];
    if (dim >= 0 && dim != spec_.frame_shape[d]) {
      throw std::invalid_argument(source + " takes frames " + shape_to_string(inputs[0].shape) +
                                  " but its spec says " + shape_to_string(spec_.frame_shape));
    }
  }
}

GraphBatch Tagger::build_graphs(const NodeBatch& nodes) const {
  return e2e_gnn::build_graphs(graph_spec(), nodes, options_.knn_threads);
}

std::vector<Tensor> Tagger::run(const GraphBatch& graphs) const {
  return run(graphs.x(), graphs.edge_index(), graphs.batch());
}

std::vector<Tensor> Tagger::run(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch) const {
  check_graph_inputs(x, edge_index, batch, num_features());
  const GraphSpec& graph = graph_spec();
  if (graph.fixed_degree) check_fixed_degree(edge_index, batch, graph.k, graph.loop);
  return session_.run({{"x", x}, {"edge_index", edge_index}, {"batch", batch}});
}

Tensor Tagger::tag(const GraphBatch& graphs) const {
  if (graphs.num_graphs() == 0) return empty_scores();
  auto outputs = run(graphs);
  return std::move(outputs[scores_index_]);
}

Tensor Tagger::tag(const NodeBatch& nodes) const { return tag(build_graphs(nodes)); }

Tensor Tagger::tag(const ImageBatch& frames) const { return tag_frames(frames.view()); }

void Tagger::check_frame_input(const TensorView& frames) const {
  if (is_graph_model()) {
    throw std::invalid_argument("model '" + session_.model_path() +
                                "' is a graph model: tag it with a GraphBatch or NodeBatch");
  }
  check_frames(frames, spec_.frame_shape);
}

Tensor Tagger::tag_frames(const TensorView& frames) const {
  check_frame_input(frames);
  if (frames.shape[0] == 0) return empty_scores();
  auto outputs = session_.run({{"frames", frames}});
  return std::move(outputs[scores_index_]);
}

std::vector<Tensor> Tagger::run_frames(const TensorView& frames) const {
  check_frame_input(frames);
  return session_.run({{"frames", frames}});
}

}  // namespace e2e_gnn
