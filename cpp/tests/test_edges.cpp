// Graph builders: kNN, layered thresholds and Delaunay on small fixed inputs.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "e2e_gnn/delaunay.hpp"
#include "e2e_gnn/knn.hpp"
#include "e2e_gnn/threshold_edges.hpp"

using e2e_gnn::EdgeIndex;
using e2e_gnn::PointBatch;

namespace {

PointBatch batch(const std::vector<float>& pos, std::size_t dim,
                 const std::vector<std::int64_t>& ptr) {
  return PointBatch{pos.data(), pos.size() / dim, dim, ptr.data(), ptr.size() - 1};
}

std::vector<std::int64_t> row(const EdgeIndex& e, int r) {
  const auto begin = e.data.begin() + static_cast<std::ptrdiff_t>(r * e.num_edges());
  return {begin, begin + static_cast<std::ptrdiff_t>(e.num_edges())};
}

}  // namespace

TEST_CASE("knn on a line: ties go to the smaller index, edges stay inside their graph") {
  // Graph 0: x = 0, 1, 2, 3; graph 1: a single node; graph 2: empty.
  const std::vector<float> pos{0, 1, 2, 3, 10};
  const std::vector<std::int64_t> ptr{0, 4, 5, 5};
  e2e_gnn::KnnOptions options;
  options.k = 2;
  const EdgeIndex e = e2e_gnn::knn_graph(batch(pos, 1, ptr), options);
  // Node 1 has 0 and 2 at distance 1; node 2 has 1 and 3 at distance 1; node 0: 1 then 2;
  // node 3: 2 then 1. The lonely node gets no edges.
  CHECK(row(e, 0) == std::vector<std::int64_t>{1, 2, 0, 2, 1, 3, 1, 2});
  CHECK(row(e, 1) == std::vector<std::int64_t>{0, 0, 1, 1, 2, 2, 3, 3});
}

TEST_CASE("knn has exactly min(k, n - 1) incoming edges per node, with or without a grid") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> pos(2 * 700);
  for (float& p : pos) {
    p = u(rng);
  }
  const std::vector<std::int64_t> ptr{0, 10, 700};
  for (const bool loop : {false, true}) {
    e2e_gnn::KnnOptions options;
    options.k = 16;
    options.loop = loop;
    options.threads = 2;
    const EdgeIndex e = e2e_gnn::knn_graph(batch(pos, 2, ptr), options);
    const std::vector<std::int64_t> target = row(e, 1);
    const std::size_t small = loop ? 10 : 9;
    CHECK(e.num_edges() == 10 * small + 690 * 16);
    std::vector<int> degree(700, 0);
    for (std::size_t k = 0; k < target.size(); ++k) {
      ++degree[static_cast<std::size_t>(target[k])];
      if (k > 0) {
        CHECK(target[k - 1] <= target[k]);
      }
    }
    CHECK(degree[3] == static_cast<int>(small));
    CHECK(degree[500] == 16);
  }
}

TEST_CASE("knn wraps the periodic coordinate") {
  const std::vector<float> pos{0.0f, 3.1f, 0.0f, 2.0f, 0.0f, -3.1f};
  const std::vector<std::int64_t> ptr{0, 3};
  e2e_gnn::KnnOptions options;
  options.k = 1;
  options.periodic.dim = 1;
  const EdgeIndex e = e2e_gnn::knn_graph(batch(pos, 2, ptr), options);
  CHECK(row(e, 0) == std::vector<std::int64_t>{2, 0, 0});
}

TEST_CASE("knn rejects bad input with a message naming it") {
  const std::vector<float> pos{0, 1, 2};
  e2e_gnn::KnnOptions options;
  options.k = 0;
  CHECK_THROWS_WITH_AS(e2e_gnn::knn_graph(batch(pos, 1, {0, 3}), options),
                       "k = 0 must be at least 1", std::invalid_argument);
  options.k = 1;
  CHECK_THROWS_WITH_AS(e2e_gnn::knn_graph(batch(pos, 1, {0, 2, 1, 3}), options),
                       "ptr must be non-decreasing: ptr[2] = 1 < ptr[1] = 2",
                       std::invalid_argument);
  const std::vector<float> nan{0, std::numeric_limits<float>::quiet_NaN()};
  CHECK_THROWS_AS(e2e_gnn::knn_graph(batch(nan, 1, {0, 2}), options), std::invalid_argument);
}

TEST_CASE("threshold edges link same and adjacent layers only, with their lengths") {
  const std::vector<float> pos{0, 0, 1, 0, 0, 1, 1, 1};
  const std::vector<std::int64_t> layer{0, 0, 1, 2};
  const std::vector<std::int64_t> ptr{0, 4};
  e2e_gnn::ThresholdOptions options;
  options.same_layer = 1.0;
  options.adjacent_layer = 1.5;
  const e2e_gnn::WeightedEdges w =
      e2e_gnn::threshold_graph(batch(pos, 2, ptr), layer.data(), options);
  CHECK(row(w.edges, 0) == std::vector<std::int64_t>{1, 2, 0, 2, 0, 1, 3, 2});
  CHECK(row(w.edges, 1) == std::vector<std::int64_t>{0, 0, 1, 1, 2, 2, 2, 3});
  CHECK(w.distance[3] == doctest::Approx(1.41421356));
}

TEST_CASE("delaunay: a triangle with an inner point, and the degenerate cases") {
  const std::vector<std::int64_t> ptr4{0, 4};
  const std::vector<float> star{0, 0, 4, 0, 0, 4, 1, 1};
  const EdgeIndex e = e2e_gnn::delaunay_graph(batch(star, 2, ptr4));
  CHECK(e.num_edges() == 12);  // 6 edges, both directions
  const std::vector<float> line{2, 2, 0, 0, 1, 1, 3, 3};
  const EdgeIndex path = e2e_gnn::delaunay_graph(batch(line, 2, ptr4));
  CHECK(row(path, 0) == std::vector<std::int64_t>{2, 3, 2, 0, 1, 0});
  CHECK(row(path, 1) == std::vector<std::int64_t>{0, 0, 1, 2, 2, 3});
  const std::vector<float> one{5, 5};
  CHECK(e2e_gnn::delaunay_graph(batch(one, 2, {0, 1})).num_edges() == 0);
  CHECK_THROWS_AS(e2e_gnn::delaunay_graph(batch(line, 1, {0, 8})), std::invalid_argument);
}
