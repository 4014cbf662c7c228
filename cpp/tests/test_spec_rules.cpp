// One rule per concern, checked in C++: the spec reader (the Python reader runs the same
// code), the thread rule, node batches checked before they are copied, the spec -> graph
// builder and the frame check.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/spec_graphs.hpp"
#include "e2e_gnn/tagger.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A valid spec with `graph` as its graph entry.
std::string spec_with(const std::string& graph, const std::string& extra = "") {
  return R"({"format": 1, "name": "m", "model_class": "C", "hyperparameters": {},
            "inputs": [{"name": "x", "dtype": "float32", "shape": ["nodes", 4]}],
            "outputs": [], "graph": )" +
         graph + extra + "}";
}

const char* const kGraph =
    R"({"feature_names": ["a", "b", "c"], "builder": "knn", "k": 2, "loop": false,
        "coordinates": ["a", "c"], "coordinate_scale": [1.0, 2.0], "fixed_degree": false})";

}  // namespace

TEST_CASE("the spec reader refuses wrong JSON types with the field, never converts") {
  CHECK(ModelSpec::from_json(spec_with(kGraph)).graph->k == 2);
  CHECK_FALSE(ModelSpec::from_json(spec_with(kGraph)).thread_safe);
  CHECK(ModelSpec::from_json(spec_with(kGraph, R"(, "thread_safe": true)")).thread_safe);
  CHECK(ModelSpec::from_json(spec_with("null")).graph.has_value() == false);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[1, 2]", "the spec must be a JSON object, got [1,2]"},
      {"\"spec\"", "the spec must be a JSON object, got \"spec\""},
      {spec_with("[]"), "'graph' must be an object, got []"},
      {spec_with("\"knn\""), "'graph' must be an object, got \"knn\""},
      {spec_with(R"({"feature_names": ["a"], "k": 16.5, "coordinates": ["a"]})"),
       "'graph.k' must be an integer, got 16.5"},
      {spec_with(R"({"feature_names": ["a"], "k": "8", "coordinates": ["a"]})"),
       "'graph.k' must be an integer, got \"8\""},
      {spec_with(R"({"feature_names": ["a"], "k": 0, "coordinates": ["a"]})"),
       "'graph.k' must be >= 1, got 0"},
      {spec_with(R"({"feature_names": "abc"})"), "'graph.feature_names' must be a list"},
      {spec_with(R"({"feature_names": ["a"], "loop": 1})"), "'graph.loop' must be true or false"},
      {spec_with(R"({"feature_names": ["a"], "builder": "radius"})"), "'graph.builder' is 'radius'"},
      {spec_with(R"({"feature_names": ["a"], "coordinates": ["z"]})"), "graph spec coordinate 'z' is not"},
      {spec_with(kGraph, R"(, "thread_safe": "yes")"), "'thread_safe' must be true or false"},
      {R"({"format": 1, "name": "m", "model_class": "C", "inputs": [], "outputs": []})",
       "'hyperparameters' is missing"},
      {R"({"format": 1, "name": 3})", "'name' must be a string, got 3"},
      {R"({"format": "1"})", "'format' must be an integer"},
  };
  for (const auto& [json, message] : cases) {
    CAPTURE(json);
    const std::string error = error_of([&] { ModelSpec::from_json(json, "model 'm.onnx'"); });
    CHECK(contains(error, "model 'm.onnx' has a malformed e2e_gnn spec: " + message));
  }
}

