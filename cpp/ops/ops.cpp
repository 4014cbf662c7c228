#include "ops.hpp"

// Ort::CustomOpBase only (the OrtCustomOp plumbing); every ONNX Runtime call below goes
// through the OrtApi handed to the kernel.
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e_gnn::ops {
namespace {

// An error status of ONNX Runtime, carried out of the kernel and returned as is.
struct StatusError {
  OrtStatus* status;
};

// A wrong input or attribute: ORT_INVALID_ARGUMENT "ai.e2e_gnn.<op>: <message>".
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(OrtStatus* status) {
  if (status != nullptr) throw StatusError{status};
}

template <typename Body>
OrtStatus* guarded(const OrtApi& api, const char* op, const Body& body) noexcept {
  try {
    body();
    return nullptr;
  } catch (const StatusError& error) {
    return error.status;
  } catch (const ArgumentError& error) {
    return api.CreateStatus(ORT_INVALID_ARGUMENT,
                            (std::string(kDomain) + "." + op + ": " + error.what()).c_str());
  } catch (const std::exception& error) {
    return api.CreateStatus(ORT_FAIL,
                            (std::string(kDomain) + "." + op + ": " + error.what()).c_str());
  }
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string text = "[";
  for (std::size_t d = 0; d < shape.size(); ++d) {
    text += (d ? ", " : "") + std::to_string(shape[d]);
  }
  return text + "]";
}

struct Input {
  std::vector<std::int64_t> shape;
  const void* data = nullptr;

  std::int64_t dim(std::size_t d) const { return shape[d]; }
  std::size_t rank() const { return shape.size(); }
  const float* floats() const { return static_cast<const float*>(data); }
  const std::int64_t* int64s() const { return static_cast<const std::int64_t*>(data); }
};

Input input(const OrtApi& api, OrtKernelContext* context, std::size_t index) {
  const OrtValue* value = nullptr;
  check(api.KernelContext_GetInput(context, index, &value));
  OrtTensorTypeAndShapeInfo* info = nullptr;
  check(api.GetTensorTypeAndShape(value, &info));
  Input result;
  std::size_t rank = 0;
  OrtStatus* status = api.GetDimensionsCount(info, &rank);
  if (status == nullptr) {
    result.shape.resize(rank);
    status = api.GetDimensions(info, result.shape.data(), rank);
  }
  api.ReleaseTensorTypeAndShapeInfo(info);
  check(status);
  void* data = nullptr;
  // ONNX Runtime's C API has no const accessor in 1.17; the input is only read.
  check(api.GetTensorMutableData(const_cast<OrtValue*>(value), &data));
  result.data = data;
  return result;
}

// An optional input: absent when the node has fewer inputs or names none at `index`.
std::optional<Input> optional_input(const OrtApi& api, OrtKernelContext* context,
                                    std::size_t index) {
  std::size_t count = 0;
  check(api.KernelContext_GetInputCount(context, &count));
  if (index >= count) return std::nullopt;
  const OrtValue* value = nullptr;
  check(api.KernelContext_GetInput(context, index, &value));
  if (value == nullptr) return std::nullopt;
  return input(api, context, index);
}

float* output(const OrtApi& api, OrtKernelContext* context, std::size_t index,
              const std::vector<std::int64_t>& shape) {
  OrtValue* value = nullptr;
  check(api.KernelContext_GetOutput(context, index, shape.data(), shape.size(), &value));
  void* data = nullptr;
  check(api.GetTensorMutableData(value, &data));
  return static_cast<float*>(data);
}

std::string string_attribute(const OrtApi& api, const OrtKernelInfo* info, const char* name,
                             const char* allowed) {
  std::size_t size = 0;
  if (OrtStatus* status = api.KernelInfoGetAttribute_string(info, name, nullptr, &size)) {
    api.ReleaseStatus(status);
    throw ArgumentError(std::string("the string attribute '") + name + "' (one of " + allowed +
                        ") is missing");
  }
  std::string value(size, '\0');
  check(api.KernelInfoGetAttribute_string(info, name, value.data(), &size));
  value.resize(size > 0 ? size - 1 : 0);  // size counts the terminating null
  return value;
}

enum class Reduce { sum, mean, max, min };

Reduce reduce_attribute(const OrtApi& api, const OrtKernelInfo* info, bool with_min) {
  const char* allowed = with_min ? "sum, mean, max, min" : "sum, mean, max";
  const std::string value = string_attribute(api, info, "reduce", allowed);
  if (value == "sum") return Reduce::sum;
  if (value == "mean") return Reduce::mean;
  if (value == "max") return Reduce::max;
  if (value == "min" && with_min) return Reduce::min;
  throw ArgumentError("attribute reduce = '" + value + "' is not one of " + allowed);
}

// The output row count of SegmentReduce and GatherSegmentReduce: a scalar or [1], >= 0.
std::int64_t rows_value(const Input& rows_input) {
  if (rows_input.rank() > 1 || (rows_input.rank() == 1 && rows_input.dim(0) != 1)) {
    throw ArgumentError("input 'rows' has shape " + shape_string(rows_input.shape) +
                        ", expected a scalar or [1]");
  }
  const std::int64_t rows = *rows_input.int64s();
  if (rows < 0) throw ArgumentError("input 'rows' is " + std::to_string(rows) + ", expected >= 0");
  return rows;
}

// Entries grouped by row in a counting sort: the entries of row r are
// edges[offsets[r]:offsets[r + 1]], in increasing entry order.
struct Rows {
  std::vector<std::int64_t> offsets;
  std::vector<std::int64_t> edges;

  std::int64_t count(std::int64_t row) const { return offsets[row + 1] - offsets[row]; }
};

// Throws, naming `name`[e] and its value, when an index is outside [0, rows); `bound` says
// where the bound comes from (built only on failure).
template <typename Bound>
void check_range(const std::int64_t* index, std::int64_t entries, std::int64_t rows,
                 const char* name, const Bound& bound) {
  for (std::int64_t e = 0; e < entries; ++e) {
    if (index[e] < 0 || index[e] >= rows) {
      throw ArgumentError(std::string(name) + "[" + std::to_string(e) +
                          "] = " + std::to_string(index[e]) + " is out of range [0, " +
                          std::to_string(rows) + ") (" + bound() + ")");
    }
  }
}

// `index` must be in range (check_range).
Rows group_by_row(const std::int64_t* index, std::int64_t entries, std::int64_t rows) {
  Rows grouped{std::vector<std::int64_t>(static_cast<std::size_t>(rows) + 1, 0),
               std::vector<std::int64_t>(static_cast<std::size_t>(entries))};
  if (std::is_sorted(index, index + entries)) {  // e.g. kNN edges: one scan, no scatter
    std::iota(grouped.edges.begin(), grouped.edges.end(), std::int64_t{0});
    std::int64_t e = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
      while (e < entries && index[e] == r) ++e;
      grouped.offsets[r + 1] = e;
    }
    return grouped;
  }
  for (std::int64_t e = 0; e < entries; ++e) ++grouped.offsets[index[e] + 1];
  for (std::int64_t r = 0; r < rows; ++r) grouped.offsets[r + 1] += grouped.offsets[r];
  std::vector<std::int64_t> next(grouped.offsets.begin(), grouped.offsets.end() - 1);
  for (std::int64_t e = 0; e < entries; ++e) grouped.edges[next[index[e]]++] = e;
  return grouped;
}

// reduce_rows has an AVX2 clone next to the baseline (SSE2) one on x86-64, picked when the
// library loads; the loops it inlines are element-wise (no reassociation, no FMA), so both
// give the same bits.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define E2E_GNN_OPS_CLONES __attribute__((target_clones("avx2", "default")))
#define E2E_GNN_OPS_INLINE __attribute__((always_inline)) inline
#else
#define E2E_GNN_OPS_CLONES
#define E2E_GNN_OPS_INLINE inline
#endif

// Features per pass of reduce_row: its buffers stay on the stack.
constexpr std::int64_t kChunk = 256;

// Reduces one output row: out[f] = reduce over the entries e of the row of the messages
// message.values(e, f0, width, scratch)[f - f0]; 0 for a row without entries. Sums accumulate
// in double (in entry order), so mean and sum are within float rounding of the exact value.
// NaN propagates through max and min, as in torch's amax/amin.
template <typename Message>
E2E_GNN_OPS_INLINE void reduce_row(Reduce reduce, const std::int64_t* first, const std::int64_t* last,
                std::int64_t features, const Message& message, float* out) {
  const std::int64_t count = last - first;
  if (count == 0) {
    std::fill(out, out + features, 0.0f);
    return;
  }
  float scratch[kChunk];
  double sum[kChunk];
  for (std::int64_t f0 = 0; f0 < features; f0 += kChunk) {
    const std::int64_t width = std::min(kChunk, features - f0);
    float* __restrict result = out + f0;
    if (reduce == Reduce::sum || reduce == Reduce::mean) {
      std::fill(sum, sum + width, 0.0);
      for (const std::int64_t* e = first; e != last; ++e) {
        const float* __restrict v = message.values(*e, f0, width, scratch);
        for (std::int64_t f = 0; f < width; ++f) sum[f] += v[f];
      }
      const double divisor = reduce == Reduce::mean ? static_cast<double>(count) : 1.0;
      for (std::int64_t f = 0; f < width; ++f) result[f] = static_cast<float>(sum[f] / divisor);
      continue;
    }
    std::copy_n(message.values(*first, f0, width, scratch), width, result);
    // `|`, not `||`, and no FP traps (CMakeLists.txt): the loops vectorise, no branches.
    for (const std::int64_t* e = first + 1; e != last; ++e) {
      const float* __restrict v = message.values(*e, f0, width, scratch);
      if (reduce == Reduce::max) {
        for (std::int64_t f = 0; f < width; ++f) {
          result[f] = ((v[f] > result[f]) | (v[f] != v[f])) ? v[f] : result[f];
        }
      } else {
        for (std::int64_t f = 0; f < width; ++f) {
          result[f] = ((v[f] < result[f]) | (v[f] != v[f])) ? v[f] : result[f];
        }
      }
    }
  }
}

// SegmentReduce's entries: rows of src.
struct SourceRows {
  const float* src;
  std::int64_t features;
  E2E_GNN_OPS_INLINE const float* values(std::int64_t e, std::int64_t f0, std::int64_t,
                                         float*) const {
    return src + e * features + f0;
  }
};

// GatherSegmentReduce's entries: rows values[source[e]], times weight[e] when kWeighted (the
// product in float, as ONNX's Mul computes it).
template <bool kWeighted>
struct GatheredRows {
  const float* rows;
  const std::int64_t* source;
  const float* weight;
  std::int64_t features;
  E2E_GNN_OPS_INLINE const float* row(std::int64_t e, std::int64_t f0) const {
    return rows + source[e] * features + f0;
  }
  E2E_GNN_OPS_INLINE const float* values(std::int64_t e, std::int64_t f0, std::int64_t width,
                                         float* scratch) const {
    if constexpr (!kWeighted) {
      return row(e, f0);
    } else {
      const float* __restrict v = row(e, f0);
      const float w = weight[e];
      float* __restrict m = scratch;
      for (std::int64_t f = 0; f < width; ++f) m[f] = v[f] * w;
      return scratch;
    }
  }
};

// EdgeAggregate's message of edge e into node i: act(node_i[i] + node_j[source[e]]), with
// node_i[i] fixed for the whole row.
template <bool kRelu>
struct EdgeMessages {
  const float* node_i_row;
  const float* node_j;
  const std::int64_t* source;
  std::int64_t features;
  E2E_GNN_OPS_INLINE const float* values(std::int64_t e, std::int64_t f0, std::int64_t width,
                                         float* scratch) const {
    const float* __restrict a = node_i_row + f0;
    const float* __restrict b = node_j + source[e] * features + f0;
    float* __restrict m = scratch;
    for (std::int64_t f = 0; f < width; ++f) {
      const float sum = a[f] + b[f];
      if constexpr (kRelu) {
        m[f] = sum < 0.0f ? 0.0f : sum;  // keeps NaN, like torch.relu
      } else {
        m[f] = sum;
      }
    }
    return scratch;
  }
};

enum class Messages { src_rows, gathered, gathered_weighted, relu, identity };

// One reduction, row by row: out[r] = reduce of the messages of grouped's entries of row r.
struct RowTask {
  Reduce reduce;
  Messages messages;
  const Rows* grouped;
  std::int64_t features;
  const float* rows;  // SegmentReduce: src; GatherSegmentReduce: values; EdgeAggregate: node_j
  const float* node_i;         // EdgeAggregate only
  const std::int64_t* source;  // GatherSegmentReduce and EdgeAggregate
  float* out;
  const float* weight = nullptr;  // GatherSegmentReduce's optional weight
};

E2E_GNN_OPS_CLONES void reduce_rows(const RowTask& task, std::int64_t first, std::int64_t last) {
  const std::int64_t features = task.features;
  for (std::int64_t r = first; r < last; ++r) {
    const std::int64_t* edges = task.grouped->edges.data() + task.grouped->offsets[r];
    const std::int64_t* end = edges + task.grouped->count(r);
    float* out = task.out + r * features;
    switch (task.messages) {
      case Messages::src_rows:
        reduce_row(task.reduce, edges, end, features, SourceRows{task.rows, features}, out);
        break;
      case Messages::gathered:
        reduce_row(task.reduce, edges, end, features,
                   GatheredRows<false>{task.rows, task.source, nullptr, features}, out);
        break;
      case Messages::gathered_weighted:
        reduce_row(task.reduce, edges, end, features,
                   GatheredRows<true>{task.rows, task.source, task.weight, features}, out);
        break;
      case Messages::relu:
        reduce_row(task.reduce, edges, end, features,
                   EdgeMessages<true>{task.node_i + r * features, task.rows, task.source, features},
                   out);
        break;
      case Messages::identity:
        reduce_row(task.reduce, edges, end, features,
                   EdgeMessages<false>{task.node_i + r * features, task.rows, task.source, features},
                   out);
        break;
    }
  }
}

// Runs `task` over blocks of its `rows` rows, in ONNX Runtime's intra-op thread pool when there
// is more than one block. Each row is computed by one call, whatever the blocks.
void run_rows(const OrtApi& api, OrtKernelContext* context, const RowTask& task,
              std::int64_t rows) {
  constexpr std::int64_t kWorkPerBlock = 1 << 16;  // messages' elements: amortises the dispatch
  const auto entries = static_cast<std::int64_t>(task.grouped->edges.size());
  const std::int64_t per_row = std::max<std::int64_t>(1, entries * task.features / rows);
  const std::int64_t block = std::max<std::int64_t>(1, kWorkPerBlock / per_row);
  const std::int64_t blocks = (rows + block - 1) / block;
  if (blocks <= 1) {
    reduce_rows(task, 0, rows);
    return;
  }
  struct Job {
    const RowTask* task;
    std::int64_t block;
    std::int64_t rows;
  } job{&task, block, rows};
  check(api.KernelContext_ParallelFor(
      context,
      [](void* data, std::size_t b) {
        const Job& job = *static_cast<const Job*>(data);
        const std::int64_t first = static_cast<std::int64_t>(b) * job.block;
        reduce_rows(*job.task, first, std::min(first + job.block, job.rows));
      },
      static_cast<std::size_t>(blocks), 0, &job));
}

// ---------------------------------------------------------------------------------------
// SegmentReduce(src [E, *F], index [E], rows) -> out [rows, *F]

struct SegmentReduceKernel {
  const OrtApi& api;
  Reduce reduce;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "SegmentReduce", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const Input src = input(api, context, 0);
    const Input index = input(api, context, 1);
    const Input rows_input = input(api, context, 2);
    if (src.rank() < 1) {
      throw ArgumentError("input 'src' has shape " + shape_string(src.shape) +
                          ", expected [E, *F] (rank >= 1)");
    }
    const std::int64_t entries = src.dim(0);
    if (index.rank() != 1 || index.dim(0) != entries) {
      throw ArgumentError("input 'index' has shape " + shape_string(index.shape) +
                          ", expected [E] = [" + std::to_string(entries) +
                          "] (E from input 'src' of shape " + shape_string(src.shape) + ")");
    }
    const std::int64_t rows = rows_value(rows_input);
    check_range(index.int64s(), entries, rows, "index",
                [&] { return "rows = " + std::to_string(rows); });

    std::vector<std::int64_t> out_shape = src.shape;
    out_shape[0] = rows;
    std::int64_t features = 1;
    for (std::size_t d = 1; d < src.rank(); ++d) features *= src.dim(d);
    float* out = output(api, context, 0, out_shape);
    if (rows == 0 || features == 0) return;

    const Rows grouped = group_by_row(index.int64s(), entries, rows);
    run_rows(api, context,
             {reduce, Messages::src_rows, &grouped, features, src.floats(), nullptr, nullptr, out},
             rows);
  }
};

