// Node-level outputs and graph features: the hand-made models of node_models.py (a per-node
// output [N, 2] and a per-graph one [G, 1]) against their NumPy reference, split per graph
// at the spec's level, on one-node graphs, E = 0, G = 0 and shuffled graphs; the spec rules
// of levels and graph features; the 'delaunay' and 'none' builders of build_graphs.
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/spec_graphs.hpp"
#include "e2e_gnn/tagger.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;
using testing::read_array;

namespace {

constexpr double kAtol = 1e-5;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The jets of make_test_models.py write_node_level, with their graph features when `with_u`.
NodeBatch jets(bool with_u) {
  auto x = read_array<float>("node_x");
  auto ptr = read_array<std::int64_t>("node_ptr");
  auto u = read_array<float>("node_u");
  NodeBatch nodes(x.shape[1], with_u ? u.shape[1] : 0);
  for (std::size_t g = 0; g + 1 < ptr.values.size(); ++g) {
    nodes.add(x.values.data() + ptr.values[g] * x.shape[1], ptr.values[g + 1] - ptr.values[g],
              with_u ? u.values.data() + g * static_cast<std::size_t>(u.shape[1]) : nullptr);
  }
  return nodes;
}

std::vector<std::int64_t> edges_of(const GraphBatch& graphs) {
  const auto* data = graphs.edge_index().as<std::int64_t>();
  return {data, data + graphs.edge_index().size()};
}

// Every row of every graph of `output` against the reference rows (graph by graph).
void check_rows(const TaggerOutput& output, const testing::Array<float>& expected,
                const std::vector<std::int64_t>& offsets) {
  REQUIRE(output.rows.values.shape == expected.shape);
  REQUIRE(output.rows.offsets == offsets);
  const std::int64_t width = expected.shape[1];
  for (std::int64_t g = 0; g < output.rows.num_graphs(); ++g) {
    const Tensor rows = output.rows.row(g);
    REQUIRE(rows.shape[0] == offsets[g + 1] - offsets[g]);
    for (std::int64_t i = 0; i < rows.size(); ++i) {
      CHECK(std::fabs(rows.as<float>()[i] - expected.values[offsets[g] * width + i]) <= kAtol);
    }
  }
}

std::vector<std::int64_t> iota(std::int64_t n) {
  std::vector<std::int64_t> values(static_cast<std::size_t>(n) + 1);
  std::iota(values.begin(), values.end(), 0);
  return values;
}

}  // namespace

TEST_CASE("the spec gives each output its level; the Tagger returns both kinds split per jet") {
  Tagger tagger(testing::data_path("node_model.onnx"));
  CHECK(tagger.spec().outputs.at(0).per_node());
  CHECK_FALSE(tagger.spec().outputs.at(1).per_node());
  CHECK(tagger.per_node(0));
  CHECK_FALSE(tagger.per_node(1));
  CHECK(tagger.graph_spec().builder == "delaunay");

  const NodeBatch nodes = jets(false);
  const GraphBatch graphs = tagger.build_graphs(nodes);
  // Delaunay in (eta, phi), jet 3 across phi = +-pi: scipy's triangulation of the unwrapped
  // positions; the one-node jets 0 and 2 have no edges.
  CHECK(edges_of(graphs) == read_array<std::int64_t>("node_edge_index").values);

  const auto outputs = tagger.outputs(nodes);
  REQUIRE(outputs.size() == 2);
  CHECK(outputs[0].name == "fraction");
  CHECK(outputs[0].per_node);
  CHECK_FALSE(outputs[1].per_node);
  const auto ptr = read_array<std::int64_t>("node_ptr").values;
  check_rows(outputs[0], read_array<float>("node_fraction"), ptr);
  check_rows(outputs[1], read_array<float>("node_total"), iota(5));
  // tag() is the primary output, flat [N, 2]
  CHECK(tagger.tag(nodes).bytes == outputs[0].rows.values.bytes);
}

