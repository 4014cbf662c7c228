// e2e_gnn's custom operators (domain ai.e2e_gnn, cpp/ops) through e2e_gnn::Session, which
// registers them itself: against a reference computed here with loops in double, within the
// bound of the error float32 arithmetic may add (exact for max and min; (n + 1) 2^-24 sum |terms|
// for a sum of n terms), on one and four intra-op threads (bitwise equal), and their errors.
// Models: custom_op_models.py.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "e2e_gnn/session.hpp"
#include "test_data.hpp"

using namespace e2e_gnn;

namespace {

struct Graph {
  std::int64_t nodes, sources, features;
  std::vector<float> node_i, node_j;
  std::vector<std::int64_t> source, target;

  NamedInputs inputs() const {
    return {{"node_i", TensorView::of(node_i.data(), {nodes, features})},
            {"node_j", TensorView::of(node_j.data(), {sources, features})},
            {"source", TensorView::of(source.data(), {std::int64_t(source.size())})},
            {"target", TensorView::of(target.data(), {std::int64_t(target.size())})}};
  }
};

// Edges only into the first nodes - isolated nodes; random pairs repeat (duplicate edges).
Graph random_graph(std::int64_t nodes, std::int64_t sources, std::int64_t edges,
                   std::int64_t features, std::int64_t isolated, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(-0.2f, 1.0f);
  Graph graph{nodes, sources, features, {}, {}, {}, {}};
  for (std::int64_t k = 0; k < nodes * features; ++k) graph.node_i.push_back(normal(rng));
  for (std::int64_t k = 0; k < sources * features; ++k) graph.node_j.push_back(normal(rng));
  std::uniform_int_distribution<std::int64_t> source(0, sources - 1),
      target(0, nodes - isolated - 1);
  for (std::int64_t e = 0; e < edges; ++e) {
    graph.source.push_back(source(rng));
    graph.target.push_back(target(rng));
  }
  return graph;
}

// Reference values in double and the bound of the error float32 arithmetic may add to each.
struct Expected {
  std::vector<double> values, bound;
};

// Values that float32 computes within its rounding (hand-made cases): 1e-6 relative.
Expected within_rounding(std::vector<double> values) {
  std::vector<double> bound;
  for (double value : values) bound.push_back(1e-6 * std::abs(value));
  return {std::move(values), std::move(bound)};
}

// The bound for a sum of `count` float terms of sum |terms| = magnitude, in any order, then
// rounded; for a mean, divided by count, plus the division's rounding.
double sum_bound(double count, double magnitude, bool mean) {
  const double bound = (count + 1) * std::ldexp(magnitude, -24);
  return mean ? (bound + std::ldexp(magnitude, -24)) / std::max(count, 1.0) : bound;
}

struct Reference {
  Expected out;
  std::vector<double> degree;
};

Reference reference(const Graph& g, bool relu, const std::string& reduce) {
  const std::int64_t f_count = g.features;
  std::vector<double> out(g.nodes * f_count, 0.0), magnitude(g.nodes * f_count, 0.0);
  std::vector<double> degree(g.nodes, 0.0);
  for (std::size_t e = 0; e < g.source.size(); ++e) {
    const std::int64_t i = g.target[e];
    for (std::int64_t f = 0; f < f_count; ++f) {
      // the message in float, as ONNX's Add and Relu compute it
      float message = g.node_i[i * f_count + f] + g.node_j[g.source[e] * f_count + f];
      if (relu && message < 0.0f) message = 0.0f;
      double& slot = out[i * f_count + f];
      if (reduce == "max") {
        slot = degree[i] > 0 ? std::max(slot, double{message}) : message;
      } else {
        slot += message;
        magnitude[i * f_count + f] += std::abs(message);
      }
    }
    degree[i] += 1.0;
  }
  std::vector<double> bound(out.size());
  for (std::int64_t k = 0; k < g.nodes * f_count; ++k) {
    const double count = degree[k / f_count];
    if (reduce == "mean" && count > 0) out[k] /= count;
    bound[k] = sum_bound(count, magnitude[k], reduce == "mean");
  }
  return {{out, bound}, degree};
}

void check_close(const Tensor& actual, const Expected& expected) {
  REQUIRE(actual.dtype == DType::float32);
  REQUIRE(actual.size() == static_cast<std::int64_t>(expected.values.size()));
  std::size_t k = 0;
  while (k < expected.values.size() &&
         std::abs(actual.as<float>()[k] - expected.values[k]) <= expected.bound[k]) {
    ++k;
  }
  if (k < expected.values.size()) {
    FAIL_CHECK("element " << k << ": " << actual.as<float>()[k] << " vs " << expected.values[k]
                          << " (bound " << expected.bound[k] << ")");
  }
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && a.bytes == b.bytes;
}

Session open(const std::string& name, int threads = 1) {
  SessionOptions options;
  options.verify_checksum = false;  // hand-made models have no checksum
  options.intra_op_threads = threads;
  return Session(testing::data_path(name), options);
}

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::exception& error) {
    return error.what();
  }
  return "no exception";
}

}  // namespace

