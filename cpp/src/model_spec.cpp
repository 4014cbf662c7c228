#include "e2e_gnn/model_spec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace e2e_gnn {
namespace {

using nlohmann::json;

std::string major_of(const std::string& version) { return version.substr(0, version.find('.')); }

// Reads the spec JSON with a type check per field: the one rule for every reader (the
// Python ModelSpec calls this code through e2e_gnn._native.check_spec). Unknown keys are
// ignored (the format number covers changes of meaning); a wrong type is refused, never
// converted (a k of 16.5 is not 16).
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw SpecError(source_ + " has a malformed e2e_gnn spec: " + what);
  }

  static std::string shown(const json& value) {
    std::string text = value.dump();
    return text.size() > 40 ? text.substr(0, 37) + "..." : text;
  }

  void expect(bool ok, const json& value, const std::string& path, const char* what) const {
    if (!ok) fail("'" + path + "' must be " + what + ", got " + shown(value));
  }

  const json& object(const json& value, const std::string& path) const {
    expect(value.is_object(), value, path, "an object");
    return value;
  }

  // The member `key` of `data` (an object), or nullptr when absent or null.
  const json* optional(const json& data, const char* key) const {
    auto found = data.find(key);
    return found == data.end() || found->is_null() ? nullptr : &*found;
  }

  const json& required(const json& data, const char* key, const std::string& path) const {
    auto found = data.find(key);
    if (found == data.end()) fail("'" + path + "' is missing");
    return *found;
  }

  std::string string(const json& value, const std::string& path) const {
    expect(value.is_string(), value, path, "a string");
    return value.get<std::string>();
  }

  std::int64_t integer(const json& value, const std::string& path) const {
    expect(value.is_number_integer(), value, path, "an integer");
    return value.get<std::int64_t>();
  }

  bool boolean(const json& value, const std::string& path) const {
    expect(value.is_boolean(), value, path, "true or false");
    return value.get<bool>();
  }

  const json& array(const json& value, const std::string& path) const {
    expect(value.is_array(), value, path, "a list");
    return value;
  }

  std::vector<std::string> strings(const json& value, const std::string& path) const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < array(value, path).size(); ++i) {
      out.push_back(string(value[i], path + "[" + std::to_string(i) + "]"));
    }
    return out;
  }

  // A threshold distance `key` of the graph spec: a finite number, or nullopt when absent.
  std::optional<double> distance(const json& data, const char* key) const {
    const json* value = optional(data, key);
    if (value == nullptr) return std::nullopt;
    const std::string path = std::string("graph.") + key;
    expect(value->is_number() && std::isfinite(value->get<double>()), *value, path,
           "a finite number");
    return value->get<double>();
  }

  TensorSpec tensor(const json& value, const std::string& path) const {
    object(value, path);
    TensorSpec spec{string(required(value, "name", path + ".name"), path + ".name"),
                    string(required(value, "dtype", path + ".dtype"), path + ".dtype"),
                    {}};
    const json& shape = array(required(value, "shape", path + ".shape"), path + ".shape");
    for (std::size_t d = 0; d < shape.size(); ++d) {
      expect(shape[d].is_string() || shape[d].is_number_integer(), shape[d],
             path + ".shape[" + std::to_string(d) + "]", "a dimension name or an integer");
      spec.shape.push_back(shape[d].is_string() ? shape[d].get<std::string>()
                                                : std::to_string(shape[d].get<std::int64_t>()));
    }
    if (const json* meaning = optional(value, "meaning")) string(*meaning, path + ".meaning");
    return spec;
  }

  std::vector<TensorSpec> tensors(const json& data, const char* key) const {
    std::vector<TensorSpec> out;
    const json& list = array(required(data, key, key), key);
    for (std::size_t i = 0; i < list.size(); ++i) {
      out.push_back(tensor(list[i], std::string(key) + "[" + std::to_string(i) + "]"));
    }
    return out;
  }

  GraphSpec graph(const json& data) const {
    object(data, "graph");
    GraphSpec spec;
    spec.feature_names =
        strings(required(data, "feature_names", "graph.feature_names"), "graph.feature_names");
    if (const json* builder = optional(data, "builder")) {
      spec.builder = string(*builder, "graph.builder");
      const char* known[] = {"knn", "delaunay", "none", "threshold", "given"};
      if (std::find(std::begin(known), std::end(known), spec.builder) == std::end(known)) {
        fail("'graph.builder' is '" + spec.builder +
             "', expected 'knn', 'delaunay', 'none', 'threshold' or 'given'");
      }
    }
    auto k = data.find("k");
    if (k != data.end()) {  // absent: the default 16; null: no k
      spec.k = k->is_null() ? -1 : integer(*k, "graph.k");
      if (!k->is_null() && spec.k < 1) fail("'graph.k' must be >= 1, got " + shown(*k));
    }
    if (const json* loop = optional(data, "loop")) spec.loop = boolean(*loop, "graph.loop");
    if (const json* coordinates = optional(data, "coordinates")) {
      spec.coordinates = strings(*coordinates, "graph.coordinates");
    }
    if (const json* scale = optional(data, "coordinate_scale")) {
      for (std::size_t i = 0; i < array(*scale, "graph.coordinate_scale").size(); ++i) {
        expect((*scale)[i].is_number(), (*scale)[i],
               "graph.coordinate_scale[" + std::to_string(i) + "]", "a number");
        spec.coordinate_scale.push_back((*scale)[i].get<double>());
      }
    }
    if (const json* fixed = optional(data, "fixed_degree")) {
      spec.fixed_degree = boolean(*fixed, "graph.fixed_degree");
    }
    if (const json* names = optional(data, "graph_feature_names")) {
      spec.graph_feature_names = strings(*names, "graph.graph_feature_names");
    }
    if (const json* layer = optional(data, "layer")) spec.layer = string(*layer, "graph.layer");
    spec.same_layer = distance(data, "same_layer");
    spec.adjacent_layer = distance(data, "adjacent_layer");
    if (spec.builder != "threshold" &&
        (!spec.layer.empty() || spec.same_layer || spec.adjacent_layer)) {
      fail("'graph.layer', 'graph.same_layer' and 'graph.adjacent_layer' are for 'threshold' "
           "edges, the builder is '" + spec.builder + "'");
    }
    if (!spec.coordinate_scale.empty() && spec.coordinate_scale.size() != spec.coordinates.size()) {
      fail("the graph spec has " + std::to_string(spec.coordinates.size()) +
           " coordinates but " + std::to_string(spec.coordinate_scale.size()) + " scales");
    }
    try {
      spec.coordinate_columns();
      spec.layer_column();
    } catch (const std::invalid_argument& error) {
      fail(error.what());
    }
    return spec;
  }

  // Every output says its level by its first axis: "graphs" or "nodes" for a graph model,
  // "images" for a frame model (a spec with neither a graph nor a frame entry is refused
  // later, by the Tagger, as neither kind). A graph model reading graph features takes u.
  void check_levels(const ModelSpec& spec, bool has_frame) const {
    if (!spec.graph && !has_frame) return;
    for (std::size_t i = 0; i < spec.outputs.size(); ++i) {
      const TensorSpec& output = spec.outputs[i];
      const std::string first = output.shape.empty() ? "no axis" : "'" + output.shape[0] + "'";
      const bool ok = spec.graph ? output.shape.size() > 0 && (output.shape[0] == "graphs" ||
                                                                output.shape[0] == "nodes")
                                 : output.shape.size() > 0 && output.shape[0] == "images";
      if (!ok) {
        fail("output '" + output.name + "' (outputs[" + std::to_string(i) + "]) has first axis " +
             first + ", expected " +
             (spec.graph ? "'graphs' (one row per graph) or 'nodes' (one row per node)"
                         : "'images' (one row per image)"));
      }
    }
    if (spec.graph && spec.graph->num_graph_features() > 0 &&
        std::none_of(spec.inputs.begin(), spec.inputs.end(),
                     [](const TensorSpec& input) { return input.name == "u"; })) {
      fail("the graph spec names " + std::to_string(spec.graph->num_graph_features()) +
           " graph features but the inputs list no 'u' [graphs, graph_features]");
    }
  }

  ModelSpec model(const json& data) const {
    if (!data.is_object()) fail("the spec must be a JSON object, got " + shown(data));
    ModelSpec spec;
    spec.format = static_cast<int>(integer(required(data, "format", "format"), "format"));
    if (spec.format != kSpecFormat) {
      throw SpecError(source_ + " has spec format " + std::to_string(spec.format) +
                                  ", this e2e_gnn library (" + library_version() +
                                  ") reads format " + std::to_string(kSpecFormat) +
                                  " only: re-export the model with a matching e2e_gnn");
    }
    spec.name = string(required(data, "name", "name"), "name");
    spec.model_class = string(required(data, "model_class", "model_class"), "model_class");
    object(required(data, "hyperparameters", "hyperparameters"), "hyperparameters");
    spec.inputs = tensors(data, "inputs");
    spec.outputs = tensors(data, "outputs");
    if (const json* graph_data = optional(data, "graph")) spec.graph = graph(*graph_data);
    if (const json* frame = optional(data, "frame")) {
      object(*frame, "frame");
      if (const json* shape = optional(*frame, "shape")) {
        for (std::size_t d = 0; d < array(*shape, "frame.shape").size(); ++d) {
          spec.frame_shape.push_back(integer((*shape)[d], "frame.shape[" + std::to_string(d) + "]"));
        }
      }
    }
    check_levels(spec, optional(data, "frame") != nullptr);
    if (const json* provenance = optional(data, "provenance")) object(*provenance, "provenance");
    if (const json* safe = optional(data, "thread_safe")) {
      spec.thread_safe = boolean(*safe, "thread_safe");
    }
    return spec;
  }

 private:
  std::string source_;
};

