// Validation of the model inputs before inference: a ragged graph batch (the GraphBatch
// contract) and a batch of frames. Every path calls these (the Python Tagger through
// e2e_gnn._native). They read the inputs once and allocate nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn {

// Checks x float32 [N, F] (finite), edge_index int64 [2, E] with every index in [0, N),
// batch int64 [N] sorted with graph ids 0..G-1 and no graph left without nodes, and the
// graph features u (nullptr: none given) float32 [G, F_u], finite. `num_features` and
// `num_graph_features` are the model's (-1: any); a model with num_graph_features > 0
// needs u, one with 0 refuses it. Throws std::invalid_argument naming the input, the
// position and the bad value. Returns the number of graphs G.
std::int64_t check_graph_inputs(const TensorView& x, const TensorView& edge_index,
                                const TensorView& batch, std::int64_t num_features = -1,
                                const TensorView* u = nullptr,
                                std::int64_t num_graph_features = -1);

// Checks the layout fixed-degree models need (the kNN builders' layout): edges sorted by
// target, knn_degree(n, k, loop) edges into every node of a graph of n nodes. Assumes a
// batch check_graph_inputs accepted (checks dtypes and ranks again before reading).
void check_fixed_degree(const TensorView& edge_index, const TensorView& batch, std::int64_t k,
                        bool loop);

// Checks frames float32 [B, C, H, W] or layered [B, C, L, H, W] (B = 0 allowed), its item
// shape against `item_shape` (e.g. the spec's (C, H, W) or (C, L, H, W), which fixes the
// rank; empty: any of rank 4 or 5) and that every value is finite.
// Throws std::invalid_argument naming the input, the image and the position.
void check_frames(const TensorView& frames, const std::vector<std::int64_t>& item_shape = {});

}  // namespace e2e_gnn