TEST_CASE("EdgeAggregate matches the reference and does not depend on the thread count") {
  // the README event's size: enough rows for the kernel to split them among threads
  const Graph small = random_graph(40, 30, 300, 8, 6, 1);
  const Graph large = random_graph(1111, 1111, 17776, 64, 11, 2);
  // the same edges ordered by target, as kNN builds them: the kernels' other grouping path
  Graph by_target = large;
  std::vector<std::size_t> order(large.target.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return large.target[a] < large.target[b]; });
  for (std::size_t k = 0; k < order.size(); ++k) {
    by_target.source[k] = large.source[order[k]];
    by_target.target[k] = large.target[order[k]];
  }
  for (const std::string activation : {"relu", "identity"}) {
    for (const std::string reduce : {"sum", "mean", "max"}) {
      CAPTURE(activation);
      CAPTURE(reduce);
      const std::string model = "edge_aggregate_" + activation + "_" + reduce + ".onnx";
      for (const Graph* graph : std::vector<const Graph*>{&small, &large, &by_target}) {
        const Reference ref = reference(*graph, activation == "relu", reduce);
        const auto one = open(model, 1).run(graph->inputs());
        const auto four = open(model, 4).run(graph->inputs());
        REQUIRE(one.size() == 2);
        CHECK(one[0].shape == std::vector<std::int64_t>{graph->nodes, graph->features});
        check_close(one[0], ref.out);
        check_close(one[1], within_rounding(ref.degree));
        CHECK(bitwise_equal(one[0], four[0]));
        CHECK(bitwise_equal(one[1], four[1]));
        // isolated nodes: exactly 0
        const std::int64_t last = graph->nodes - 1;
        CHECK(one[0].as<float>()[last * graph->features] == 0.0f);
        CHECK(one[1].as<float>()[last] == 0.0f);
      }
    }
  }
}

TEST_CASE("EdgeAggregate without edges or nodes") {
  auto session = open("edge_aggregate_relu_mean.onnx");
  for (std::int64_t nodes : {0, 4}) {
    const Graph graph{nodes, 2, 3, std::vector<float>(nodes * 3, 1.0f),
                      std::vector<float>(6, 1.0f), {}, {}};
    const auto outputs = session.run(graph.inputs());
    CHECK(outputs[0].shape == std::vector<std::int64_t>{nodes, 3});
    CHECK(outputs[1].shape == std::vector<std::int64_t>{nodes});
    for (std::int64_t k = 0; k < outputs[0].size(); ++k) CHECK(outputs[0].as<float>()[k] == 0.0f);
  }
}

