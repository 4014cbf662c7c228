// Threshold graphs from a graph spec (the displaced-photon GNN's edges): the spec reader
// parses and checks layer / same_layer / adjacent_layer, build_graphs builds the edges the
// hand-computed layout below says, and refuses what it cannot build.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "e2e_gnn/spec_graphs.hpp"
#include "e2e_gnn/threshold_edges.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::int64_t> edges_of(const GraphBatch& graphs) {
  const auto* data = graphs.edge_index().as<std::int64_t>();
  return std::vector<std::int64_t>(data, data + graphs.edge_index().size());
}

const char* const kThreshold =
    R"({"feature_names": ["row", "col", "layer", "e"], "builder": "threshold", "k": null,
        "loop": false, "coordinates": ["row", "col"], "coordinate_scale": [1.0, 1.0],
        "layer": "layer", "same_layer": 0.3, "adjacent_layer": 0.3})";

// Graph 0: (row, col, layer); graph 1: two nodes of layer 0, 0.1 apart. Distances:
// 0-1 0.2 (same layer), 0-2 0.25 (adjacent), 1-2 0.32, 2-3 0.25 (same), 2-4 0.25
// (adjacent), 0-4 0 but two layers apart, 1-4 0.2 two layers apart, the rest > 0.3.
NodeBatch layered_nodes() {
  NodeBatch nodes(4);
  nodes.add(std::vector<float>{0.0f, 0.0f, 0.0f, 1.0f,  0.2f, 0.0f, 0.0f, 1.0f,
                               0.0f, 0.25f, 1.0f, 1.0f, 0.0f, 0.5f, 1.0f, 1.0f,
                               0.0f, 0.0f, 2.0f, 1.0f},
            5);
  nodes.add(std::vector<float>{0.0f, 0.0f, 0.0f, 1.0f, 0.1f, 0.0f, 0.0f, 1.0f}, 2);
  return nodes;
}

}  // namespace

TEST_CASE("the spec reader parses the threshold distances and the layer feature") {
  const GraphSpec spec = GraphSpec::from_json(kThreshold);
  CHECK(spec.builder == "threshold");
  CHECK(spec.layer == "layer");
  CHECK(spec.layer_column() == std::optional<std::size_t>(2));
  REQUIRE(spec.same_layer.has_value());
  CHECK(*spec.same_layer == 0.3);
  CHECK(*spec.adjacent_layer == 0.3);
  // a spec written before the fields existed reads unchanged, without them
  const GraphSpec old = GraphSpec::from_json(
      R"({"feature_names": ["row", "col"], "builder": "threshold", "k": null,
          "coordinates": ["row", "col"]})");
  CHECK(old.layer.empty());
  CHECK_FALSE(old.same_layer.has_value());
  CHECK_FALSE(old.layer_column().has_value());
  // null is "not given", as Python writes None
  CHECK_FALSE(GraphSpec::from_json(R"({"feature_names": ["a"], "layer": null,
                                       "same_layer": null, "adjacent_layer": null})")
                  .same_layer.has_value());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"feature_names": ["a"], "builder": "threshold", "same_layer": "0.3"})",
       "'graph.same_layer' must be a finite number, got \"0.3\""},
      {R"({"feature_names": ["a"], "builder": "threshold", "adjacent_layer": [1]})",
       "'graph.adjacent_layer' must be a finite number, got [1]"},
      {R"({"feature_names": ["a"], "builder": "threshold", "layer": 2})",
       "'graph.layer' must be a string, got 2"},
      {R"({"feature_names": ["a"], "builder": "threshold", "layer": "depth"})",
       "graph spec layer 'depth' is not one of the node features 'a'"},
      {R"({"feature_names": ["a"], "builder": "knn", "coordinates": ["a"], "same_layer": 1})",
       "'graph.layer', 'graph.same_layer' and 'graph.adjacent_layer' are for 'threshold' "
       "edges, the builder is 'knn'"},
  };
  for (const auto& [json, message] : cases) {
    CAPTURE(json);
    CHECK(contains(error_of([&] { GraphSpec::from_json(json, "model 'arma.onnx'"); }),
                   "model 'arma.onnx' has a malformed e2e_gnn spec: " + message));
  }
}

