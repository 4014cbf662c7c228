// NumPy arrays <-> e2e_gnn tensors: zero-copy views for inputs, arrays for outputs;
// C++ notes -> Python warnings.
#pragma once

#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include "e2e_gnn/tensor.hpp"

namespace e2e_gnn::python {

// A view of `array`, which must stay alive while the view is used. The dtype is kept as
// it is (no silent casts: a float64 array stays float64 and is refused by validation).
TensorView view_of(const pybind11::array& array, const std::string& name);

pybind11::array to_numpy(Tensor&& tensor);

// Whether `dtype` is T's, in native byte order. Not `dtype.is(dtype::of<T>())`: an int64
// array may be numpy's long or long long, and an unpickled array has a dtype object of
// its own (an array sent to a worker process would be refused).
template <class T>
bool is_dtype(const pybind11::dtype& dtype) {
  return pybind11::detail::npy_api::get().PyArray_EquivTypes_(pybind11::dtype::of<T>().ptr(),
                                                                dtype.ptr());
}

// Raises each note (Session::notes()) as a Python RuntimeWarning; needs the GIL.
void warn(const std::vector<std::string>& notes);

}  // namespace e2e_gnn::python