TEST_CASE("SegmentReduce matches the reference, rows without entries are 0") {
  // rows 0 and 3 receive nothing; row 1 three entries (negative values), row 2 one
  const std::vector<float> src = {-1.0f, 2.0f, -3.0f, 4.0f, -5.0f, -0.5f, 7.0f, -8.0f};
  const std::vector<std::int64_t> index = {1, 2, 1, 1};
  const std::int64_t rows = 4;
  const NamedInputs inputs = {{"src", TensorView::of(src.data(), {4, 2})},
                              {"index", TensorView::of(index.data(), {4})},
                              {"rows", TensorView::of(&rows, {})}};
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"sum", {0, 0, 1.0, -6.5, -3, 4, 0, 0}},
      {"mean", {0, 0, 1.0 / 3, -6.5 / 3, -3, 4, 0, 0}},
      {"max", {0, 0, 7, 2, -3, 4, 0, 0}},
      {"min", {0, 0, -5, -8, -3, 4, 0, 0}}};
  for (const auto& [reduce, expected] : cases) {
    CAPTURE(reduce);
    const auto outputs = open("segment_reduce_" + reduce + ".onnx").run(inputs);
    CHECK(outputs[0].shape == std::vector<std::int64_t>{4, 2});
    check_close(outputs[0], within_rounding(expected));
  }
  const std::int64_t none = 0;
  const auto empty = open("segment_reduce_max.onnx")
                         .run({{"src", TensorView::of(src.data(), {0, 2})},
                               {"index", TensorView::of(index.data(), {0})},
                               {"rows", TensorView::of(&none, {})}});
  CHECK(empty[0].shape == std::vector<std::int64_t>{0, 2});
}

TEST_CASE("the custom operators refuse bad inputs and attributes with a message") {
  Graph graph = random_graph(5, 4, 6, 2, 0, 3);
  auto session = open("edge_aggregate_relu_sum.onnx");
  graph.source[4] = 4;
  CHECK(error_of([&] { session.run(graph.inputs()); })
            .find("ai.e2e_gnn.EdgeAggregate: source[4] = 4 is out of range [0, 4) "
                  "(node_j has 4 rows)") != std::string::npos);
  graph.source[4] = 0;
  graph.target[2] = -3;
  CHECK(error_of([&] { session.run(graph.inputs()); })
            .find("target[2] = -3 is out of range [0, 5) (node_i has 5 rows)") !=
        std::string::npos);
  graph.target.pop_back();
  CHECK(error_of([&] { session.run(graph.inputs()); })
            .find("input 'target' has shape [5], expected [E] = [6]") != std::string::npos);
  CHECK(error_of([] { open("edge_aggregate_relu_min.onnx"); })
            .find("ai.e2e_gnn.EdgeAggregate: attribute reduce = 'min' is not one of sum, mean, "
                  "max") != std::string::npos);

  const std::vector<float> src = {1.0f, 2.0f};
  const std::vector<std::int64_t> index = {0, 2};
  const std::int64_t rows = 2;
  CHECK(error_of([&] {
          open("segment_reduce_sum.onnx")
              .run({{"src", TensorView::of(src.data(), {2, 1})},
                    {"index", TensorView::of(index.data(), {2})},
                    {"rows", TensorView::of(&rows, {})}});
        }).find("ai.e2e_gnn.SegmentReduce: index[1] = 2 is out of range [0, 2) (rows = 2)") !=
        std::string::npos);
}

namespace {

// GatherSegmentReduce's inputs: values [M, F], source, index [E] into rows [isolated, rows),
// weight [E]; with heads > 0, values [M, heads, F / heads] and weight [E, heads].
struct Gather {
  std::int64_t sources, features, rows;
  std::vector<float> values, weight;
  std::vector<std::int64_t> source, index;
  std::int64_t heads = 0;