TEST_CASE("graph features u reach the model; E = 0 (builder 'none') works") {
  Tagger tagger(testing::data_path("node_model_u.onnx"));
  CHECK(tagger.graph_spec().num_graph_features() == 2);
  const NodeBatch nodes = jets(true);
  const GraphBatch graphs = tagger.build_graphs(nodes);
  CHECK(graphs.num_edges() == 0);
  CHECK(graphs.num_graph_features() == 2);
  const auto outputs = tagger.outputs(graphs);
  const auto ptr = read_array<std::int64_t>("node_ptr").values;
  check_rows(outputs[0], read_array<float>("node_u_fraction"), ptr);
  check_rows(outputs[1], read_array<float>("node_u_total"), iota(5));

  // the same graph features given for the whole batch at once
  const auto u = read_array<float>("node_u");
  GraphBatch at_once = tagger.build_graphs(jets(false));
  at_once.set_graph_features(u.values.data(), static_cast<std::int64_t>(u.values.size()), 2);
  CHECK(tagger.run(at_once)[0].bytes == outputs[0].rows.values.bytes);
  // and through caller-owned views
  CHECK(tagger.run(graphs.x(), graphs.edge_index(), graphs.batch(), graphs.u())[1].bytes ==
        outputs[1].rows.values.bytes);

  CHECK(error_of([&] { tagger.outputs(jets(false)); }) ==
        "the model takes graph features: input 'u' [5, 2] is missing");
  CHECK(error_of([&] { tagger.run(graphs.x(), graphs.edge_index(), graphs.batch()); }) ==
        "the model takes graph features: input 'u' [5, 2] is missing");
  std::vector<float> bad(u.values);
  bad[7] = NAN;
  const TensorView bad_u = TensorView::of(bad.data(), {5, 2});
  CHECK(error_of([&] { tagger.run(graphs.x(), graphs.edge_index(), graphs.batch(), bad_u); }) ==
        "input 'u' has a non-finite value nan at graph 3, feature 1");
  const TensorView narrow = TensorView::of(bad.data(), {5, 1});
  CHECK(error_of([&] { tagger.run(graphs.x(), graphs.edge_index(), graphs.batch(), narrow); }) ==
        "input 'u' has shape [5, 1], expected [5, 2] (graphs, graph features)");
  const TensorView rows4 = TensorView::of(bad.data(), {4, 2});
  CHECK(error_of([&] { tagger.run(graphs.x(), graphs.edge_index(), graphs.batch(), rows4); }) ==
        "input 'u' has shape [4, 2], expected [5, 2] (graphs, graph features)");

  Tagger plain(testing::data_path("node_model.onnx"));
  const GraphBatch plain_graphs = plain.build_graphs(jets(false));
  const TensorView good_u = TensorView::of(u.values.data(), {5, 2});
  CHECK(error_of([&] {
          plain.run(plain_graphs.x(), plain_graphs.edge_index(), plain_graphs.batch(), good_u);
        }) == "input 'u' [5, 2] given but the model takes no graph features");
}

TEST_CASE("G = 0 gives empty outputs of the right width without calling ONNX Runtime") {
  for (const char* name : {"node_model.onnx", "node_model_u.onnx"}) {
    Tagger tagger(testing::data_path(name));
    const auto outputs = tagger.outputs(NodeBatch(3, tagger.graph_spec().num_graph_features()));
    REQUIRE(outputs.size() == 2);
    CHECK(outputs[0].rows.values.shape == std::vector<std::int64_t>{0, 2});
    CHECK(outputs[1].rows.values.shape == std::vector<std::int64_t>{0, 1});
    CHECK(outputs[0].rows.offsets == std::vector<std::int64_t>{0});
    CHECK(outputs[0].rows.num_graphs() == 0);
    CHECK(tagger.tag(GraphBatch(3)).shape == std::vector<std::int64_t>{0, 2});
  }
}

