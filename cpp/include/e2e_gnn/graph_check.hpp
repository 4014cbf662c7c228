// Validation of a ragged graph batch (the GraphBatch contract) before inference.
#pragma once

#include <cstdint>

#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn {

// Checks x float32 [N, F] (finite), edge_index int64 [2, E] with every index in [0, N),
// batch int64 [N] sorted with graph ids 0..G-1 and no graph left without nodes.
// Throws std::invalid_argument naming the input, the position and the bad value.
// Returns the number of graphs G.
std::int64_t check_graph_inputs(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch, std::int64_t num_features = -1);

}  // namespace e2e_gnn