  NamedInputs inputs(bool with_weight) const {
    const std::int64_t edges = std::int64_t(source.size());
    const std::vector<std::int64_t> values_shape =
        heads > 0 ? std::vector<std::int64_t>{sources, heads, features / heads}
                  : std::vector<std::int64_t>{sources, features};
    NamedInputs named = {{"values", TensorView::of(values.data(), values_shape)},
                         {"source", TensorView::of(source.data(), {edges})},
                         {"index", TensorView::of(index.data(), {std::int64_t(index.size())})},
                         {"rows", TensorView::of(&rows, {})}};
    if (with_weight) {
      const std::vector<std::int64_t> weight_shape =
          heads > 0 ? std::vector<std::int64_t>{edges, heads}
                    : std::vector<std::int64_t>{std::int64_t(weight.size())};
      named.push_back({"weight", TensorView::of(weight.data(), weight_shape)});
    }
    return named;
  }
};

Gather random_gather(std::int64_t sources, std::int64_t edges, std::int64_t rows,
                     std::int64_t features, std::int64_t isolated, unsigned seed,
                     std::int64_t heads = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(-0.2f, 1.0f);
  Gather gather{sources, features, rows, {}, {}, {}, {}, heads};
  for (std::int64_t k = 0; k < sources * features; ++k) gather.values.push_back(normal(rng));
  std::uniform_int_distribution<std::int64_t> source(0, sources - 1), index(isolated, rows - 1);
  for (std::int64_t e = 0; e < edges; ++e) {
    gather.source.push_back(source(rng));
    gather.index.push_back(index(rng));
    for (std::int64_t h = 0; h < std::max<std::int64_t>(heads, 1); ++h) {
      gather.weight.push_back(normal(rng));
    }
  }
  return gather;
}

Expected gather_reference(const Gather& g, bool with_weight, const std::string& reduce) {
  std::vector<double> out(g.rows * g.features, 0.0), magnitude(g.rows * g.features, 0.0);
  std::vector<double> count(g.rows, 0.0);
  for (std::size_t e = 0; e < g.source.size(); ++e) {
    const std::int64_t r = g.index[e];
    for (std::int64_t f = 0; f < g.features; ++f) {
      float message = g.values[g.source[e] * g.features + f];  // in float, as ONNX's Mul
      if (with_weight) {
        message *= g.heads > 0 ? g.weight[e * g.heads + f / (g.features / g.heads)] : g.weight[e];
      }
      double& slot = out[r * g.features + f];
      if (reduce == "max" || reduce == "min") {
        const double m = message;
        slot = count[r] == 0 ? m : reduce == "max" ? std::max(slot, m) : std::min(slot, m);
      } else {
        slot += message;
        magnitude[r * g.features + f] += std::abs(message);
      }
    }
    count[r] += 1.0;
  }
  std::vector<double> bound(out.size());
  for (std::int64_t k = 0; k < g.rows * g.features; ++k) {
    const double n = count[k / g.features];
    if (reduce == "mean" && n > 0) out[k] /= n;
    bound[k] = sum_bound(n, magnitude[k], reduce == "mean");
  }
  return {out, bound};
}

}  // namespace

TEST_CASE("GatherSegmentReduce matches the reference with and without weight, on 1 and 4 threads") {
  const Gather small = random_gather(30, 300, 40, 8, 5, 4);
  const Gather large = random_gather(1111, 17776, 1111, 64, 11, 5);
  Gather sorted = large;  // ordered by index, as kNN builds edges: the other grouping path
  std::vector<std::size_t> order(large.index.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return large.index[a] < large.index[b]; });
  for (std::size_t k = 0; k < order.size(); ++k) {
    sorted.source[k] = large.source[order[k]];
    sorted.index[k] = large.index[order[k]];
    sorted.weight[k] = large.weight[order[k]];
  }
  // "": a 4-input node; "_weight": weight the 5th input; "_empty": a 5th input named ""
  for (const std::string reduce : {"sum", "mean", "max", "min"}) {
    for (const std::string suffix : {"", "_weight", "_empty"}) {
      CAPTURE(reduce);
      CAPTURE(suffix);
      const std::string model = "gather_segment_reduce_" + reduce + suffix + ".onnx";
      const bool with_weight = suffix == "_weight";
      auto one = open(model, 1);
      auto four = open(model, 4);
      for (const Gather* g : std::vector<const Gather*>{&small, &large, &sorted}) {
        const auto out1 = one.run(g->inputs(with_weight));
        const auto out4 = four.run(g->inputs(with_weight));
        REQUIRE(out1.size() == 1);
        CHECK(out1[0].shape == std::vector<std::int64_t>{g->rows, g->features});
        check_close(out1[0], gather_reference(*g, with_weight, reduce));
        CHECK(bitwise_equal(out1[0], out4[0]));
        CHECK(out1[0].as<float>()[0] == 0.0f);  // row 0 receives nothing
      }
      // no entries: rows of 0; no rows: an empty output
      for (const std::int64_t rows : {0, 3}) {
        const Gather empty{2, 3, rows, std::vector<float>(6, 1.0f), {}, {}, {}};
        const auto outputs = one.run(empty.inputs(with_weight));
        CHECK(outputs[0].shape == std::vector<std::int64_t>{rows, 3});
        for (std::int64_t k = 0; k < outputs[0].size(); ++k) {
          CHECK(outputs[0].as<float>()[k] == 0.0f);
        }
      }
    }
  }
}

