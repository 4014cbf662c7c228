#include "ops.hpp"

// Ort::CustomOpBase only (the OrtCustomOp plumbing); every ONNX Runtime call below goes
// through the OrtApi handed to the kernel.
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstring>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
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

// The string attribute `name`; `fallback` when the node has none and a fallback is given.
std::string string_attribute(const OrtApi& api, const OrtKernelInfo* info, const char* name,
                             const char* allowed, const char* fallback = nullptr) {
  std::size_t size = 0;
  if (OrtStatus* status = api.KernelInfoGetAttribute_string(info, name, nullptr, &size)) {
    api.ReleaseStatus(status);
    if (fallback != nullptr) return fallback;
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

// Whether a message type adds its values to a sum itself (accumulate), saving the copy of its
// values that `values` returns.
template <typename Message, typename = void>
constexpr bool kAccumulates = false;
template <typename Message>
constexpr bool kAccumulates<Message, std::void_t<decltype(&Message::accumulate)>> = true;

// Features per pass of reduce_row: its buffers stay on the stack.
constexpr std::int64_t kChunk = 256;

// Reduces one output row: out[f] = reduce over the entries e of the row of the messages
// message.values(e, f0, width, scratch)[f - f0]; 0 for a row without entries. Sums accumulate
// in float in entry order, as torch's scatter and the plain export's ReduceSum do (in double
// they were 1.6x slower: a conversion per term). NaN propagates through max and min, as in
// torch's amax/amin.
template <typename Message>
E2E_GNN_OPS_INLINE void reduce_row(Reduce reduce, const std::int64_t* first,
                                   const std::int64_t* last, std::int64_t features,
                                   const Message& message, float* out) {
  const std::int64_t count = last - first;
  if (count == 0) {
    std::fill(out, out + features, 0.0f);
    return;
  }
  float scratch[kChunk];
  float sum[kChunk];
  for (std::int64_t f0 = 0; f0 < features; f0 += kChunk) {
    const std::int64_t width = std::min(kChunk, features - f0);
    float* __restrict result = out + f0;
    if (reduce == Reduce::sum || reduce == Reduce::mean) {
      std::fill(sum, sum + width, 0.0f);
      for (const std::int64_t* e = first; e != last; ++e) {
        if constexpr (kAccumulates<Message>) {
          message.accumulate(*e, f0, width, sum);
        } else {
          const float* __restrict v = message.values(*e, f0, width, scratch);
          for (std::int64_t f = 0; f < width; ++f) sum[f] += v[f];
        }
      }
      const float divisor = reduce == Reduce::mean ? static_cast<float>(count) : 1.0f;
      for (std::int64_t f = 0; f < width; ++f) result[f] = sum[f] / divisor;
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
// product in float, as ONNX's Mul computes it). weight[e] holds weight_width factors; each
// multiplies `group` consecutive features (one factor per row, or one per attention head).
template <bool kWeighted>
struct GatheredRows {
  const float* rows;
  const std::int64_t* source;
  const float* weight;
  std::int64_t features;
  std::int64_t weight_width = 1;
  std::int64_t group = 1;
  E2E_GNN_OPS_INLINE const float* row(std::int64_t e, std::int64_t f0) const {
    return rows + source[e] * features + f0;
  }
  E2E_GNN_OPS_INLINE const float* values(std::int64_t e, std::int64_t f0, std::int64_t width,
                                         float* scratch) const {
    if constexpr (!kWeighted) {
      return row(e, f0);
    } else {
      scaled(e, f0, width, [scratch](std::int64_t f, float value) { scratch[f] = value; });
      return scratch;
    }
  }
  // sum[f] += the value of feature f0 + f (for sum and mean: no copy of the values)
  E2E_GNN_OPS_INLINE void accumulate(std::int64_t e, std::int64_t f0, std::int64_t width,
                                     float* __restrict sum) const {
    if constexpr (!kWeighted) {
      const float* __restrict v = row(e, f0);
      for (std::int64_t f = 0; f < width; ++f) sum[f] += v[f];
    } else {
      scaled(e, f0, width, [sum](std::int64_t f, float value) { sum[f] += value; });
    }
  }
  // use(f, values[source[e]][f0 + f] * its weight) for f in [0, width), group by group
  template <typename Use>
  E2E_GNN_OPS_INLINE void scaled(std::int64_t e, std::int64_t f0, std::int64_t width,
                                 const Use& use) const {
    const float* __restrict v = row(e, f0);
    const float* w = weight + e * weight_width;
    std::int64_t g = f0 / group;
    std::int64_t f = 0;
    std::int64_t stop = std::min(width, (g + 1) * group - f0);
    while (f < width) {
      const float factor = w[g++];
      for (; f < stop; ++f) use(f, v[f] * factor);
      stop = std::min(width, stop + group);
    }
  }
};

// GatherSegmentReduce's entries with an addend: act(values[source[e]] + addend[e]) (GINEConv's
// (x_j + edge_attr).relu()).
template <bool kRelu>
struct GatheredPlusEdge {
  const float* rows;
  const std::int64_t* source;
  const float* addend;
  std::int64_t features;
  E2E_GNN_OPS_INLINE const float* values(std::int64_t e, std::int64_t f0, std::int64_t width,
                                         float* scratch) const {
    const float* __restrict v = rows + source[e] * features + f0;
    const float* __restrict a = addend + e * features + f0;
    float* __restrict m = scratch;
    for (std::int64_t f = 0; f < width; ++f) {
      const float sum = v[f] + a[f];
      if constexpr (kRelu) {
        m[f] = sum < 0.0f ? 0.0f : sum;  // keeps NaN, like torch.relu
      } else {
        m[f] = sum;
      }
    }
    return scratch;
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

enum class Messages {
  src_rows,
  gathered,
  gathered_weighted,
  gathered_plus_edge,
  gathered_plus_edge_relu,
  relu,
  identity
};

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
  const float* weight = nullptr;  // GatherSegmentReduce's optional weight [E, weight_width]
  std::int64_t weight_width = 1;
  const float* addend = nullptr;  // GatherSegmentReduce's optional addend [E, features]
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
                   GatheredRows<true>{task.rows, task.source, task.weight, features,
                                      task.weight_width, features / task.weight_width},
                   out);
        break;
      case Messages::gathered_plus_edge:
        reduce_row(task.reduce, edges, end, features,
                   GatheredPlusEdge<false>{task.rows, task.source, task.addend, features}, out);
        break;
      case Messages::gathered_plus_edge_relu:
        reduce_row(task.reduce, edges, end, features,
                   GatheredPlusEdge<true>{task.rows, task.source, task.addend, features}, out);
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

// Runs body(first, last) over blocks of [0, items), in ONNX Runtime's intra-op thread pool when
// there is more than one block; `work` is the number of elements the items touch in all. Each
// item is computed by one call, whatever the blocks, so results do not depend on the threads.
template <typename Body>
void parallel_blocks(const OrtApi& api, OrtKernelContext* context, std::int64_t items,
                     std::int64_t work, const Body& body) {
  constexpr std::int64_t kWorkPerBlock = 1 << 16;  // amortises the dispatch
  if (items <= 0) return;
  const std::int64_t per_item = std::max<std::int64_t>(1, work / items);
  const std::int64_t block = std::max<std::int64_t>(1, kWorkPerBlock / per_item);
  const std::int64_t blocks = (items + block - 1) / block;
  if (blocks <= 1) {
    body(0, items);
    return;
  }
  struct Job {
    const Body* body;
    std::int64_t block;
    std::int64_t items;
  } job{&body, block, items};
  check(api.KernelContext_ParallelFor(
      context,
      [](void* data, std::size_t b) {
        const Job& job = *static_cast<const Job*>(data);
        const std::int64_t first = static_cast<std::int64_t>(b) * job.block;
        (*job.body)(first, std::min(first + job.block, job.items));
      },
      static_cast<std::size_t>(blocks), 0, &job));
}

void run_rows(const OrtApi& api, OrtKernelContext* context, const RowTask& task,
              std::int64_t rows) {
  const auto entries = static_cast<std::int64_t>(task.grouped->edges.size());
  parallel_blocks(api, context, rows, entries * task.features,
                  [&task](std::int64_t first, std::int64_t last) {
                    reduce_rows(task, first, last);
                  });
}

// ---------------------------------------------------------------------------------------
// SegmentReduce(src [E, *F], index [E], rows) -> out [rows, *F]

// The inputs of SegmentReduce and SegmentSoftmax, checked: src [E, *F], index [E] with values
// in [0, rows), rows.
struct SegmentInputs {
  Input src;
  Input index;
  std::int64_t rows;

  std::int64_t entries() const { return src.dim(0); }
  std::int64_t features() const {
    std::int64_t features = 1;
    for (std::size_t d = 1; d < src.rank(); ++d) features *= src.dim(d);
    return features;
  }
};

SegmentInputs segment_inputs(const OrtApi& api, OrtKernelContext* context) {
  SegmentInputs in{input(api, context, 0), input(api, context, 1), 0};
  if (in.src.rank() < 1) {
    throw ArgumentError("input 'src' has shape " + shape_string(in.src.shape) +
                        ", expected [E, *F] (rank >= 1)");
  }
  const std::int64_t entries = in.entries();
  if (in.index.rank() != 1 || in.index.dim(0) != entries) {
    throw ArgumentError("input 'index' has shape " + shape_string(in.index.shape) +
                        ", expected [E] = [" + std::to_string(entries) +
                        "] (E from input 'src' of shape " + shape_string(in.src.shape) + ")");
  }
  in.rows = rows_value(input(api, context, 2));
  check_range(in.index.int64s(), entries, in.rows, "index",
              [&] { return "rows = " + std::to_string(in.rows); });
  return in;
}

struct SegmentReduceKernel {
  const OrtApi& api;
  Reduce reduce;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "SegmentReduce", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const SegmentInputs in = segment_inputs(api, context);
    std::vector<std::int64_t> out_shape = in.src.shape;
    out_shape[0] = in.rows;
    float* out = output(api, context, 0, out_shape);
    if (in.rows == 0 || in.features() == 0) return;

    const Rows grouped = group_by_row(in.index.int64s(), in.entries(), in.rows);
    run_rows(api, context,
             {reduce, Messages::src_rows, &grouped, in.features(), in.src.floats(), nullptr,
              nullptr, out},
             in.rows);
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

bool activation_attribute(const OrtApi& api, const OrtKernelInfo* info,
                          const char* fallback = nullptr) {
  const std::string value = string_attribute(api, info, "activation", "relu, identity", fallback);
  if (value == "relu") return true;
  if (value == "identity") return false;
  throw ArgumentError("attribute activation = '" + value + "' is not one of relu, identity");
}

// ---------------------------------------------------------------------------------------
// GatherSegmentReduce(values [M, *F], source [E], index [E], rows, weight [E, *W] optional,
//                     addend [E, *F] optional) -> out [rows, *F]:
// SegmentReduce(act(Gather(values, source) [* weight] [+ addend]), index, rows) without the
// gathered [E, *F] tensor.

struct GatherSegmentReduceKernel {
  const OrtApi& api;
  Reduce reduce;
  bool relu;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "GatherSegmentReduce", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const Input values = input(api, context, 0);
    const Input source = input(api, context, 1);
    const Input index = input(api, context, 2);
    const Input rows_input = input(api, context, 3);
    const std::optional<Input> weight = optional_input(api, context, 4);
    const std::optional<Input> addend = optional_input(api, context, 5);
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
    // weight [E] or [E, *W], W the leading feature dimensions of values ([M, *W, *C])
    std::int64_t weight_width = 1;
    if (weight) {
      bool fits = weight->rank() >= 1 && weight->dim(0) == entries &&
                  weight->rank() <= values.rank();
      for (std::size_t d = 1; fits && d < weight->rank(); ++d) {
        fits = weight->dim(d) == values.dim(d);
        weight_width *= weight->dim(d);
      }
      if (!fits) {
        throw ArgumentError("input 'weight' has shape " + shape_string(weight->shape) +
                            ", expected [E] or [E, *W] with E = " + std::to_string(entries) +
                            " (from input 'source') and W leading dimensions of the features "
                            "of input 'values' of shape " + shape_string(values.shape));
      }
    }
    if (relu && !addend) {
      throw ArgumentError("attribute activation = 'relu' needs input 'addend' (the per-entry "
                          "term the rows are added to)");
    }
    if (addend) {
      std::vector<std::int64_t> expected = values.shape;
      expected[0] = entries;
      if (weight) {
        throw ArgumentError("inputs 'weight' and 'addend' cannot be given together");
      }
      if (addend->shape != expected) {
        throw ArgumentError("input 'addend' has shape " + shape_string(addend->shape) +
                            ", expected [E, *F] = " + shape_string(expected) +
                            " (E from input 'source', F from input 'values')");
      }
    }
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
             {reduce, messages(weight.has_value(), addend.has_value()), &grouped, features,
              values.floats(), nullptr, source.int64s(), out, weight ? weight->floats() : nullptr,
              weight_width, addend ? addend->floats() : nullptr},
             rows);
  }

  Messages messages(bool weighted, bool added) const {
    if (added) return relu ? Messages::gathered_plus_edge_relu : Messages::gathered_plus_edge;
    return weighted ? Messages::gathered_weighted : Messages::gathered;
  }
};

struct GatherSegmentReduceOp
    : Ort::CustomOpBase<GatherSegmentReduceOp, GatherSegmentReduceKernel, true> {
  GatherSegmentReduceOp() { OrtCustomOp::version = kOrtApiVersion; }

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return guarded(api, "GatherSegmentReduce", [&] {
      const Reduce reduce = reduce_attribute(api, info, true);
      *kernel = new GatherSegmentReduceKernel{api, reduce,
                                              activation_attribute(api, info, "identity")};
    });
  }
  const char* GetName() const { return "GatherSegmentReduce"; }
  std::size_t GetInputTypeCount() const { return 6; }
  ONNXTensorElementDataType GetInputType(std::size_t index) const {
    return index == 0 || index >= 4 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT
                                    : ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(std::size_t index) const {
    return index >= 4 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
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

// ---------------------------------------------------------------------------------------
// SegmentSoftmax(src [E, *F], index [E], rows) -> out [E, *F]: torch_geometric's softmax,
// exp(src - max) / (sum exp(src - max) + 1e-16) over the entries of each row, per feature.

// exp(x) for x <= 0 (softmax's src - max) within 2 ulp of std::exp (Cephes' expf: Cody-Waite
// reduction by ln 2, degree-6 polynomial); exactly 1 at 0, 0 below -87.5 (where std::exp
// gives subnormals, below 1e-38) and for -inf, NaN for NaN. Written without calls or branches
// so that the loops vectorise: std::exp, a libm call per element, made SegmentSoftmax 7x slower.
E2E_GNN_OPS_INLINE float exp_nonpositive(float x) {
  const bool underflow = (x < -87.5f) | (x != x);
  const float clamped = underflow ? -87.5f : x;
  const float n = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x/ln 2)
  const float r = (clamped - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;  // 2^n, n >= -126
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float result = p * scale;
  return underflow ? (x != x ? x : 0.0f) : result;
}

// The softmax of one row's entries: max, then the sum of the exponentials in entry order, then
// each entry.
E2E_GNN_OPS_CLONES void softmax_rows(const Rows& grouped, const float* src, std::int64_t features,
                                     float* out, std::int64_t first, std::int64_t last) {
  float max[kChunk];
  float sum[kChunk];
  for (std::int64_t r = first; r < last; ++r) {
    const std::int64_t* begin = grouped.edges.data() + grouped.offsets[r];
    const std::int64_t* end = begin + grouped.count(r);
    if (begin == end) continue;
    for (std::int64_t f0 = 0; f0 < features; f0 += kChunk) {
      const std::int64_t width = std::min(kChunk, features - f0);
      std::copy_n(src + *begin * features + f0, width, max);
      for (const std::int64_t* e = begin + 1; e != end; ++e) {
        const float* __restrict v = src + *e * features + f0;
        for (std::int64_t f = 0; f < width; ++f) {
          max[f] = ((v[f] > max[f]) | (v[f] != v[f])) ? v[f] : max[f];
        }
      }
      std::fill(sum, sum + width, 0.0f);
      for (const std::int64_t* e = begin; e != end; ++e) {
        const float* __restrict v = src + *e * features + f0;
        float* __restrict o = out + *e * features + f0;
        for (std::int64_t f = 0; f < width; ++f) {
          o[f] = exp_nonpositive(v[f] - max[f]);
          sum[f] += o[f];
        }
      }
      for (std::int64_t f = 0; f < width; ++f) {
        max[f] = sum[f] + 1e-16f;  // now the divisor
      }
      for (const std::int64_t* e = begin; e != end; ++e) {
        float* __restrict o = out + *e * features + f0;
        for (std::int64_t f = 0; f < width; ++f) o[f] /= max[f];
      }
    }
  }
}

struct SegmentSoftmaxKernel {
  const OrtApi& api;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "SegmentSoftmax", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const SegmentInputs in = segment_inputs(api, context);
    float* out = output(api, context, 0, in.src.shape);
    const std::int64_t entries = in.entries(), features = in.features();
    if (entries == 0 || features == 0) return;

    const Rows grouped = group_by_row(in.index.int64s(), entries, in.rows);
    parallel_blocks(api, context, in.rows, 3 * entries * features,
                    [&](std::int64_t first, std::int64_t last) {
                      softmax_rows(grouped, in.src.floats(), features, out, first, last);
                    });
  }
};

struct SegmentSoftmaxOp : Ort::CustomOpBase<SegmentSoftmaxOp, SegmentSoftmaxKernel, true> {
  SegmentSoftmaxOp() { OrtCustomOp::version = kOrtApiVersion; }

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo*, void** kernel) const {
    return guarded(api, "SegmentSoftmax", [&] { *kernel = new SegmentSoftmaxKernel{api}; });
  }
  const char* GetName() const { return "SegmentSoftmax"; }
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
// EdgeScore(node_i [N, H, C], node_j [M, H, C], source [E], target [E], weight [H, C] optional)
//     -> score [E, H], per head h:
//   score = dot:         sum_c node_i[target[e], h, c] * node_j[source[e], h, c]
//   score = leaky_relu:  sum_c weight[h, c] * leaky_relu(node_i[target[e], h, c] +
//                                                         node_j[source[e], h, c])
// (TransformerConv's and GATv2Conv's attention scores) without the gathered [E, H, C] tensors.

enum class Score { dot, leaky_relu };

struct ScoreTask {
  Score score;
  float negative_slope;
  const float* node_i;
  const float* node_j;
  const float* weight;  // leaky_relu only
  const std::int64_t* source;
  const Rows* by_target;
  std::int64_t heads;
  std::int64_t channels;
  float* out;
};

// The terms of one head summed in 16 float lanes (c modulo 16), added in order at the end (as
// ONNX Runtime's ReduceSum, in float): the inner loop vectorises, and the result does not
// depend on the instruction set.
template <Score kScore>
E2E_GNN_OPS_INLINE float head_score(const float* __restrict a, const float* __restrict b,
                                    const float* __restrict w, std::int64_t channels,
                                    float slope) {
  constexpr std::int64_t kLanes = 16;
  float lanes[kLanes] = {};
  const auto term = [&](std::int64_t c) {
    if constexpr (kScore == Score::dot) {
      return a[c] * b[c];
    } else {
      const float x = a[c] + b[c];
      return w[c] * (x < 0.0f ? x * slope : x);  // keeps NaN, like torch's leaky_relu
    }
  };
  std::int64_t c = 0;
  for (; c + kLanes <= channels; c += kLanes) {
    for (std::int64_t l = 0; l < kLanes; ++l) lanes[l] += term(c + l);
  }
  for (std::int64_t l = 0; c + l < channels; ++l) lanes[l] += term(c + l);
  float total = 0.0f;
  for (float lane : lanes) total += lane;
  return total;
}

// The edges of targets [first, last), target by target: node_i's row stays in cache while the
// target's edges read their node_j rows.
template <Score kScore>
E2E_GNN_OPS_INLINE void score_edges(const ScoreTask& t, std::int64_t first, std::int64_t last) {
  const std::int64_t width = t.heads * t.channels;
  for (std::int64_t i = first; i < last; ++i) {
    const float* a = t.node_i + i * width;
    const std::int64_t* begin = t.by_target->edges.data() + t.by_target->offsets[i];
    for (const std::int64_t* e = begin; e != begin + t.by_target->count(i); ++e) {
      const float* b = t.node_j + t.source[*e] * width;
      for (std::int64_t h = 0; h < t.heads; ++h) {
        const std::int64_t at = h * t.channels;
        t.out[*e * t.heads + h] = head_score<kScore>(
            a + at, b + at, t.weight ? t.weight + at : nullptr, t.channels, t.negative_slope);
      }
    }
  }
}

E2E_GNN_OPS_CLONES void score_edges(const ScoreTask& task, std::int64_t first, std::int64_t last) {
  if (task.score == Score::dot) {
    score_edges<Score::dot>(task, first, last);
  } else {
    score_edges<Score::leaky_relu>(task, first, last);
  }
}

struct EdgeScoreKernel {
  const OrtApi& api;
  Score score;
  float negative_slope;

  OrtStatus* ComputeV2(OrtKernelContext* context) const {
    return guarded(api, "EdgeScore", [&] { compute(context); });
  }

  void compute(OrtKernelContext* context) const {
    const Input node_i = input(api, context, 0);
    const Input node_j = input(api, context, 1);
    const Input source = input(api, context, 2);
    const Input target = input(api, context, 3);
    const std::optional<Input> weight = optional_input(api, context, 4);
    if (node_i.rank() != 3) {
      throw ArgumentError("input 'node_i' has shape " + shape_string(node_i.shape) +
                          ", expected [N, H, C]");
    }
    const std::int64_t heads = node_i.dim(1);
    const std::int64_t channels = node_i.dim(2);
    const std::string heads_channels =
        "[" + std::to_string(heads) + ", " + std::to_string(channels) + "]";
    if (node_j.rank() != 3 || node_j.dim(1) != heads || node_j.dim(2) != channels) {
      throw ArgumentError("input 'node_j' has shape " + shape_string(node_j.shape) +
                          ", expected [M, H, C] with [H, C] = " + heads_channels +
                          " (from input 'node_i')");
    }
    if (score == Score::leaky_relu &&
        (!weight || weight->rank() != 2 || weight->dim(0) != heads || weight->dim(1) != channels)) {
      throw ArgumentError("score = 'leaky_relu' needs input 'weight' of shape [H, C] = " +
                          heads_channels + (weight ? ", got " + shape_string(weight->shape)
                                                   : std::string(", got none")));
    }
    if (score == Score::dot && weight) {
      throw ArgumentError("score = 'dot' takes no input 'weight' (got one of shape " +
                          shape_string(weight->shape) + ")");
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
    check_range(source.int64s(), edges, node_j.dim(0), "source",
                [&] { return "node_j has " + std::to_string(node_j.dim(0)) + " rows"; });
    check_range(target.int64s(), edges, node_i.dim(0), "target",
                [&] { return "node_i has " + std::to_string(node_i.dim(0)) + " rows"; });

    float* out = output(api, context, 0, {edges, heads});
    if (edges == 0 || heads == 0) return;
    const std::int64_t nodes = node_i.dim(0);
    const Rows by_target = group_by_row(target.int64s(), edges, nodes);
    const ScoreTask task{score,         negative_slope, node_i.floats(),
                         node_j.floats(), weight ? weight->floats() : nullptr,
                         source.int64s(), &by_target, heads, channels, out};
    parallel_blocks(api, context, nodes, 2 * edges * heads * channels,
                    [&task](std::int64_t first, std::int64_t last) {
                      score_edges(task, first, last);
                    });
  }
};

Score score_attribute(const OrtApi& api, const OrtKernelInfo* info) {
  const std::string value = string_attribute(api, info, "score", "dot, leaky_relu");
  if (value == "dot") return Score::dot;
  if (value == "leaky_relu") return Score::leaky_relu;
  throw ArgumentError("attribute score = '" + value + "' is not one of dot, leaky_relu");
}

// The float attribute `name`, or `fallback` when the node has none.
float float_attribute(const OrtApi& api, const OrtKernelInfo* info, const char* name,
                      float fallback) {
  float value = fallback;
  if (OrtStatus* status = api.KernelInfoGetAttribute_float(info, name, &value)) {
    api.ReleaseStatus(status);
    return fallback;
  }
  return value;
}

struct EdgeScoreOp : Ort::CustomOpBase<EdgeScoreOp, EdgeScoreKernel, true> {
  EdgeScoreOp() { OrtCustomOp::version = kOrtApiVersion; }

  OrtStatus* CreateKernelV2(const OrtApi& api, const OrtKernelInfo* info, void** kernel) const {
    return guarded(api, "EdgeScore", [&] {
      const Score score = score_attribute(api, info);
      *kernel = new EdgeScoreKernel{api, score, float_attribute(api, info, "negative_slope", 0.2f)};
    });
  }
  const char* GetName() const { return "EdgeScore"; }
  std::size_t GetInputTypeCount() const { return 5; }
  ONNXTensorElementDataType GetInputType(std::size_t index) const {
    return index == 2 || index == 3 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64
                                    : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
  OrtCustomOpInputOutputCharacteristic GetInputCharacteristic(std::size_t index) const {
    return index == 4 ? INPUT_OUTPUT_OPTIONAL : INPUT_OUTPUT_REQUIRED;
  }
  std::size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(std::size_t) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
};

}  // namespace

OrtStatus* add_ops(const OrtApi& api, OrtCustomOpDomain* domain) {
  static SegmentReduceOp segment_reduce;
  static EdgeAggregateOp edge_aggregate;
  static GatherSegmentReduceOp gather_segment_reduce;
  static SegmentSoftmaxOp segment_softmax;
  static EdgeScoreOp edge_score;
  for (OrtCustomOp* op : std::initializer_list<OrtCustomOp*>{
           &segment_reduce, &edge_aggregate, &gather_segment_reduce, &segment_softmax,
           &edge_score}) {
    if (OrtStatus* status = api.CustomOpDomain_Add(domain, op)) return status;
  }
  return nullptr;
}

}  // namespace e2e_gnn::ops