struct SegmentReduceOp : Ort::CustomOpBase<SegmentReduceOp, SegmentReduceKernel, true> {
  SegmentReduceOp() { OrtCustomOp::version = kOrtApiVersion; }

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return guarded(api, "SegmentReduce", [&] {
      *kernel = new SegmentReduceKernel{api, reduce_attribute(api, info, true)};
    });
  }
  const char* GetName() const { return "SegmentReduce"; }
  std::size_t GetInputTypeCount() const { return 3; }
  ONNXTensorElementDataType GetInputType(std::size_t index) const {
    return index == 0 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }
  std::size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(std::size_t) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
};

// ---------------------------------------------------------------------------------------
// GatherSegmentReduce(values [M, *F], source [E], index [E], rows, weight [E] optional)
//     -> out [rows, *F]: SegmentReduce(Gather(values, source) [* weight], index, rows) without
// the gathered [E, *F] tensor.

struct GatherSegmentReduceKernel {
  const OrtApi& api;
  Reduce reduce;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "GatherSegmentReduce", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const Input values = input(api, context, 0);
    const Input source = input(api, context, 1);
    const Input index = input(api, context, 2);
    const Input rows_input = input(api, context, 3);
    const std::optional<Input> weight = optional_input(api, context, 4);
    if (values.rank() < 1) {
      throw ArgumentError("input 'values' has shape " + shape_string(values.shape) +
                          ", expected [M, *F] (rank >= 1)");
    }
    if (source.rank() != 1) {
      throw ArgumentError("input 'source' has shape " + shape_string(source.shape) +
                          ", expected [E]");
    }
    const std::int64_t entries = source.dim(0);
    const auto check_entries = [&](const char* name, const Input& tensor) {
      if (tensor.rank() != 1 || tensor.dim(0) != entries) {
        throw ArgumentError(std::string("input '") + name + "' has shape " +
                            shape_string(tensor.shape) + ", expected [E] = [" +
                            std::to_string(entries) + "] (E from input 'source')");
      }
    };
    check_entries("index", index);
    if (weight) check_entries("weight", *weight);
    const std::int64_t rows = rows_value(rows_input);
    check_range(source.int64s(), entries, values.dim(0), "source",
                [&] { return "values has " + std::to_string(values.dim(0)) + " rows"; });
    check_range(index.int64s(), entries, rows, "index",
                [&] { return "rows = " + std::to_string(rows); });