TEST_CASE("GatherSegmentReduce refuses bad inputs with a message") {
  auto session = open("gather_segment_reduce_sum_weight.onnx");
  const std::string op = "ai.e2e_gnn.GatherSegmentReduce: ";
  const std::vector<std::pair<std::function<void(Gather&)>, std::string>> cases = {
      {[](Gather& g) { g.source[2] = 4; },
       "source[2] = 4 is out of range [0, 4) (values has 4 rows)"},
      {[](Gather& g) { g.index[1] = -1; }, "index[1] = -1 is out of range [0, 5) (rows = 5)"},
      {[](Gather& g) { g.index[1] = 5; }, "index[1] = 5 is out of range [0, 5) (rows = 5)"},
      {[](Gather& g) { g.index.pop_back(); },
       "input 'index' has shape [5], expected [E] = [6] (E from input 'source')"},
      {[](Gather& g) { g.weight.push_back(1.0f); },
       "input 'weight' has shape [7], expected [E] or [E, *W] with E = 6 (from input 'source')"},
      {[](Gather& g) { g.rows = -2; }, "input 'rows' is -2, expected >= 0"}};
  for (const auto& [change, message] : cases) {
    CAPTURE(message);
    Gather g = random_gather(4, 6, 5, 2, 0, 6);
    change(g);
    CHECK(error_of([&] { session.run(g.inputs(true)); }).find(op + message) != std::string::npos);
  }
}

TEST_CASE("GatherSegmentReduce with a weight per head [E, H] on 1 and 4 threads") {
  // 5 x 7 features; 5,000 rows and 40,000 edges: enough for the kernel to split the rows
  const Gather small = random_gather(30, 300, 40, 5 * 7, 5, 7, 5);
  const Gather large = random_gather(5000, 40000, 5000, 4 * 16, 11, 8, 4);
  for (const std::string reduce : {"sum", "mean", "max", "min"}) {
    CAPTURE(reduce);
    auto one = open("gather_segment_reduce_" + reduce + "_heads.onnx", 1);
    auto four = open("gather_segment_reduce_" + reduce + "_heads.onnx", 4);
    for (const Gather* g : std::vector<const Gather*>{&small, &large}) {
      const auto out1 = one.run(g->inputs(true));
      const auto out4 = four.run(g->inputs(true));
      CHECK(out1[0].shape == std::vector<std::int64_t>{g->rows, g->heads, g->features / g->heads});
      check_close(out1[0], gather_reference(*g, true, reduce));
      CHECK(bitwise_equal(out1[0], out4[0]));
      CHECK(out1[0].as<float>()[0] == 0.0f);  // row 0 receives nothing
    }
  }
  NamedInputs wrong = small.inputs(true);  // weight [E, 3]: 3 is not the head count 5
  wrong.back().second.shape = {300, 3};
  CHECK(error_of([&] { open("gather_segment_reduce_sum_heads.onnx").run(wrong); })
            .find("ai.e2e_gnn.GatherSegmentReduce: input 'weight' has shape [300, 3], expected "
                  "[E] or [E, *W] with E = 300") != std::string::npos);
}

