// Typed tensors crossing the e2e_gnn API: non-owning views for inputs (zero-copy into
// ONNX Runtime) and owning tensors for outputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace e2e_gnn {

enum class DType { float32, float64, int32, int64, uint8, bool_ };

std::string to_string(DType dtype);
std::size_t element_size(DType dtype);

// Product of the dimensions; throws std::invalid_argument on a negative dimension.
std::int64_t element_count(const std::vector<std::int64_t>& shape);
std::string shape_to_string(const std::vector<std::int64_t>& shape);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::float32; }
template <> constexpr DType dtype_of<double>() { return DType::float64; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::int32; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::int64; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::uint8; }

// A view of caller-owned memory, C-contiguous. The caller keeps the memory alive for the
// duration of the call that receives the view.
struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::float32;
  std::vector<std::int64_t> shape;

  template <typename T>
  static TensorView of(const T* data, std::vector<std::int64_t> shape) {
    return TensorView{data, dtype_of<T>(), std::move(shape)};
  }
  std::int64_t size() const { return element_count(shape); }
  template <typename T> const T* as() const { return static_cast<const T*>(data); }
};

// An owning, C-contiguous tensor (model outputs).
struct Tensor {
  DType dtype = DType::float32;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> bytes;

  std::int64_t size() const { return element_count(shape); }
  template <typename T> const T* as() const { return reinterpret_cast<const T*>(bytes.data()); }
  template <typename T> T* as() { return reinterpret_cast<T*>(bytes.data()); }
  TensorView view() const { return TensorView{bytes.data(), dtype, shape}; }
};

}  // namespace e2e_gnn