json parse(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& error) {
    throw SpecError(source + " has a malformed e2e_gnn spec (not JSON): " +
                                error.what());
  }
}

}  // namespace

const char* library_version() { return E2E_GNN_VERSION; }

namespace {

// Column of x of feature `name`, which the spec uses as `what` ("coordinate", "layer").
std::size_t feature_column(const std::vector<std::string>& feature_names, const std::string& name,
                           const char* what) {
  auto found = std::find(feature_names.begin(), feature_names.end(), name);
  if (found == feature_names.end()) {
    std::string known;
    for (const auto& f : feature_names) known += (known.empty() ? "'" : ", '") + f + "'";
    throw std::invalid_argument("graph spec " + std::string(what) + " '" + name +
                                "' is not one of the node features " + known);
  }
  return static_cast<std::size_t>(found - feature_names.begin());
}

}  // namespace

std::vector<std::size_t> GraphSpec::coordinate_columns() const {
  std::vector<std::size_t> columns;
  for (const auto& name : coordinates) {
    columns.push_back(feature_column(feature_names, name, "coordinate"));
  }
  return columns;
}

std::optional<std::size_t> GraphSpec::layer_column() const {
  if (layer.empty()) return std::nullopt;
  return feature_column(feature_names, layer, "layer");
}

GraphSpec GraphSpec::from_json(const std::string& text, const std::string& source) {
  return Reader(source).graph(parse(text, source));
}