TEST_CASE("one-node graphs only (N = G) and shuffled graphs give the permuted rows") {
  Tagger tagger(testing::data_path("node_model.onnx"));
  const NodeBatch nodes = jets(false);
  const GraphBatch graphs = tagger.build_graphs(nodes);
  const auto reference = tagger.outputs(graphs);
  // The graphs in the order 3, 0, 4, 2, 1, each with its own local edges.
  const std::vector<std::int64_t> order = {3, 0, 4, 2, 1};
  const auto& ptr = graphs.node_ptr();
  const auto edges = edges_of(graphs);
  const std::int64_t num_edges = graphs.num_edges();
  GraphBatch shuffled(3);
  for (std::int64_t g : order) {
    std::vector<std::int64_t> sources, targets;
    for (std::int64_t e = 0; e < num_edges; ++e) {
      if (edges[num_edges + e] >= ptr[g] && edges[num_edges + e] < ptr[g + 1]) {
        sources.push_back(edges[e] - ptr[g]);
        targets.push_back(edges[num_edges + e] - ptr[g]);
      }
    }
    sources.insert(sources.end(), targets.begin(), targets.end());
    shuffled.add(graphs.x().as<float>() + ptr[g] * 3, ptr[g + 1] - ptr[g], sources.data(),
                 static_cast<std::int64_t>(targets.size()));
  }
  const auto outputs = tagger.outputs(shuffled);
  for (std::size_t k = 0; k < 2; ++k) {
    for (std::size_t s = 0; s < order.size(); ++s) {
      const Tensor got = outputs[k].rows.row(static_cast<std::int64_t>(s));
      const Tensor want = reference[k].rows.row(order[s]);
      REQUIRE(got.shape == want.shape);
      for (std::int64_t i = 0; i < got.size(); ++i) {
        CHECK(std::fabs(got.as<float>()[i] - want.as<float>()[i]) <= 1e-6);
      }
    }
  }

  // Jets 0 and 2 have one node each: N = G = 2, told apart by the spec alone.
  GraphBatch singles(3);
  singles.add(graphs.x().as<float>() + ptr[0] * 3, 1, nullptr, 0);
  singles.add(graphs.x().as<float>() + ptr[2] * 3, 1, nullptr, 0);
  const auto single_outputs = tagger.outputs(singles);
  CHECK(single_outputs[0].rows.values.shape == std::vector<std::int64_t>{2, 2});
  CHECK(single_outputs[1].rows.values.shape == std::vector<std::int64_t>{2, 1});
  for (std::size_t k = 0; k < 2; ++k) {
    for (std::int64_t s = 0; s < 2; ++s) {
      const Tensor got = single_outputs[k].rows.row(s);
      const Tensor want = reference[k].rows.row(s == 0 ? 0 : 2);
      REQUIRE(got.shape == want.shape);
      CHECK(std::fabs(got.as<float>()[0] - want.as<float>()[0]) <= 1e-6);
    }
  }
}

