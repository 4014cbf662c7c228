#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/session.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;
using testing::read_array;

namespace {

struct Graphs {
  testing::Array<float> x = read_array<float>("graphs_x");
  testing::Array<std::int64_t> edge_index = read_array<std::int64_t>("graphs_edge_index");
  testing::Array<std::int64_t> batch = read_array<std::int64_t>("graphs_batch");

  NamedInputs inputs() const {
    return {{"x", TensorView::of(x.values.data(), x.shape)},
            {"edge_index", TensorView::of(edge_index.values.data(), edge_index.shape)},
            {"batch", TensorView::of(batch.values.data(), batch.shape)}};
  }
};

}  // namespace

TEST_CASE("a session describes the model's inputs, outputs and metadata") {
  Session session(testing::data_path("tagger.onnx"));
  REQUIRE(session.inputs().size() == 3);
  CHECK(session.inputs()[0].name == "x");
  CHECK(session.inputs()[0].dtype == DType::float32);
  CHECK(session.inputs()[1].name == "edge_index");
  CHECK(session.inputs()[1].dtype == DType::int64);
  CHECK(session.inputs()[1].shape[0] == 2);
  CHECK(session.inputs()[1].shape[1] == -1);
  CHECK(session.outputs()[0].name == "scores");
  CHECK(session.metadata().count("e2e_gnn.spec") == 1);
  CHECK(session.metadata().at("e2e_gnn.checksum").size() == 64);
  CHECK(session.backend() == Backend::cpu);
}

TEST_CASE("scores match torch to 1e-5, and repeated runs are identical") {
  Session session(testing::data_path("tagger.onnx"));
  Graphs graphs;
  auto expected = read_array<float>("graphs_scores");
  auto outputs = session.run(graphs.inputs());
  REQUIRE(outputs.size() == 1);
  REQUIRE(outputs[0].shape == expected.shape);
  for (std::int64_t i = 0; i < outputs[0].size(); ++i) {
    CHECK(std::fabs(outputs[0].as<float>()[i] - expected.values[i]) <= 1e-5);
  }
  auto again = session.run(graphs.inputs());
  CHECK(again[0].bytes == outputs[0].bytes);
}

TEST_CASE("CUDA requested without a CUDA build falls back to the CPU") {
  SessionOptions options;
  options.backend = Backend::cuda;
  Session session(testing::data_path("tagger.onnx"), options);
  CHECK(session.backend() == Backend::cpu);
}

TEST_CASE("model files that are missing or corrupt give clear errors") {
  CHECK(error_of([] { Session s("/nonexistent/model.onnx"); }) ==
        "model file '/nonexistent/model.onnx' does not exist");
  CHECK(error_of([] { Session s(testing::data_path("corrupt.onnx")); })
            .find("as an ONNX model") != std::string::npos);
}

TEST_CASE("inputs are validated before ONNX Runtime sees them") {
  Session session(testing::data_path("tagger.onnx"));
  Graphs graphs;
  auto inputs = graphs.inputs();

  auto renamed = inputs;
  renamed[0].first = "features";
  CHECK(error_of([&] { session.run(renamed); }).find("has no input 'features'") !=
        std::string::npos);

  auto missing = NamedInputs(inputs.begin(), inputs.begin() + 2);
  CHECK(error_of([&] { session.run(missing); }).find("input 'batch' is missing") !=
        std::string::npos);

  auto wrong_dtype = inputs;
  wrong_dtype[1].second.dtype = DType::int32;
  CHECK(error_of([&] { session.run(wrong_dtype); }) ==
        "input 'edge_index' has dtype int32, the model expects int64");

  auto wrong_rank = inputs;
  wrong_rank[2].second.shape = {graphs.batch.shape[0], 1};
  CHECK(error_of([&] { session.run(wrong_rank); }).find("input 'batch' has shape") !=
        std::string::npos);
}

TEST_CASE("graph batches: index ranges, cross-graph edges, batch order, finite features") {
  Graphs graphs;
  auto check = [&] {
    auto in = graphs.inputs();
    return check_graph_inputs(in[0].second, in[1].second, in[2].second, 4);
  };
  CHECK(check() == 4);

  const auto n = graphs.x.shape[0];
  graphs.edge_index.values[3] = n;
  CHECK(error_of([&] { check(); }).find("'edge_index' has " + std::to_string(n)) !=
        std::string::npos);
  graphs.edge_index.values[3] = -2;
  CHECK(error_of([&] { check(); }).find("'edge_index' has -2 at [0, 3]") != std::string::npos);

  Graphs crossing;
  crossing.edge_index.values[0] = n - 1;  // source in the last graph, target in an earlier one
  CHECK(error_of([&] {
          auto in = crossing.inputs();
          check_graph_inputs(in[0].second, in[1].second, in[2].second);
        }).find("edges must stay within one graph") != std::string::npos);

  Graphs unsorted;
  std::swap(unsorted.batch.values.front(), unsorted.batch.values.back());
  CHECK(error_of([&] {
          auto in = unsorted.inputs();
          check_graph_inputs(in[0].second, in[1].second, in[2].second);
        }).find("'batch' starts with graph") != std::string::npos);

  Graphs with_nan;
  with_nan.x.values[5] = std::nanf("");
  CHECK(error_of([&] {
          auto in = with_nan.inputs();
          check_graph_inputs(in[0].second, in[1].second, in[2].second);
        }).find("non-finite value nan at node 1, feature 1") != std::string::npos);

  Graphs any;
  CHECK(error_of([&] {
          auto in = any.inputs();
          check_graph_inputs(in[0].second, in[1].second, in[2].second, 7);
        }).find("the model expects 7") != std::string::npos);
}
