#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "e2e_gnn/tagger.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;
using testing::read_array;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The jets of make_test_models.py as a NodeBatch (raw node features, no edges).
NodeBatch node_jets() {
  auto x = read_array<float>("nodes_x");
  auto ptr = read_array<std::int64_t>("nodes_ptr");
  NodeBatch nodes(x.shape[1]);
  for (std::size_t g = 0; g + 1 < ptr.values.size(); ++g) {
    nodes.add(x.values.data() + ptr.values[g] * x.shape[1], ptr.values[g + 1] - ptr.values[g]);
  }
  return nodes;
}

void check_close(const Tensor& scores, const testing::Array<float>& expected, double atol) {
  REQUIRE(scores.shape == expected.shape);
  for (std::int64_t i = 0; i < scores.size(); ++i) {
    CHECK(std::fabs(scores.as<float>()[i] - expected.values[i]) <= atol);
  }
}

}  // namespace

TEST_CASE("the tagger reads the graph spec from the model's metadata") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  CHECK(tagger.is_graph_model());
  CHECK(tagger.spec().name == "cpp_test_tagger");
  CHECK(tagger.spec().format == kSpecFormat);
  CHECK(tagger.spec().checksum.size() == 64);
  CHECK(tagger.graph_spec().builder == "knn");
  CHECK(tagger.graph_spec().k == 8);
  CHECK(tagger.graph_spec().coordinates == std::vector<std::string>{"deta", "dphi"});
  CHECK(tagger.num_features() == 4);
}

TEST_CASE("graphs built from raw nodes are the reference kNN graphs; scores match torch") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  const NodeBatch nodes = node_jets();
  const GraphBatch graphs = tagger.build_graphs(nodes);
  auto expected_edges = read_array<std::int64_t>("nodes_edge_index");
  REQUIRE(graphs.edge_index().shape == expected_edges.shape);
  const auto* edges = graphs.edge_index().as<std::int64_t>();
  CHECK(std::vector<std::int64_t>(edges, edges + graphs.edge_index().size()) ==
        expected_edges.values);
  // One inference call for every jet, compared with torch (atol 1e-5).
  check_close(tagger.tag(nodes), read_array<float>("nodes_scores"), 1e-5);
}

TEST_CASE("a batch of given graphs scores like torch, split back per graph") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  auto x = read_array<float>("graphs_x");
  auto edge_index = read_array<std::int64_t>("graphs_edge_index");
  auto batch = read_array<std::int64_t>("graphs_batch");
  // Rebuild the batch graph by graph, as a plugin would, from local indices.
  GraphBatch graphs(x.shape[1]);
  const std::int64_t num_edges = edge_index.shape[1];
  std::int64_t start = 0;
  while (start < x.shape[0]) {
    std::int64_t stop = start;
    while (stop < x.shape[0] && batch.values[stop] == batch.values[start]) ++stop;
    std::vector<std::int64_t> sources, targets;
    for (std::int64_t e = 0; e < num_edges; ++e) {
      const std::int64_t target = edge_index.values[num_edges + e];
      if (target >= start && target < stop) {
        sources.push_back(edge_index.values[e] - start);
        targets.push_back(target - start);
      }
    }
    sources.insert(sources.end(), targets.begin(), targets.end());
    graphs.add(x.values.data() + start * x.shape[1], stop - start, sources.data(),
               static_cast<std::int64_t>(targets.size()));
    start = stop;
  }
  auto scores = tagger.tag(graphs);
  check_close(scores, read_array<float>("graphs_scores"), 1e-5);
  auto per_graph = graphs.split(scores, tagger.per_node(0));
  REQUIRE(per_graph.num_graphs() == 4);
  CHECK(per_graph.row(2).as<float>()[0] == scores.as<float>()[2 * scores.shape[1]]);
}

TEST_CASE("an event without jets gives no scores and no inference call") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  auto scores = tagger.tag(NodeBatch(4));
  CHECK(scores.shape == std::vector<std::int64_t>{0, 1});
}

TEST_CASE("bad inputs give exceptions naming the input, never a crash") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  NodeBatch wide(5);
  std::vector<float> x(5 * 3, 0.5f);
  wide.add(x.data(), 3);
  CHECK(error_of([&] { tagger.tag(wide); }) ==
        "input 'x' has 5 features per node, the model expects 4");

  NodeBatch with_nan(4);
  x.assign(4 * 3, 0.5f);
  x[6] = std::nanf("");  // node 1, feature 2: not a coordinate, so kNN is fine
  with_nan.add(x.data(), 3);
  CHECK(contains(error_of([&] { tagger.tag(with_nan); }),
                 "input 'x' has a non-finite value nan at node 1, feature 2"));
  x[6] = 0.5f;
  x[4] = INFINITY;  // node 1, feature 0: a kNN coordinate
  NodeBatch inf_coordinate(4);
  inf_coordinate.add(x.data(), 3);
  CHECK(contains(error_of([&] { tagger.tag(inf_coordinate); }), "inf"));

  GraphBatch graphs(4);
  x.assign(4 * 3, 0.5f);
  const std::int64_t edges[] = {0, 1, 1, 2};
  graphs.add(x.data(), 3, edges, 2);
  CHECK(contains(error_of([&] { tagger.tag(ImageBatch({1, 2, 2})); }), "is a graph model"));
  CHECK(tagger.tag(graphs).shape == std::vector<std::int64_t>{1, 1});
}

TEST_CASE("models with missing, corrupt or foreign metadata are refused with what to do") {
  CHECK(error_of([] { Tagger t("/nonexistent/model.onnx"); }) ==
        "model file '/nonexistent/model.onnx' does not exist");
  CHECK(contains(error_of([] { Tagger t(testing::data_path("corrupt.onnx")); }),
                 "as an ONNX model"));
  CHECK(contains(error_of([] { Tagger t(testing::data_path("no_spec.onnx")); }),
                 "has no 'e2e_gnn.spec' metadata: it was not exported by `e2e-gnn export-onnx`"));
  CHECK(contains(error_of([] { Tagger t(testing::data_path("spec_format_2.onnx")); }),
                 "has spec format 2, this e2e_gnn library (" + std::string(library_version()) +
                     ") reads format 1 only"));
  CHECK(contains(error_of([] { Tagger t(testing::data_path("spec_version_9.onnx")); }),
                 "was exported by e2e_gnn 9.0.0, this library is e2e_gnn"));
  CHECK(contains(error_of([] { ModelSpec::from_json("{\"format\": 1", "m"); }),
                 "m has a malformed e2e_gnn spec (not JSON)"));
  CHECK(contains(error_of([] { ModelSpec::from_json("{\"format\": 1}", "m"); }),
                 "m has a malformed e2e_gnn spec"));
  TaggerOptions options;
  options.knn_threads = 0;
  CHECK(contains(error_of([&] { Tagger t(testing::data_path("tagger.onnx"), options); }),
                 "knn_threads is 0"));
}

TEST_CASE("one tagger shared by 8 threads gives the serial results") {
  Tagger tagger(testing::data_path("tagger.onnx"));
  const NodeBatch nodes = node_jets();
  const Tensor serial = tagger.tag(nodes);
  std::vector<int> mismatches(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int call = 0; call < 50; ++call) {
        if (tagger.tag(nodes).bytes != serial.bytes) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(mismatches == std::vector<int>(8, 0));
}