    std::vector<std::int64_t> out_shape = values.shape;
    out_shape[0] = rows;
    std::int64_t features = 1;
    for (std::size_t d = 1; d < values.rank(); ++d) features *= values.dim(d);
    float* out = output(api, context, 0, out_shape);
    if (rows == 0 || features == 0) return;

    const Rows grouped = group_by_row(index.int64s(), entries, rows);
    run_rows(api, context,
             {reduce, weight ? Messages::gathered_weighted : Messages::gathered, &grouped,
              features, values.floats(), nullptr, source.int64s(), out,
              weight ? weight->floats() : nullptr},
             rows);
  }
};

struct GatherSegmentReduceOp
    : Ort::CustomOpBase<GatherSegmentReduceOp, GatherSegmentReduceKernel, true> {
  GatherSegmentReduceOp() { OrtCustomOp::version = kOrtApiVersion; }

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return guarded(api, "GatherSegmentReduce", [&] {
      *kernel = new GatherSegmentReduceKernel{api, reduce_attribute(api, info, true)};
    });
  }
  const char* GetName() const { return "GatherSegmentReduce"; }
  std::size_t GetInputTypeCount() const { return 5; }
  ONNXTensorElementDataType GetInputType(std::size_t index) const {
    return index == 0 || index == 4 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
                                    : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(std::size_t index) const {
    return index == 4 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
  }
  std::size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(std::size_t) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
};

