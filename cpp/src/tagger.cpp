#include "e2e_gnn/tagger.hpp"

#include <algorithm>
#include <stdexcept>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/spec_graphs.hpp"

namespace e2e_gnn {
namespace {

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
    check_graph_model(source);
  }
  const std::string scores = spec_.outputs.empty() ? "scores" : spec_.outputs.front().name;
  for (const TensorSpec& output : spec_.outputs) {
    if (!find_info(session_.outputs(), output.name)) {
      throw std::invalid_argument(source + " has no output '" + output.name +
                                  "' named by its spec");
    }
  }
  const TensorInfo* output = find_info(session_.outputs(), scores);
  if (!output) {
    throw std::invalid_argument(source + " has no output '" + scores + "' named by its spec");
  }
  scores_index_ = static_cast<std::size_t>(output - session_.outputs().data());
  for (const TensorInfo& info : session_.outputs()) {
    auto listed = std::find_if(spec_.outputs.begin(), spec_.outputs.end(),
                               [&](const TensorSpec& spec) { return spec.name == info.name; });
    per_node_.push_back(listed != spec_.outputs.end() && listed->per_node());
  }
}

void Tagger::check_graph_model(const std::string& source) const {
  const std::int64_t width_u = spec_.graph->num_graph_features();
  std::vector<std::string> names{"x", "edge_index", "batch"};
  if (width_u > 0) names.emplace_back("u");
  std::string list;
  for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
  for (const auto& name : names) {
    if (!find_info(session_.inputs(), name)) {
      throw std::invalid_argument(source + " has no input '" + name + "': a graph model " +
                                  (width_u > 0 ? "with graph features " : "") + "takes " + list);
    }
  }
  if (session_.inputs().size() != names.size()) {
    throw std::invalid_argument(source + " has " + std::to_string(session_.inputs().size()) +
                                " inputs; the Tagger feeds exactly " + list +
                                (width_u > 0 ? "" : " (its graph spec names no graph features)"));
  }
  const auto& x_shape = find_info(session_.inputs(), "x")->shape;
  if (x_shape.size() == 2 && x_shape[1] >= 0 && x_shape[1] != num_features()) {
    throw std::invalid_argument(source + " takes " + std::to_string(x_shape[1]) +
                                " features per node but its spec names " +
                                std::to_string(num_features()));
  }
  if (width_u > 0) {
    const auto& u_shape = find_info(session_.inputs(), "u")->shape;
    if (u_shape.size() != 2 || (u_shape[1] >= 0 && u_shape[1] != width_u)) {
      throw std::invalid_argument(source + " takes u " + shape_to_string(u_shape) +
                                  " but its spec names " + std::to_string(width_u) +
                                  " graph features");
    }
  }
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
  const TensorView u = graphs.u();
  return run_graphs(graphs.x(), graphs.edge_index(), graphs.batch(),
                    graphs.num_graph_features() > 0 ? &u : nullptr);
}

std::vector<Tensor> Tagger::run(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch) const {
  return run_graphs(x, edge_index, batch, nullptr);
}

std::vector<Tensor> Tagger::run(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch, const TensorView& u) const {
  return run_graphs(x, edge_index, batch, &u);
}

std::vector<Tensor> Tagger::run_graphs(const TensorView& x, const TensorView& edge_index,
                                       const TensorView& batch, const TensorView* u) const {
  const GraphSpec& graph = graph_spec();
  check_graph_inputs(x, edge_index, batch, num_features(), u, graph.num_graph_features());
  if (graph.fixed_degree) check_fixed_degree(edge_index, batch, graph.k, graph.loop);
  NamedInputs inputs{{"x", x}, {"edge_index", edge_index}, {"batch", batch}};
  if (u != nullptr) inputs.emplace_back("u", *u);
  return session_.run(inputs);
}

Tensor Tagger::empty_output(std::size_t index) const {
  std::vector<std::int64_t> shape{0};
  const auto& dims = session_.outputs()[index].shape;
  for (std::size_t d = 1; d < dims.size(); ++d) shape.push_back(std::max<std::int64_t>(dims[d], 0));
  return Tensor{session_.outputs()[index].dtype, shape, {}};
}

Tensor Tagger::tag(const GraphBatch& graphs) const {
  if (graphs.num_graphs() == 0) return empty_output(scores_index_);
  auto outputs = run(graphs);
  return std::move(outputs[scores_index_]);
}

Tensor Tagger::tag(const NodeBatch& nodes) const { return tag(build_graphs(nodes)); }

std::vector<TaggerOutput> Tagger::outputs(const GraphBatch& graphs) const {
  std::vector<Tensor> flat;
  if (graphs.num_graphs() > 0) {
    flat = run(graphs);
  } else {
    graph_spec();  // a frame model is refused as for any other batch
    for (std::size_t i = 0; i < session_.outputs().size(); ++i) flat.push_back(empty_output(i));
  }
  std::vector<TaggerOutput> result;
  for (std::size_t i = 0; i < flat.size(); ++i) {
    const std::string& name = session_.outputs()[i].name;
    const std::int64_t expected = per_node_[i] ? graphs.num_nodes() : graphs.num_graphs();
    if (flat[i].shape.empty() || flat[i].shape[0] != expected) {
      throw std::runtime_error("model '" + session_.model_path() + "' gave output '" + name +
                               "' of shape " + shape_to_string(flat[i].shape) +
                               ", its spec says one row per " +
                               (per_node_[i] ? "node (" : "graph (") + std::to_string(expected) +
                               ")");
    }
    result.push_back({name, per_node_[i], graphs.split(std::move(flat[i]), per_node_[i])});
  }
  return result;
}

std::vector<TaggerOutput> Tagger::outputs(const NodeBatch& nodes) const {
  return outputs(build_graphs(nodes));
}

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
  if (frames.shape[0] == 0) return empty_output(scores_index_);
  auto outputs = session_.run({{"frames", frames}});
  return std::move(outputs[scores_index_]);
}

std::vector<Tensor> Tagger::run_frames(const TensorView& frames) const {
  check_frame_input(frames);
  return session_.run({{"frames", frames}});
}

}  // namespace e2e_gnn
