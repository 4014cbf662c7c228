// Reads the reference arrays written by make_test_models.py (raw data + text shape).
#pragma once

#include <cstdint>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace e2e_gnn::testing {

// The message of the std::invalid_argument that `call` throws, or "no exception".
inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "no exception";
}

inline std::string data_path(const std::string& name) {
  return std::string(E2E_GNN_TEST_DATA) + "/" + name;
}

template <typename T>
struct Array {
  std::vector<T> values;
  std::vector<std::int64_t> shape;
};

template <typename T>
Array<T> read_array(const std::string& name) {
  Array<T> array;
  std::ifstream shape_file(data_path(name + ".shape"));
  if (!shape_file) throw std::runtime_error("missing " + data_path(name + ".shape") +
                                            ": run cpp/tests/make_test_models.py first");
  std::int64_t count = 1;
  for (std::int64_t dim; shape_file >> dim; count *= dim) array.shape.push_back(dim);
  array.values.resize(static_cast<std::size_t>(count));
  std::ifstream data(data_path(name + ".bin"), std::ios::binary);
  data.read(reinterpret_cast<char*>(array.values.data()),
            static_cast<std::streamsize>(count * sizeof(T)));
  if (!data) throw std::runtime_error("short read of " + data_path(name + ".bin"));
  return array;
}

}  // namespace e2e_gnn::testing
