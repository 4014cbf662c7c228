#include "numpy_views.hpp"

#include <stdexcept>

namespace py = pybind11;

namespace e2e_gnn::python {
namespace {

DType dtype_from_numpy(const py::dtype& dtype, const std::string& name) {
  if (is_dtype<float>(dtype)) return DType::float32;
  if (is_dtype<double>(dtype)) return DType::float64;
  if (is_dtype<std::int32_t>(dtype)) return DType::int32;
  if (is_dtype<std::int64_t>(dtype)) return DType::int64;
  if (is_dtype<std::uint8_t>(dtype)) return DType::uint8;
  if (is_dtype<bool>(dtype)) return DType::bool_;
  throw std::invalid_argument("input '" + name + "' has unsupported dtype " +
                              std::string(py::str(dtype)));
}

py::dtype dtype_to_numpy(DType dtype) {
  switch (dtype) {
    case DType::float32: return py::dtype::of<float>();
    case DType::float64: return py::dtype::of<double>();
    case DType::int32: return py::dtype::of<std::int32_t>();
    case DType::int64: return py::dtype::of<std::int64_t>();
    case DType::uint8: return py::dtype::of<std::uint8_t>();
    case DType::bool_: return py::dtype::of<bool>();
  }
  throw std::invalid_argument("unsupported dtype");
}

}  // namespace

TensorView view_of(const py::array& array, const std::string& name) {
  if (!(array.flags() & py::array::c_style)) {
    throw std::invalid_argument("input '" + name +
                                "' is not C-contiguous: pass numpy.ascontiguousarray(...)");
  }
  std::vector<std::int64_t> shape(array.shape(), array.shape() + array.ndim());
  return TensorView{array.data(), dtype_from_numpy(array.dtype(), name), std::move(shape)};
}

py::array to_numpy(Tensor&& tensor) {
  // The array takes ownership of the tensor's buffer: no copy of the output data.
  auto* owner = new Tensor(std::move(tensor));
  py::capsule free_when_done(owner, [](void* p) { delete static_cast<Tensor*>(p); });
  std::vector<py::ssize_t> shape(owner->shape.begin(), owner->shape.end());
  return py::array(dtype_to_numpy(owner->dtype), shape, owner->bytes.data(), free_when_done);
}

void warn(const std::vector<std::string>& notes) {
  for (const auto& note : notes) {
    if (PyErr_WarnEx(PyExc_RuntimeWarning, note.c_str(), 1) != 0) throw py::error_already_set();
  }
}

}  // namespace e2e_gnn::python
