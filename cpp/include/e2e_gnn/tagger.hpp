// Tagger: the object a reconstruction plugin holds for the whole job. It loads an exported
// model once, reads and checks the spec in its metadata, builds the graphs the model was
// trained on from raw node features (kNN, Delaunay, threshold or no edges as the spec says,
// through e2e_gnn::build_graphs), validates every input and scores many graphs (or frames
// [B, C, H, W] of a CNN) in ONE ONNX Runtime call; outputs() splits each output per graph at
// its spec's level (per graph or per node). tag() is const and safe to call from many
// threads at once.
#pragma once

#include <string>
#include <vector>

#include "e2e_gnn/batching.hpp"
#include "e2e_gnn/model_spec.hpp"
#include "e2e_gnn/session.hpp"
#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn {

/// One model output for a batch, split per graph at the level the model's spec gives it
/// (TensorSpec::per_node()).
struct TaggerOutput {
  std::string name;
  bool per_node = false;  // one row per node; else one row per graph
  /// rows.values is the flat output ([N, ...] per node, [G, ...] per graph); graph g owns
  /// rows.row(g): its n_g node rows, or its one row.
  RaggedTensor rows;
};

struct TaggerOptions {
  SessionOptions session;  // ONNX Runtime threads, optimisation level, cpu/cuda
  int knn_threads = 1;     // threads of the kNN builder per call (1: the caller's thread)
};

class Tagger {
 public:
  /// Loads `model_path` (an ONNX file written by `e2e-gnn export-onnx`): a graph model
  /// (inputs x, edge_index, batch, and u [G, F_u] when its graph spec names graph features)
  /// or a frame model (input frames [B, C, H, W] or layered
  /// [B, C, L, H, W]). Throws
  /// std::invalid_argument when the file is missing or not ONNX, when its metadata has no
  /// spec, a spec of another format or from another major e2e_gnn version, or when the
  /// spec disagrees with the model's inputs. A model whose spec is not thread_safe runs on
  /// one intra-op thread whatever options.session asks (session().notes() says so).
  explicit Tagger(const std::string& model_path, const TaggerOptions& options = {});

  const ModelSpec& spec() const { return spec_; }
  const Session& session() const { return session_; }
  bool is_graph_model() const { return spec_.graph.has_value(); }
  /// The graph spec; throws std::invalid_argument for a frame model.
  const GraphSpec& graph_spec() const;
  std::int64_t num_features() const { return graph_spec().num_features(); }

  /// Builds the graphs of `nodes` as the model's spec says (e2e_gnn::build_graphs of
  /// spec_graphs.hpp: kNN, Delaunay, threshold or no edges). Throws std::invalid_argument
  /// for another builder, a feature width other than the spec's or non-finite coordinates.
  GraphBatch build_graphs(const NodeBatch& nodes) const;

  /// The primary output (the spec's first) of every graph of `graphs` in one inference
  /// call, flat: [G, C] for a per-graph output, [N, C] for a per-node one (graph g owns
  /// rows graphs.node_ptr()[g] to [g + 1]; outputs() splits it). Validates the batch first
  /// (dtypes, feature width, index ranges, edges within graphs, finite features, the graph
  /// features u [G, F_u] for a model that reads them and, for fixed-degree models, the kNN
  /// edge layout). An empty batch (G = 0, an event without jets) gives [0, C] without
  /// calling ONNX Runtime.
  Tensor tag(const GraphBatch& graphs) const;
  /// build_graphs(nodes), then tag(): the plugin's one call per event. Graph features, if
  /// the model reads some, come with the nodes (NodeBatch::add(x, n, u)).
  Tensor tag(const NodeBatch& nodes) const;
  /// Every model output for `graphs`, in the model's order, each split per graph at its
  /// spec's level (validated like tag()). G = 0 gives empty outputs ([0, C], G + 1 = 1
  /// offsets) without calling ONNX Runtime.
  std::vector<TaggerOutput> outputs(const GraphBatch& graphs) const;
  /// build_graphs(nodes), then outputs().
  std::vector<TaggerOutput> outputs(const NodeBatch& nodes) const;
  /// Every model output for `graphs`, flat, in the model's order (validated like tag();
  /// G = 0 is refused).
  std::vector<Tensor> run(const GraphBatch& graphs) const;
  /// The same on caller-owned memory (zero-copy): x float32 [N, F], edge_index int64
  /// [2, E], batch int64 [N], for a model without graph features.
  std::vector<Tensor> run(const TensorView& x, const TensorView& edge_index,
                          const TensorView& batch) const;
  /// The same with the graph features u float32 [G, F_u] of a model that reads them.
  std::vector<Tensor> run(const TensorView& x, const TensorView& edge_index,
                          const TensorView& batch, const TensorView& u) const;
  /// Whether model output `index` (the session's order) has one row per node, as the spec
  /// says (outputs the spec does not list: per graph).
  bool per_node(std::size_t index) const { return per_node_.at(index); }

  /// Scores [B, C] of the frames of a frame model in one call; checks the image shape
  /// against the model and that every value is finite. B = 0 gives [0, C].
  Tensor tag(const ImageBatch& frames) const;
  /// The same on caller-owned frames float32 [B, C, H, W] or [B, C, L, H, W] (zero-copy).
  Tensor tag_frames(const TensorView& frames) const;
  /// Every model output for caller-owned frames, in the model's order (checked likewise).
  std::vector<Tensor> run_frames(const TensorView& frames) const;

 private:
  void check_graph_model(const std::string& source) const;
  void check_frame_model(const std::string& source) const;
  void check_frame_input(const TensorView& frames) const;
  std::vector<Tensor> run_graphs(const TensorView& x, const TensorView& edge_index,
                                 const TensorView& batch, const TensorView* u) const;
  /// Output `index` for no graph or image: [0, fixed dims (dynamic: 0)...].
  Tensor empty_output(std::size_t index) const;

  Session session_;
  ModelSpec spec_;
  TaggerOptions options_;
  std::size_t scores_index_ = 0;
  std::vector<bool> per_node_;  // per session output
};

}  // namespace e2e_gnn
