// NumPy arrays <-> e2e_gnn tensors: zero-copy views for inputs, arrays for outputs.
#pragma once

#include <pybind11/numpy.h>

#include <string>

#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn::python {

// A view of `array`, which must stay alive while the view is used. The dtype is kept as
// it is (no silent casts: a float64 array stays float64 and is refused by validation).
TensorView view_of(const pybind11::array& array, const std::string& name);

pybind11::array to_numpy(Tensor&& tensor);

}  // namespace e2e_gnn::python