TEST_CASE("build_graphs: 'threshold' joins same and adjacent layers within the spec's distances") {
  GraphSpec spec = GraphSpec::from_json(kThreshold);
  const NodeBatch nodes = layered_nodes();
  // (sources..., targets...), sorted by target then source, worked out by hand above
  const std::vector<std::int64_t> expected = {1, 2, 0, 0, 3, 4, 2, 2, 6, 5,
                                              0, 0, 1, 2, 2, 2, 3, 4, 5, 6};
  const GraphBatch graphs = build_graphs(spec, nodes);
  CHECK(edges_of(graphs) == expected);
  CHECK(graphs.num_graphs() == 2);
  CHECK(graphs.x().size() == nodes.x().size());

  spec.adjacent_layer = -1.0;  // negative: no edges between layers
  CHECK(edges_of(build_graphs(spec, nodes)) ==
        std::vector<std::int64_t>{1, 0, 3, 2, 6, 5, 0, 1, 2, 3, 5, 6});
  spec.adjacent_layer = 0.3;
  spec.loop = true;
  CHECK(build_graphs(spec, nodes).num_edges() == 10 + 7);  // one self loop per node

  // without a layer feature every node is in one layer: the builder over layer 0
  spec.loop = false;
  spec.layer.clear();
  std::vector<float> pos;
  for (std::int64_t i = 0; i < nodes.num_nodes(); ++i) {
    pos.push_back(nodes.x()[static_cast<std::size_t>(i) * 4]);
    pos.push_back(nodes.x()[static_cast<std::size_t>(i) * 4 + 1]);
  }
  const std::vector<std::int64_t> zeros(7, 0);
  PointBatch points{pos.data(), 7, 2, nodes.ptr().data(), 2};
  ThresholdOptions options;
  options.same_layer = 0.3;
  options.adjacent_layer = 0.3;
  CHECK(edges_of(build_graphs(spec, nodes)) == threshold_graph(points, zeros.data(), options).edges.data);
  CHECK(build_graphs(spec, NodeBatch(4)).num_graphs() == 0);
}

TEST_CASE("build_graphs refuses threshold specs and layers it cannot build from") {
  GraphSpec spec = GraphSpec::from_json(kThreshold);
  spec.same_layer.reset();
  CHECK(contains(error_of([&] { build_graphs(spec, layered_nodes()); }),
                 "the graph spec asks for 'threshold' edges without their distances"));
  spec = GraphSpec::from_json(kThreshold);
  spec.coordinates.clear();
  spec.coordinate_scale.clear();
  CHECK(contains(error_of([&] { build_graphs(spec, layered_nodes()); }),
                 "the graph spec names no coordinates to build 'threshold' edges from"));

  spec = GraphSpec::from_json(kThreshold);
  for (const float bad : {0.5f, std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity()}) {
    NodeBatch nodes(4);
    nodes.add(std::vector<float>{0.0f, 0.0f, 0.0f, 1.0f}, 1);
    nodes.add(std::vector<float>{0.0f, 0.0f, 1.0f, 1.0f, 0.1f, 0.0f, bad, 1.0f}, 2);
    CAPTURE(bad);
    const std::string error = error_of([&] { build_graphs(spec, nodes); });
    CHECK(contains(error, "(feature 'layer') at node 2 (graph 1), expected a whole number"));
  }
  NodeBatch far(4);
  far.add(std::vector<float>{std::numeric_limits<float>::infinity(), 0.0f, 0.0f, 1.0f}, 1);
  CHECK(contains(error_of([&] { build_graphs(spec, far); }), "not finite"));
}
