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

TEST_CASE("outputs are split per graph at the level their spec gives, never by row count") {
  GraphBatch graphs(1);
  const float x[] = {1, 2, 3};
  graphs.add(x, 2, nullptr, 0);
  graphs.add(x, 1, nullptr, 0);

  Tensor per_graph{DType::float32, {2, 2}, {}};
  per_graph.bytes.resize(4 * sizeof(float));
  for (int i = 0; i < 4; ++i) per_graph.as<float>()[i] = static_cast<float>(i);
  auto rows = graphs.split(per_graph, false);
  REQUIRE(rows.num_graphs() == 2);
  CHECK(rows.offsets == std::vector<std::int64_t>{0, 1, 2});
  CHECK(rows.row(1).shape == std::vector<std::int64_t>{1, 2});
  CHECK(rows.row(1).as<float>()[0] == 2.0f);
  CHECK(rows.data<float>(1)[1] == 3.0f);

  Tensor per_node{DType::float32, {3}, {}};
  per_node.bytes.resize(3 * sizeof(float));
  for (int i = 0; i < 3; ++i) per_node.as<float>()[i] = 10.0f + static_cast<float>(i);
  auto nodes = graphs.split(per_node, true);
  CHECK(nodes.row(0).shape == std::vector<std::int64_t>{2});
  CHECK(nodes.row(1).as<float>()[0] == 12.0f);
  CHECK(nodes.num_rows(0) == 2);
  CHECK(error_of([&] { nodes.data<std::int64_t>(0); }).find("are float32, not int64") !=
        std::string::npos);

  CHECK(error_of([&] { graphs.split(per_node, false); }) ==
        "output of shape [3] does not have one row per graph (2) of this batch, as its spec says");
  CHECK(error_of([&] { graphs.split(per_graph, true); }).find("one row per node (3)") !=
        std::string::npos);

  // One-node graphs: N = G, and only the level tells the two kinds apart.
  GraphBatch singles(1);
  singles.add(x, 1, nullptr, 0);
  singles.add(x + 1, 1, nullptr, 0);
  Tensor two{DType::float32, {2, 1}, std::vector<std::byte>(2 * sizeof(float))};
  CHECK(singles.split(two, true).offsets == std::vector<std::int64_t>{0, 1, 2});
  CHECK(singles.split(two, false).offsets == std::vector<std::int64_t>{0, 1, 2});
  CHECK(GraphBatch(1).split(Tensor{DType::float32, {0, 3}, {}}, true).num_graphs() == 0);
}

TEST_CASE("graph features u are carried per graph, set at once or refused when they do not fit") {
  GraphBatch graphs(2, 3);
  const float x[] = {0, 1, 2, 3, 4, 5};
  const float u0[] = {1, 2, 3}, u1[] = {4, 5, 6};
  const std::int64_t edges[] = {0, 1};
  graphs.add(x, 2, edges, 1, u0);
  graphs.add(x, 1, nullptr, 0, u1);
  CHECK(graphs.num_graph_features() == 3);
  CHECK(graphs.u().shape == std::vector<std::int64_t>{2, 3});
  CHECK(graphs.u().as<float>()[4] == 5.0f);
  const auto inputs = graphs.inputs();
  REQUIRE(inputs.size() == 4);
  CHECK(inputs[3].first == "u");
  CHECK(error_of([&] { graphs.add(x, 1, nullptr, 0); }) ==
        "graph 2 has no graph features: this batch takes 3 per graph (input 'u')");
  CHECK(graphs.num_graphs() == 2);

  GraphBatch plain(2);
  CHECK(plain.inputs().size() == 3);
  CHECK(error_of([&] { plain.add(x, 1, nullptr, 0, u0); }).find("takes none (input 'u')") !=
        std::string::npos);
  plain.add(x, 2, nullptr, 0);
  plain.add(x, 1, nullptr, 0);
  const float all[] = {1, 2, 3, 4};
  CHECK(error_of([&] { plain.set_graph_features(all, 3, 2); }) ==
        "input 'u' has 3 values, expected 2 graphs x 2 graph features = 4");
  plain.set_graph_features(all, 4, 2);
  CHECK(plain.u().shape == std::vector<std::int64_t>{2, 2});
  CHECK(plain.inputs().size() == 4);

  NodeBatch nodes(2, 1);
  nodes.add(std::vector<float>{0, 1, 2, 3}, 2, {7.0f});
  CHECK(error_of([&] { nodes.add(std::vector<float>{0, 1}, 1); }) ==
        "graph 1 has 0 graph features, expected 1 (input 'u')");
  GraphBatch assigned(2);
  assigned.assign(nodes, {});
  CHECK(assigned.num_graph_features() == 1);
  CHECK(assigned.u().as<float>()[0] == 7.0f);
  nodes.clear();
  CHECK(nodes.u().empty());
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