ModelSpec ModelSpec::from_json(const std::string& text, const std::string& source) {
  return Reader(source).model(parse(text, source));
}

ModelSpec ModelSpec::from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& source) {
  auto spec_entry = metadata.find(kSpecKey);
  if (spec_entry == metadata.end()) {
    std::string keys;
    for (const auto& [key, value] : metadata) keys += (keys.empty() ? "'" : ", '") + key + "'";
    throw SpecError(source + " has no '" + kSpecKey +
                                "' metadata: it was not exported by `e2e-gnn export-onnx` "
                                "(metadata keys: [" + keys + "])");
  }
  ModelSpec spec = from_json(spec_entry->second, source);
  auto version = metadata.find(kVersionKey);
  if (version == metadata.end()) {
    throw SpecError(source + " has no '" + kVersionKey +
                                "' metadata: re-export it with `e2e-gnn export-onnx`");
  }
  spec.version = version->second;
  if (major_of(spec.version) != major_of(library_version())) {
    throw SpecError(source + " was exported by e2e_gnn " + spec.version +
                                ", this library is e2e_gnn " + library_version() +
                                " (another major version): re-export the model with a "
                                "matching e2e_gnn");
  }
  auto checksum = metadata.find(kChecksumKey);
  if (checksum != metadata.end()) spec.checksum = checksum->second;
  return spec;
}

bool is_thread_safe(const std::map<std::string, std::string>& metadata) {
  auto spec_entry = metadata.find(kSpecKey);
  if (spec_entry == metadata.end()) return false;
  const json data = json::parse(spec_entry->second, nullptr, /*allow_exceptions=*/false);
  if (!data.is_object()) return false;
  auto safe = data.find("thread_safe");
  return safe != data.end() && safe->is_boolean() && safe->get<bool>();
}

int intra_op_threads_for(int requested, const std::map<std::string, std::string>& metadata,
                         const std::string& source, std::string* note) {
  if (requested < 0) {
    throw std::invalid_argument("intra-op threads is " + std::to_string(requested) +
                                ", expected >= 1 (or 0: all cores, for thread-safe models)");
  }
  if (requested == 1 || is_thread_safe(metadata)) return requested;
  if (note) {
    *note = source + " is not marked thread_safe in its e2e_gnn spec (its aggregations may "
            "lose updates on more than one thread): running it on 1 intra-op thread, not " +
            (requested == 0 ? std::string("all cores") : std::to_string(requested)) +
            "; re-export it with this e2e_gnn to use more";
  }
  return 1;
}

}  // namespace e2e_gnn