namespace {

// torch_geometric's softmax of src [E, F] over the entries of each row, per feature: the
// difference to the row's max in float (as ONNX's Sub), the rest in double. Bound: the float
// sum of the row's n positive terms, its exp and division, (n + 16) 2^-24 relative, and 2^-126
// absolute (exponentials below float's smallest normal may be 0).
Expected softmax_reference(const std::vector<float>& src, const std::vector<std::int64_t>& index,
                           std::int64_t rows, std::int64_t features) {
  const auto entries = std::int64_t(index.size());
  std::vector<float> max(rows * features, -std::numeric_limits<float>::infinity());
  std::vector<double> count(rows, 0.0);
  for (std::int64_t e = 0; e < entries; ++e) {
    for (std::int64_t f = 0; f < features; ++f) {
      float& slot = max[index[e] * features + f];
      slot = std::max(slot, src[e * features + f]);
    }
    count[index[e]] += 1.0;
  }
  std::vector<double> out(entries * features), sum(rows * features, 0.0);
  for (std::int64_t e = 0; e < entries; ++e) {
    for (std::int64_t f = 0; f < features; ++f) {
      const float shifted = src[e * features + f] - max[index[e] * features + f];
      out[e * features + f] = std::exp(double{shifted});
      sum[index[e] * features + f] += out[e * features + f];
    }
  }
  std::vector<double> bound(out.size());
  for (std::int64_t k = 0; k < entries * features; ++k) {
    const std::int64_t r = index[k / features];
    out[k] /= sum[r * features + k % features] + 1e-16;
    bound[k] = (count[r] + 16) * std::ldexp(out[k], -24) + std::ldexp(1.0, -126);
  }
  return {out, bound};
}

}  // namespace

TEST_CASE("SegmentSoftmax matches the reference on 1 and 4 threads") {
  // 4 entries x 2 features; rows 0, 2 and 4 have none (and no output); row 1: an -inf entry
  // and values of 1e4 (no overflow); row 3: one entry (1)
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> small_src = {1e4f, 2.0f, -inf, -1.0f, 1e4f - 1.0f, 0.5f, 3.0f, -3.0f};
  const std::vector<std::int64_t> small_index = {1, 1, 1, 3};
  // 5,000 rows and 40,000 entries: enough for the kernel to split the rows among threads
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::uniform_int_distribution<std::int64_t> row(0, 4999);
  std::vector<float> large_src;
  std::vector<std::int64_t> large_index;
  for (std::int64_t k = 0; k < 40000 * 8; ++k) large_src.push_back(normal(rng));
  for (std::int64_t e = 0; e < 40000; ++e) large_index.push_back(row(rng));
  struct Case {
    const std::vector<float>& src;
    const std::vector<std::int64_t>& index;
    std::int64_t rows, features;

    NamedInputs inputs() const {
      const auto entries = std::int64_t(index.size());
      return {{"src", TensorView::of(src.data(), {entries, features})},
              {"index", TensorView::of(index.data(), {entries})},
              {"rows", TensorView::of(&rows, {})}};
    }
  };
  const Case small{small_src, small_index, 5, 2}, large{large_src, large_index, 5000, 8};
  auto one = open("segment_softmax.onnx", 1);
  auto four = open("segment_softmax.onnx", 4);
  for (const Case* c : {&small, &large}) {
    const auto out1 = one.run(c->inputs());
    const auto out4 = four.run(c->inputs());
    CHECK(out1[0].shape == std::vector<std::int64_t>{std::int64_t(c->index.size()), c->features});
    check_close(out1[0], softmax_reference(c->src, c->index, c->rows, c->features));
    CHECK(bitwise_equal(out1[0], out4[0]));
  }
  const auto out = one.run(small.inputs());
  CHECK(out[0].as<float>()[2] == 0.0f);  // the -inf entry
  CHECK(out[0].as<float>()[6] == 1.0f);  // the only entry of its row
  CHECK(out[0].as<float>()[7] == 1.0f);
}

