#include "e2e_gnn/point_batch.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace e2e_gnn {

void PointBatch::validate() const {
  if (ptr == nullptr) {
    throw std::invalid_argument("ptr must not be null");
  }
  if (num_nodes > 0 && pos == nullptr) {
    throw std::invalid_argument("pos must not be null for " + std::to_string(num_nodes) +
                                " nodes");
  }
  if (dim == 0) {
    throw std::invalid_argument("pos must have at least one coordinate, got dim = 0");
  }
  if (ptr[0] != 0) {
    throw std::invalid_argument("ptr[0] = " + std::to_string(ptr[0]) + ", expected 0");
  }
  for (std::size_t g = 0; g < num_graphs; ++g) {
    if (ptr[g + 1] < ptr[g]) {
      throw std::invalid_argument("ptr must be non-decreasing: ptr[" + std::to_string(g + 1) +
                                  "] = " + std::to_string(ptr[g + 1]) + " < ptr[" +
                                  std::to_string(g) + "] = " + std::to_string(ptr[g]));
    }
  }
  if (static_cast<std::uint64_t>(ptr[num_graphs]) != num_nodes) {
    throw std::invalid_argument("ptr[" + std::to_string(num_graphs) +
                                "] = " + std::to_string(ptr[num_graphs]) + ", expected " +
                                std::to_string(num_nodes) + " (the number of nodes in pos)");
  }
  for (std::size_t i = 0; i < num_nodes * dim; ++i) {
    if (!std::isfinite(pos[i])) {
      throw std::invalid_argument("pos[" + std::to_string(i / dim) + "][" +
                                  std::to_string(i % dim) + "] = " + std::to_string(pos[i]) +
                                  " is not finite");
    }
  }
}

void Periodicity::validate(std::size_t num_dims) const {
  if (dim < 0) {
    return;
  }
  if (static_cast<std::size_t>(dim) >= num_dims) {
    throw std::invalid_argument("periodic = " + std::to_string(dim) +
                                " is out of range for positions with " +
                                std::to_string(num_dims) + " coordinates");
  }
  if (!(period > 0.0) || !std::isfinite(period)) {
    throw std::invalid_argument("period = " + std::to_string(period) +
                                " must be positive and finite");
  }
}

}  // namespace e2e_gnn