TEST_CASE("a model not marked thread_safe runs on one intra-op thread, with a note") {
  SessionOptions options;
  options.intra_op_threads = 2;
  Session unsafe(testing::data_path("not_thread_safe.onnx"), options);
  REQUIRE(unsafe.notes().size() == 1);
  CHECK(contains(unsafe.notes()[0], "is not marked thread_safe"));
  CHECK(contains(unsafe.notes()[0], "running it on 1 intra-op thread, not 2"));
  options.intra_op_threads = 0;
  CHECK(contains(Session(testing::data_path("not_thread_safe.onnx"), options).notes().at(0),
                 "not all cores"));
  for (int threads : {0, 1, 2}) {
    options.intra_op_threads = threads;
    CHECK(Session(testing::data_path("thread_safe.onnx"), options).notes().empty());
  }
  options.intra_op_threads = 1;
  CHECK(Session(testing::data_path("not_thread_safe.onnx"), options).notes().empty());
  options.intra_op_threads = -1;
  CHECK(contains(error_of([&] { Session s(testing::data_path("thread_safe.onnx"), options); }),
                 "intra-op threads is -1, expected >= 1"));
  TaggerOptions tagger_options;
  tagger_options.session.intra_op_threads = 4;
  Tagger tagger(testing::data_path("not_thread_safe.onnx"), tagger_options);
  CHECK(tagger.session().notes().size() == 1);
  std::string note;
  CHECK(intra_op_threads_for(3, Session(testing::data_path("thread_safe.onnx")).metadata(), "m",
                             &note) == 3);
  CHECK(note.empty());
  CHECK(contains(error_of([] { intra_op_threads_for(-2, {}, "m", nullptr); }),
                 "intra-op threads is -2, expected >= 1"));
}

TEST_CASE("node batches check counts and offsets before reading any row") {
  std::vector<float> x(110 * 2, 0.5f);
  const std::vector<std::int64_t> ptr = {0, 100000, 110};
  CHECK(contains(error_of([&] { NodeBatch(2, x.data(), 220, ptr.data(), 3); }),
                 "graph 1 has -99890 nodes"));
  const std::vector<std::int64_t> past_end = {0, 5, 111};
  CHECK(contains(error_of([&] { NodeBatch(2, x.data(), 220, past_end.data(), 3); }),
                 "end at the number of nodes (110), got 0 ... 111"));
  const std::vector<std::int64_t> empty_graph = {0, 5, 5, 110};
  CHECK(contains(error_of([&] { NodeBatch(2, x.data(), 220, empty_graph.data(), 4); }),
                 "graph 1 has 0 nodes"));
  CHECK(contains(error_of([&] { NodeBatch(2, x.data(), 219, ptr.data(), 3); }),
                 "219 values, not a whole number of nodes of 2 features"));
  const std::vector<std::int64_t> good = {0, 10, 110};
  NodeBatch nodes(2, x.data(), 220, good.data(), 3);
  CHECK(nodes.num_graphs() == 2);
  CHECK(nodes.num_nodes() == 110);

  NodeBatch added(2);
  CHECK(contains(error_of([&] { added.add(std::vector<float>(6, 1.0f), 4); }),
                 "graph 0 has 6 values, expected 4 nodes x 2 features = 8"));
  added.add(std::vector<float>(8, 1.0f), 4);
  CHECK(added.num_nodes() == 4);
}

TEST_CASE("build_graphs(spec, nodes) is the Tagger's graph builder") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  auto x = testing::read_array<float>("nodes_x");
  auto ptr = testing::read_array<std::int64_t>("nodes_ptr");
  const NodeBatch nodes(x.shape[1], x.values.data(), static_cast<std::int64_t>(x.values.size()),
                        ptr.values.data(), static_cast<std::int64_t>(ptr.values.size()));
  const GraphBatch from_tagger = tagger.build_graphs(nodes);
  const GraphBatch from_spec = build_graphs(tagger.graph_spec(), nodes, 3);
  const auto edges = [](const GraphBatch& g) {
    const auto* data = g.edge_index().as<std::int64_t>();
    return std::vector<std::int64_t>(data, data + g.edge_index().size());
  };
  CHECK(edges(from_spec) == edges(from_tagger));
  CHECK(edges(from_spec) == testing::read_array<std::int64_t>("nodes_edge_index").values);

  GraphSpec spec = tagger.graph_spec();
  spec.builder = "given";
  CHECK(contains(error_of([&] { build_graphs(spec, nodes); }),
                 "the graph spec asks for 'given' edges: graphs are built from a spec for "
                 "'knn', 'delaunay', 'threshold' and 'none' edges only"));
  spec.builder = "threshold";  // a spec written before the distances were recorded
  CHECK(contains(error_of([&] { build_graphs(spec, nodes); }),
                 "the graph spec asks for 'threshold' edges without their distances"));
  spec.builder = "delaunay";
  CHECK(build_graphs(spec, nodes).num_edges() > 0);
  spec.coordinates = {"deta"};
  spec.coordinate_scale.clear();
  CHECK(contains(error_of([&] { build_graphs(spec, nodes); }),
                 "the graph spec names 1 coordinates: Delaunay edges need 2, (eta, phi)"));
  spec = tagger.graph_spec();
  spec.coordinates.clear();
  spec.coordinate_scale.clear();
  CHECK(contains(error_of([&] { build_graphs(spec, nodes); }), "names no coordinates"));
  CHECK(contains(error_of([&] { build_graphs(tagger.graph_spec(), nodes, 0); }),
                 "knn_threads is 0"));
  CHECK(contains(error_of([&] { build_graphs(tagger.graph_spec(), NodeBatch(3)); }),
                 "input 'x' has 3 features per node, the model expects 4"));
  CHECK(GraphSpec::from_json(R"({"feature_names": ["a"], "coordinates": ["a"]})").k == 16);
}