// ---------------------------------------------------------------------------------------
// EdgeAggregate(node_i [N, F], node_j [M, F], source [E], target [E]) -> (out [N, F], degree [N])

struct EdgeAggregateKernel {
  const OrtApi& api;
  bool relu;
  Reduce reduce;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "EdgeAggregate", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const Input node_i = input(api, context, 0);
    const Input node_j = input(api, context, 1);
    const Input source = input(api, context, 2);
    const Input target = input(api, context, 3);
    if (node_i.rank() != 2) {
      throw ArgumentError("input 'node_i' has shape " + shape_string(node_i.shape) +
                          ", expected [N, F]");
    }
    if (node_j.rank() != 2 || node_j.dim(1) != node_i.dim(1)) {
      throw ArgumentError("input 'node_j' has shape " + shape_string(node_j.shape) +
                          ", expected [M, F] with F = " + std::to_string(node_i.dim(1)) +
                          " (from input 'node_i' of shape " + shape_string(node_i.shape) + ")");
    }
    if (source.rank() != 1) {
      throw ArgumentError("input 'source' has shape " + shape_string(source.shape) +
                          ", expected [E]");
    }
    const std::int64_t edges = source.dim(0);
    if (target.rank() != 1 || target.dim(0) != edges) {
      throw ArgumentError("input 'target' has shape " + shape_string(target.shape) +
                          ", expected [E] = [" + std::to_string(edges) +
                          "] (E from input 'source')");
    }
    const std::int64_t nodes = node_i.dim(0);
    const std::int64_t features = node_i.dim(1);
    check_range(source.int64s(), edges, node_j.dim(0), "source",
                [&] { return "node_j has " + std::to_string(node_j.dim(0)) + " rows"; });
    check_range(target.int64s(), edges, nodes, "target",
                [&] { return "node_i has " + std::to_string(nodes) + " rows"; });

