// e2e_gnn's custom ONNX Runtime operators, domain "ai.e2e_gnn" version 1 (float32):
//   SegmentReduce(src [E, *F], index [E], rows) -> out [rows, *F]      reduce: sum|mean|max|min
//   GatherSegmentReduce(values [M, *W, *C], source [E], index [E], rows[, weight [E, *W]]
//                       [, addend [E, *W, *C]]) -> out [rows, *W, *C]
//       (SegmentReduce of act(values[source] [* weight] [+ addend]))
//                          reduce: sum|mean|max|min, activation: identity (default)|relu
//   SegmentSoftmax(src [E, *F], index [E], rows) -> out [E, *F]   (softmax per row and feature)
//   EdgeScore(node_i [N, H, C], node_j [M, H, C], source [E], target [E][, weight [H, C]])
//       -> score [E, H]            score: dot|leaky_relu (negative_slope), attention scores
//   EdgeAggregate(node_i [N, F], node_j [M, F], source [E], target [E])
//       -> (out [N, F], degree [N])           activation: relu|identity, reduce: sum|mean|max
// Each output row reduces its entries in increasing edge order (a counting sort of the index,
// then rows in parallel), and each edge score its channels in a fixed order, so results do not
// depend on the number of intra-op threads.
//
// The same sources are compiled into libe2e_gnn_ops.so (RegisterCustomOps, for any ONNX
// Runtime user) and into libe2e_gnn (every e2e_gnn::Session adds the domain): the kernels only
// use the OrtApi that the calling ONNX Runtime hands them, never the C++ wrapper's global one.
#pragma once

#include <onnxruntime_c_api.h>

#include <cstdint>

namespace e2e_gnn::ops {

inline constexpr const char* kDomain = "ai.e2e_gnn";
// The oldest OrtApi with everything the kernels call (KernelContext_ParallelFor: 1.17).
inline constexpr std::uint32_t kOrtApiVersion = 17;

// Adds the five operators (static objects, alive for the whole process) to `domain`; returns
// ONNX Runtime's error, if any.
OrtStatus* add_ops(const OrtApi& api, OrtCustomOpDomain* domain);

}  // namespace e2e_gnn::ops