TEST_CASE("frames are checked for dtype, shape and finite values, B = 0 allowed") {
  std::vector<float> values(2 * 2 * 3 * 3, 0.25f);
  const auto view = [&](std::vector<std::int64_t> shape) {
    return TensorView::of(values.data(), std::move(shape));
  };
  check_frames(view({2, 2, 3, 3}), {2, 3, 3});
  check_frames(view({0, 2, 3, 3}), {2, 3, 3});
  check_frames(view({2, 2, 3, 3}));
  CHECK(error_of([&] { check_frames(view({2, 2, 9}), {2, 3, 3}); }) ==
        "input 'frames' has shape [2, 2, 9], the model expects [B, 2, 3, 3]");
  CHECK(error_of([&] { check_frames(view({1, 2, 3, 6}), {2, 3, 3}); }) ==
        "input 'frames' has shape [1, 2, 3, 6], the model expects [B, 2, 3, 3]");
  values[1 * 18 + 1 * 9 + 2 * 3 + 1] = NAN;
  CHECK(error_of([&] { check_frames(view({2, 2, 3, 3}), {2, 3, 3}); }) ==
        "input 'frames' has non-finite values in image 1: nan at [1, 2, 1]");
  const std::vector<std::int64_t> ints(4, 0);
  CHECK(error_of([&] { check_frames(TensorView::of(ints.data(), {1, 1, 2, 2})); }) ==
        "input 'frames' has dtype int64, expected float32");
}

TEST_CASE("layered frames [B, C, L, H, W] take their rank from the model's item shape") {
  std::vector<float> values(2 * 1 * 3 * 2 * 2, 0.5f);
  const auto view = [&](std::vector<std::int64_t> shape) {
    return TensorView::of(values.data(), std::move(shape));
  };
  check_frames(view({2, 1, 3, 2, 2}), {1, 3, 2, 2});
  check_frames(view({2, 1, 3, 2, 2}));
  CHECK(error_of([&] { check_frames(view({6, 1, 2, 2}), {1, 3, 2, 2}); }) ==
        "input 'frames' has shape [6, 1, 2, 2], the model expects [B, 1, 3, 2, 2]");
  CHECK(error_of([&] { check_frames(view({2, 1, 3, 2, 2}), {3, 2, 2}); }) ==
        "input 'frames' has shape [2, 1, 3, 2, 2], the model expects [B, 3, 2, 2]");
  CHECK(error_of([&] { check_frames(view({2, 1, 1, 3, 2, 2})); }) ==
        "input 'frames' has shape [2, 1, 1, 3, 2, 2], the model expects [B, C, H, W]");
  values[1 * 12 + 2 * 4 + 1 * 2 + 0] = INFINITY;
  CHECK(error_of([&] { check_frames(view({2, 1, 3, 2, 2}), {1, 3, 2, 2}); }) ==
        "input 'frames' has non-finite values in image 1: inf at [0, 2, 1, 0]");
}

TEST_CASE("a huge graph id is refused by reading the batch once, allocating nothing") {
  const std::vector<float> x(3 * 2, 1.0f);
  const std::vector<std::int64_t> edges;
  const std::vector<std::int64_t> batch = {0, 0, 200000000};
  CHECK(error_of([&] {
          check_graph_inputs(TensorView::of(x.data(), {3, 2}), TensorView::of(edges.data(), {2, 0}),
                             TensorView::of(batch.data(), {3}));
        }) == "input 'batch' goes from graph 0 to 200000000 at node 2: graph ids must be sorted "
              "and every graph 0..G-1 must have a node");
}
