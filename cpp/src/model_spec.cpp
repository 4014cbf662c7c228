#include "e2e_gnn/model_spec.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <stdexcept>

namespace e2e_gnn {
namespace {

using nlohmann::json;

std::string major_of(const std::string& version) { return version.substr(0, version.find('.')); }

std::string dimension_name(const json& dim) {
  return dim.is_string() ? dim.get<std::string>() : std::to_string(dim.get<std::int64_t>());
}

TensorSpec tensor_spec(const json& data) {
  TensorSpec spec{data.at("name").get<std::string>(), data.at("dtype").get<std::string>(), {}};
  for (const auto& dim : data.at("shape")) spec.shape.push_back(dimension_name(dim));
  return spec;
}

GraphSpec graph_spec(const json& data) {
  GraphSpec spec;
  spec.feature_names = data.at("feature_names").get<std::vector<std::string>>();
  spec.builder = data.value("builder", spec.builder);
  if (data.contains("k") && !data.at("k").is_null()) spec.k = data.at("k").get<std::int64_t>();
  spec.loop = data.value("loop", false);
  spec.coordinates = data.value("coordinates", std::vector<std::string>{});
  spec.coordinate_scale = data.value("coordinate_scale", std::vector<double>{});
  spec.fixed_degree = data.value("fixed_degree", false);
  return spec;
}

}  // namespace

const char* library_version() { return E2E_GNN_VERSION; }

std::vector<std::size_t> GraphSpec::coordinate_columns() const {
  std::vector<std::size_t> columns;
  for (const auto& name : coordinates) {
    auto found = std::find(feature_names.begin(), feature_names.end(), name);
    if (found == feature_names.end()) {
      std::string known;
      for (const auto& f : feature_names) known += (known.empty() ? "'" : ", '") + f + "'";
      throw std::invalid_argument("graph spec coordinate '" + name +
                                  "' is not one of the node features " + known);
    }
    columns.push_back(static_cast<std::size_t>(found - feature_names.begin()));
  }
  return columns;
}

ModelSpec ModelSpec::from_json(const std::string& text, const std::string& source) {
  json data;
  try {
    data = json::parse(text);
  } catch (const json::exception& error) {
    throw std::invalid_argument(source + " has a malformed e2e_gnn spec (not JSON): " +
                                error.what());
  }
  try {
    ModelSpec spec;
    spec.format = data.at("format").get<int>();
    if (spec.format != kSpecFormat) {
      throw std::invalid_argument(source + " has spec format " + std::to_string(spec.format) +
                                  ", this e2e_gnn library (" + library_version() +
                                  ") reads format " + std::to_string(kSpecFormat) +
                                  " only: re-export the model with a matching e2e_gnn");
    }
    spec.name = data.at("name").get<std::string>();
    spec.model_class = data.at("model_class").get<std::string>();
    for (const auto& input : data.at("inputs")) spec.inputs.push_back(tensor_spec(input));
    for (const auto& output : data.at("outputs")) spec.outputs.push_back(tensor_spec(output));
    if (data.contains("graph") && !data.at("graph").is_null()) {
      spec.graph = graph_spec(data.at("graph"));
      const auto& graph = *spec.graph;
      if (!graph.coordinate_scale.empty() &&
          graph.coordinate_scale.size() != graph.coordinates.size()) {
        throw std::invalid_argument(
            source + " has a graph spec with " + std::to_string(graph.coordinates.size()) +
            " coordinates but " + std::to_string(graph.coordinate_scale.size()) + " scales");
      }
      graph.coordinate_columns();
    }
    if (data.contains("frame") && data.at("frame").is_object() &&
        data.at("frame").contains("shape")) {
      spec.frame_shape = data.at("frame").at("shape").get<std::vector<std::int64_t>>();
    }
    return spec;
  } catch (const json::exception& error) {
    throw std::invalid_argument(source + " has a malformed e2e_gnn spec: " + error.what());
  }
}

ModelSpec ModelSpec::from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& source) {
  auto spec_entry = metadata.find(kSpecKey);
  if (spec_entry == metadata.end()) {
    std::string keys;
    for (const auto& [key, value] : metadata) keys += (keys.empty() ? "'" : ", '") + key + "'";
    throw std::invalid_argument(source + " has no '" + kSpecKey +
                                "' metadata: it was not exported by `e2e-gnn export-onnx` "
                                "(metadata keys: [" + keys + "])");
  }
  ModelSpec spec = from_json(spec_entry->second, source);
  auto version = metadata.find(kVersionKey);
  if (version == metadata.end()) {
    throw std::invalid_argument(source + " has no '" + kVersionKey +
                                "' metadata: re-export it with `e2e-gnn export-onnx`");
  }
  spec.version = version->second;
  if (major_of(spec.version) != major_of(library_version())) {
    throw std::invalid_argument(source + " was exported by e2e_gnn " + spec.version +
                                ", this library is e2e_gnn " + library_version() +
                                " (another major version): re-export the model with a "
                                "matching e2e_gnn");
  }
  auto checksum = metadata.find(kChecksumKey);
  if (checksum != metadata.end()) spec.checksum = checksum->second;
  return spec;
}

}  // namespace e2e_gnn