    float* out = output(api, context, 0, {nodes, features});
    float* degree = output(api, context, 1, {nodes});
    if (nodes == 0) return;

    const Rows grouped = group_by_row(target.int64s(), edges, nodes);
    for (std::int64_t i = 0; i < nodes; ++i) degree[i] = static_cast<float>(grouped.count(i));
    if (features == 0) return;
    run_rows(api, context,
             {reduce, relu ? Messages::relu : Messages::identity, &grouped, features,
              node_j.floats(), node_i.floats(), source.int64s(), out},
             nodes);
  }
};

bool activation_attribute(const OrtApi& api, const OrtKernelInfo* info) {
  const std::string value = string_attribute(api, info, "activation", "relu, identity");
  if (value == "relu") return true;
  if (value == "identity") return false;
  throw ArgumentError("attribute activation = '" + value + "' is not one of relu, identity");
}

struct EdgeAggregateOp : Ort::CustomOpBase<EdgeAggregateOp, EdgeAggregateKernel, true> {
  EdgeAggregateOp() { OrtCustomOp::version = kOrtApiVersion; }

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return guarded(api, "EdgeAggregate", [&] {
      const bool relu = activation_attribute(api, info);
      *kernel = new EdgeAggregateKernel{api, relu, reduce_attribute(api, info, false)};
    });
  }
  const char* GetName() const { return "EdgeAggregate"; }
  std::size_t GetInputTypeCount() const { return 4; }
  ONNXTensorElementDataType GetInputType(std::size_t index) const {
    return index < 2 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }
  std::size_t GetOutputTypeCount() const { return 2; }
  ONNXTensorElementDataType GetOutputType(std::size_t) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
};

}  // namespace

OrtStatus* add_ops(const OrtApi& api, OrtCustomOpDomain* domain) {
  static SegmentReduceOp segment_reduce;
  static EdgeAggregateOp edge_aggregate;
  static GatherSegmentReduceOp gather_segment_reduce;
  if (OrtStatus* status = api.CustomOpDomain_Add(domain, &segment_reduce)) return status;
  if (OrtStatus* status = api.CustomOpDomain_Add(domain, &edge_aggregate)) return status;
  return api.CustomOpDomain_Add(domain, &gather_segment_reduce);
}

}  // namespace e2e_gnn::ops
