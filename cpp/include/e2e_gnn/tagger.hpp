// Tagger: the object a reconstruction plugin holds for the whole job. It loads an exported
// model once, reads and checks the spec in its metadata, builds the graphs the model was
// trained on from raw node features (kNN with the spec's k, self loops, coordinates and
// scale, through e2e_gnn::build_graphs), validates every input and scores many graphs (or
// frames [B, C, H, W] of a CNN) in ONE ONNX Runtime call. tag() is const and safe to call
// from many threads at once.
#pragma once

#include <string>
#include <vector>

#include "e2e_gnn/batching.hpp"
#include "e2e_gnn/model_spec.hpp"
#include "e2e_gnn/session.hpp"
#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn {

struct TaggerOptions {
  SessionOptions session;  // ONNX Runtime threads, optimisation level, cpu/cuda
  int knn_threads = 1;     // threads of the kNN builder per call (1: the caller's thread)
};

class Tagger {
 public:
  /// Loads `model_path` (an ONNX file written by `e2e-gnn export-onnx`): a graph model
  /// (inputs x, edge_index, batch) or a frame model (input frames [B, C, H, W] or layered
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
  /// spec_graphs.hpp: kNN edges, target-sorted). Throws std::invalid_argument for another
  /// builder, a feature width other than the spec's or non-finite coordinates.
  GraphBatch build_graphs(const NodeBatch& nodes) const;

  /// Scores [G, C] of every graph of `graphs` in one inference call. Validates the batch
  /// first (dtypes, feature width, index ranges, edges within graphs, finite features and,
  /// for fixed-degree models, the kNN edge layout). An empty batch (G = 0, an event
  /// without jets) gives [0, C] without calling ONNX Runtime.
  Tensor tag(const GraphBatch& graphs) const;
  /// build_graphs(nodes), then tag(): the plugin's one call per event.
  Tensor tag(const NodeBatch& nodes) const;
  /// Every model output for `graphs`, in the model's order (validated like tag()).
  std::vector<Tensor> run(const GraphBatch& graphs) const;
  /// The same on caller-owned memory (zero-copy): x float32 [N, F], edge_index int64
  /// [2, E], batch int64 [N].
  std::vector<Tensor> run(const TensorView& x, const TensorView& edge_index,
                          const TensorView& batch) const;

  /// Scores [B, C] of the frames of a frame model in one call; checks the image shape
  /// against the model and that every value is finite. B = 0 gives [0, C].
  Tensor tag(const ImageBatch& frames) const;
  /// The same on caller-owned frames float32 [B, C, H, W] or [B, C, L, H, W] (zero-copy).
  Tensor tag_frames(const TensorView& frames) const;
  /// Every model output for caller-owned frames, in the model's order (checked likewise).
  std::vector<Tensor> run_frames(const TensorView& frames) const;

 private:
  void check_frame_model(const std::string& source) const;
  void check_frame_input(const TensorView& frames) const;
  Tensor empty_scores() const { return Tensor{DType::float32, {0, num_classes_}, {}}; }

  Session session_;
  ModelSpec spec_;
  TaggerOptions options_;
  std::size_t scores_index_ = 0;
  std::int64_t num_classes_ = -1;
};

}  // namespace e2e_gnn