TEST_CASE("the spec reader refuses outputs without a level and graph features without u") {
  const auto spec = [](const std::string& outputs, const std::string& graph_extra = "",
                       const std::string& inputs = "") {
    return R"({"format": 1, "name": "m", "model_class": "C", "hyperparameters": {},
              "inputs": [{"name": "x", "dtype": "float32", "shape": ["nodes", 2]})" +
           inputs + R"(], "outputs": )" + outputs +
           R"(, "graph": {"feature_names": ["a", "b"], "builder": "none")" + graph_extra + "}}";
  };
  const ModelSpec both = ModelSpec::from_json(
      spec(R"([{"name": "f", "dtype": "float32", "shape": ["nodes", 2]},
               {"name": "s", "dtype": "float32", "shape": ["graphs", 1]}])"));
  CHECK(both.outputs[0].per_node());
  CHECK_FALSE(both.outputs[1].per_node());
  CHECK(both.graph->builder == "none");
  CHECK(both.graph->num_graph_features() == 0);
  const ModelSpec with_u = ModelSpec::from_json(
      spec("[]", R"(, "graph_feature_names": ["pt", "rho"])",
           R"(, {"name": "u", "dtype": "float32", "shape": ["graphs", "graph_features"]})"));
  CHECK(with_u.graph->graph_feature_names == std::vector<std::string>{"pt", "rho"});

  const std::vector<std::pair<std::string, std::string>> cases = {
      {spec(R"([{"name": "s", "dtype": "float32", "shape": ["images", 1]}])"),
       "output 's' (outputs[0]) has first axis 'images', expected 'graphs' (one row per graph) "
       "or 'nodes' (one row per node)"},
      {spec(R"([{"name": "s", "dtype": "float32", "shape": [3, 1]}])"),
       "output 's' (outputs[0]) has first axis '3'"},
      {spec(R"([{"name": "s", "dtype": "float32", "shape": []}])"),
       "output 's' (outputs[0]) has first axis no axis"},
      {spec("[]", R"(, "graph_feature_names": ["pt"])"),
       "the graph spec names 1 graph features but the inputs list no 'u'"},
      {spec("[]", R"(, "graph_feature_names": "pt")"),
       "'graph.graph_feature_names' must be a list"},
      {R"({"format": 1, "name": "m", "model_class": "C", "hyperparameters": {}, "inputs": [],
          "outputs": [{"name": "s", "dtype": "float32", "shape": ["nodes", 1]}],
          "frame": {"shape": [1, 2, 2]}})",
       "output 's' (outputs[0]) has first axis 'nodes', expected 'images' (one row per image)"},
  };
  for (const auto& [json, message] : cases) {
    CAPTURE(json);
    CHECK(contains(error_of([&] { ModelSpec::from_json(json, "model 'm.onnx'"); }),
                   "model 'm.onnx' has a malformed e2e_gnn spec: " + message));
  }
  // older specs: no graph_feature_names, per-graph outputs ("graphs", "classes")
  CHECK_FALSE(Tagger(testing::data_path("tagger.onnx")).per_node(0));
}

TEST_CASE("build_graphs: 'none' gives no edges, 'delaunay' unwraps phi around the first node") {
  GraphSpec spec;
  spec.feature_names = {"eta", "phi", "e"};
  spec.builder = "none";
  spec.k = -1;
  const NodeBatch nodes = jets(false);
  const GraphBatch none = build_graphs(spec, nodes);
  CHECK(none.num_edges() == 0);
  CHECK(none.num_graphs() == 5);
  CHECK(none.x().size() == nodes.num_nodes() * 3);

  spec.builder = "delaunay";
  spec.coordinates = {"eta", "phi"};
  CHECK(edges_of(build_graphs(spec, nodes)) ==
        read_array<std::int64_t>("node_edge_index").values);
  // A jet moved across phi = +-pi keeps its edges; one spanning more than pi would not.
  const std::vector<float> square = {0.0f, 3.1f, 1.0f,   0.1f, -3.1f, 1.0f,
                                     0.05f, 3.0f, 1.0f,  0.2f, 3.12f, 1.0f};
  std::vector<float> shifted(square);
  for (std::size_t i = 1; i < shifted.size(); i += 3) {
    shifted[i] = shifted[i] > 0 ? shifted[i] - 3.0f : shifted[i] + 6.2831853f - 3.0f;
  }
  NodeBatch across(3), moved(3);
  across.add(square, 4);
  moved.add(shifted, 4);
  CHECK(edges_of(build_graphs(spec, across)) == edges_of(build_graphs(spec, moved)));
  CHECK(build_graphs(spec, across).num_edges() == 10);  // 4 points in general position: 5 edges
  CHECK(build_graphs(spec, NodeBatch(3)).num_graphs() == 0);
}
