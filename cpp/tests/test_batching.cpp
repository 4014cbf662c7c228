#include <doctest/doctest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "e2e_gnn/batching.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;
using testing::error_of;

namespace {

std::vector<std::int64_t> values(const TensorView& view) {
  const auto* data = view.as<std::int64_t>();
  return {data, data + view.size()};
}

}  // namespace

TEST_CASE("graphs are concatenated with offset indices, a batch vector and no padding") {
  GraphBatch graphs(2);
  const float x0[] = {0, 1, 2, 3, 4, 5};      // 3 nodes
  const std::int64_t e0[] = {0, 1, 1, 2};     // edges 0->1, 1->2
  const float x1[] = {6, 7};                  // 1 node, no edges
  const float x2[] = {8, 9, 10, 11};          // 2 nodes
  const std::int64_t e2[] = {1, 0, 0, 1, 1, 1};  // 1->1, 0->1, 0->1
  graphs.add(x0, 3, e0, 2);
  graphs.add(x1, 1, nullptr, 0);
  graphs.add(x2, 2, e2, 3);

  CHECK(graphs.num_graphs() == 3);
  CHECK(graphs.num_nodes() == 6);
  CHECK(graphs.num_edges() == 5);
  CHECK(graphs.x().shape == std::vector<std::int64_t>{6, 2});
  CHECK(graphs.x().as<float>()[11] == 11.0f);
  CHECK(graphs.edge_index().shape == std::vector<std::int64_t>{2, 5});
  CHECK(values(graphs.edge_index()) == std::vector<std::int64_t>{0, 1, 5, 4, 4, 1, 2, 5, 5, 5});
  CHECK(values(graphs.batch()) == std::vector<std::int64_t>{0, 0, 0, 1, 2, 2});
  CHECK(graphs.node_ptr() == std::vector<std::int64_t>{0, 3, 4, 6});
  CHECK(graphs.inputs().size() == 3);

  graphs.clear();
  CHECK(graphs.num_graphs() == 0);
  CHECK(graphs.num_edges() == 0);
}

TEST_CASE("outputs are split back per graph (per-graph rows) or per node (node rows)") {
  GraphBatch graphs(1);
  const float x[] = {1, 2, 3};
  graphs.add(x, 2, nullptr, 0);
  graphs.add(x, 1, nullptr, 0);

  Tensor per_graph{DType::float32, {2, 2}, {}};
  per_graph.bytes.resize(4 * sizeof(float));
  for (int i = 0; i < 4; ++i) per_graph.as<float>()[i] = static_cast<float>(i);
  auto rows = graphs.split(per_graph);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].shape == std::vector<std::int64_t>{1, 2});
  CHECK(rows[1].as<float>()[0] == 2.0f);

  Tensor per_node{DType::float32, {3}, {}};
  per_node.bytes.resize(3 * sizeof(float));
  for (int i = 0; i < 3; ++i) per_node.as<float>()[i] = 10.0f + static_cast<float>(i);
  auto nodes = graphs.split(per_node);
  CHECK(nodes[0].shape == std::vector<std::int64_t>{2});
  CHECK(nodes[1].as<float>()[0] == 12.0f);

  Tensor wrong{DType::float32, {5}, std::vector<std::byte>(5 * sizeof(float))};
  CHECK(error_of([&] { graphs.split(wrong); }).find("neither per graph (2 rows) nor per node") !=
        std::string::npos);
}

TEST_CASE("bad graphs are refused with the graph, position and value") {
  GraphBatch graphs(2);
  const float x[] = {0, 0, 0, 0};
  const std::int64_t out_of_range[] = {0, 2};
  const std::int64_t negative[] = {-1, 0};
  graphs.add(x, 2, nullptr, 0);
  CHECK(error_of([&] { graphs.add(x, 2, out_of_range, 1); }) ==
        "graph 1: 'edge_index' has 2 at [1, 0], outside its 2 nodes [0, 2)");
  CHECK(error_of([&] { graphs.add(x, 2, negative, 1); }) ==
        "graph 1: 'edge_index' has -1 at [0, 0], outside its 2 nodes [0, 2)");
  CHECK(error_of([&] { graphs.add(x, 0, nullptr, 0); }).find("graph 1 has 0 nodes") !=
        std::string::npos);
  CHECK(graphs.num_graphs() == 1);  // refused graphs leave the batch unchanged
  CHECK(error_of([] { GraphBatch bad(0); }).find("num_features >= 1") != std::string::npos);
}

TEST_CASE("node batches collect jets for the graph builder") {
  NodeBatch nodes(3);
  const float x[] = {1, 2, 3, 4, 5, 6};
  nodes.add(x, 2);
  nodes.add(x, 1);
  CHECK(nodes.num_graphs() == 2);
  CHECK(nodes.ptr() == std::vector<std::int64_t>{0, 2, 3});
  GraphBatch graphs(3);
  graphs.assign(nodes, {0, 1, 1, 0});
  CHECK(values(graphs.batch()) == std::vector<std::int64_t>{0, 0, 1});
  CHECK(graphs.num_edges() == 2);
  CHECK(error_of([&] { nodes.add(x, -1); }).find("graph 2 has -1 nodes") != std::string::npos);
  GraphBatch other(2);
  CHECK(error_of([&] { other.assign(nodes, {}); }).find("3 features per node") !=
        std::string::npos);
}

TEST_CASE("images are stacked [B, C, H, W] and outputs split per image") {
  ImageBatch images({2, 3, 3});
  std::vector<float> one(18, 1.0f), two(36, 2.0f);
  images.add(one.data());
  images.add(two.data(), 2);
  CHECK(images.size() == 3);
  CHECK(images.view().shape == std::vector<std::int64_t>{3, 2, 3, 3});
  CHECK(images.view().as<float>()[18] == 2.0f);
  Tensor scores{DType::float32, {3, 1}, std::vector<std::byte>(3 * sizeof(float))};
  CHECK(images.split(scores).size() == 3);
  Tensor wrong{DType::float32, {2, 1}, std::vector<std::byte>(2 * sizeof(float))};
  CHECK(error_of([&] { images.split(wrong); }).find("one row per image (3)") !=
        std::string::npos);
  CHECK(error_of([] { ImageBatch bad({0, 3}); }).find("holds no values") != std::string::npos);
}