namespace {

// EdgeScore's inputs: node_i [N, H, C], node_j [N, H, C], source, target [E], weight [H, C].
struct Scores {
  std::int64_t nodes, heads, channels;
  std::vector<float> node_i, node_j, weight;
  std::vector<std::int64_t> source, target;

  NamedInputs inputs(bool with_weight) const {
    const std::int64_t edges = std::int64_t(source.size());
    NamedInputs named = {{"node_i", TensorView::of(node_i.data(), {nodes, heads, channels})},
                         {"node_j", TensorView::of(node_j.data(), {nodes, heads, channels})},
                         {"source", TensorView::of(source.data(), {edges})},
                         {"target", TensorView::of(target.data(), {edges})}};
    if (with_weight) named.push_back({"weight", TensorView::of(weight.data(), {heads, channels})});
    return named;
  }
};

Scores random_scores(std::int64_t nodes, std::int64_t edges, std::int64_t heads,
                     std::int64_t channels, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Scores scores{nodes, heads, channels, {}, {}, {}, {}, {}};
  for (std::int64_t k = 0; k < nodes * heads * channels; ++k) {
    scores.node_i.push_back(normal(rng));
    scores.node_j.push_back(normal(rng));
  }
  for (std::int64_t k = 0; k < heads * channels; ++k) scores.weight.push_back(normal(rng));
  std::uniform_int_distribution<std::int64_t> node(0, nodes - 1);
  for (std::int64_t e = 0; e < edges; ++e) {
    scores.source.push_back(node(rng));
    scores.target.push_back(node(rng));
  }
  return scores;
}

// The scores [E, H]: sums in double over the channels of the terms in float (as ONNX's Mul,
// Add and LeakyRelu compute them).
Expected score_reference(const Scores& s, bool leaky_relu, float slope) {
  Expected expected;
  for (std::size_t e = 0; e < s.source.size(); ++e) {
    for (std::int64_t h = 0; h < s.heads; ++h) {
      double sum = 0.0, magnitude = 0.0;
      for (std::int64_t c = 0; c < s.channels; ++c) {
        const std::int64_t at = h * s.channels + c;
        const float a = s.node_i[s.target[e] * s.heads * s.channels + at];
        const float b = s.node_j[s.source[e] * s.heads * s.channels + at];
        const float x = a + b;
        const float term = leaky_relu ? s.weight[at] * (x < 0.0f ? x * slope : x) : a * b;
        sum += term;
        magnitude += std::abs(term);
      }
      expected.values.push_back(sum);
      expected.bound.push_back(sum_bound(double(s.channels), magnitude, false));
    }
  }
  return expected;
}

}  // namespace

TEST_CASE("EdgeScore matches the reference on 1 and 4 threads") {
  // 13 channels: not a multiple of the kernel's lanes; 40,000 edges: split among threads
  const Scores scores = random_scores(5000, 40000, 4, 13, 10);
  for (const bool leaky_relu : {false, true}) {
    CAPTURE(leaky_relu);
    const std::string model = leaky_relu ? "edge_score_leaky_relu.onnx" : "edge_score_dot.onnx";
    const auto out1 = open(model, 1).run(scores.inputs(leaky_relu));
    const auto out4 = open(model, 4).run(scores.inputs(leaky_relu));
    CHECK(out1[0].shape == std::vector<std::int64_t>{40000, 4});
    check_close(out1[0], score_reference(scores, leaky_relu, 0.1f));  // the model's slope
    CHECK(bitwise_equal(out1[0], out4[0]));
  }
  Scores bad = random_scores(5, 6, 2, 3, 11);
  bad.target[3] = 5;
  CHECK(error_of([&] { open("edge_score_dot.onnx").run(bad.inputs(false)); })
            .find("ai.e2e_gnn.EdgeScore: target[3] = 5 is out of range [0, 5) (node_i has 5 "
                  "rows)") != std::string::npos);
}
