// What an exported model expects, read from its ONNX metadata (written by `e2e-gnn export-onnx`,
// python/e2e_gnn/spec.py): the graph spec (features, edge builder, k, coordinates, scale)
// or the frame shape, named inputs and outputs, the checksum and the e2e_gnn version that wrote it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e_gnn {

/// The spec format this library reads (python/e2e_gnn/spec.py SPEC_FORMAT).
constexpr int kSpecFormat = 1;

/// Metadata keys of an exported model.
inline const char* const kSpecKey = "e2e_gnn.spec";
inline const char* const kChecksumKey = "e2e_gnn.checksum";
inline const char* const kVersionKey = "e2e_gnn.version";

/// A model's spec metadata is missing, malformed, or from another format or major version
/// (the Python bindings raise it as e2e_gnn.SpecError, a ValueError).
class SpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The version of this library ("major.minor.patch").
const char* library_version();

/// How the graphs a model was trained on are built from nodes.
struct GraphSpec {
  std::vector<std::string> feature_names;  // one per column of x
  std::string builder = "knn";  // "knn", "delaunay", "threshold", "none" or "given"
  std::int64_t k = 16;                     // neighbours per node for "knn" (-1: none, null)
  bool loop = false;                       // every node is its own neighbour
  std::vector<std::string> coordinates;    // columns of x the edges are built from
  std::vector<double> coordinate_scale;    // per coordinate, applied before distances
  bool fixed_degree = false;               // target-sorted edges, same count per node
  // One name per column of the graph-level input u [graphs, F_u] (jet and event features);
  // empty: the model takes no u.
  std::vector<std::string> graph_feature_names;
  // "threshold" edges: nodes of the same layer within same_layer, of adjacent layers
  // (layer numbers differing by 1) within adjacent_layer, distances over the coordinates
  // (negative: no such edges). `layer` names the feature holding each node's layer number
  // (empty: every node in one layer). Absent in specs written before they were recorded.
  std::string layer;
  std::optional<double> same_layer;
  std::optional<double> adjacent_layer;

  std::int64_t num_features() const { return static_cast<std::int64_t>(feature_names.size()); }
  std::int64_t num_graph_features() const {
    return static_cast<std::int64_t>(graph_feature_names.size());
  }
  /// Column of x of each coordinate; throws std::invalid_argument for an unknown name.
  std::vector<std::size_t> coordinate_columns() const;
  /// Column of x of the layer feature (nullopt: none); throws like coordinate_columns().
  std::optional<std::size_t> layer_column() const;

  /// Parses a graph spec (the "graph" object of a model spec, Python's
  /// `dataclasses.asdict(GraphSpec)`), checked like ModelSpec::from_json.
  static GraphSpec from_json(const std::string& json, const std::string& source = "graph spec");
};

/// One named model input or output as the spec describes it.
struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<std::string> shape;  // dimension names ("nodes") or fixed sizes ("2")

  /// An output with one row per node (first axis "nodes"): graph g owns rows
  /// [node_ptr[g], node_ptr[g + 1]). Otherwise one row per graph (or image).
  bool per_node() const { return !shape.empty() && shape[0] == "nodes"; }
};

struct ModelSpec {
  std::string name;
  std::string model_class;
  int format = kSpecFormat;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  std::optional<GraphSpec> graph;
  std::vector<std::int64_t> frame_shape;  // (channels, height, width) of a frame model
  std::string checksum;  // sha256 of the ONNX graph, from e2e_gnn.checksum
  std::string version;   // e2e_gnn version that exported the model, from e2e_gnn.version
  // Every aggregation of the exported graph is exact under any ONNX Runtime session options;
  // false (models exported before the field existed): run it on one intra-op thread.
  bool thread_safe = false;

  /// Parses the spec JSON. Throws SpecError naming `source` and the field when
  /// the JSON is malformed (a field of the wrong type, a missing field, a non-integer k, a
  /// coordinate or layer that is not a feature, a threshold distance that is not a finite
  /// number or given for a builder other than "threshold"), its format is not kSpecFormat, an output of a graph
  /// model has a first axis other than "graphs" or "nodes" (of a frame model: other than
  /// "images"), or a graph model with graph features lists no input "u". Unknown keys are
  /// ignored. The Python reader (e2e_gnn.spec.ModelSpec) runs this same check.
  static ModelSpec from_json(const std::string& json, const std::string& source = "model");

  /// Reads and checks the spec of a model's metadata_props: the spec must be present and
  /// well formed, its format must be kSpecFormat and the exporting e2e_gnn version must
  /// have this library's major version. Throws SpecError with what to do.
  static ModelSpec from_metadata(const std::map<std::string, std::string>& metadata,
                                 const std::string& source = "model");
};

/// True when the metadata's e2e_gnn spec says thread_safe (false without a readable spec).
bool is_thread_safe(const std::map<std::string, std::string>& metadata);

/// The thread rule of every path: the intra-op threads a model with `metadata` runs with
/// when `requested` are asked for. `requested` (>= 1, or 0 = ONNX Runtime's default of all
/// cores) for a thread-safe model, else 1, with `*note` saying why when that differs from
/// the request. Throws std::invalid_argument for requested < 0.
int intra_op_threads_for(int requested, const std::map<std::string, std::string>& metadata,
                         const std::string& source, std::string* note);

}  // namespace e2e_gnn
