// Bindings of the graph builders: e2e_gnn._native.knn_graph, threshold_graph, delaunay_graph.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "e2e_gnn/delaunay.hpp"
#include "e2e_gnn/knn.hpp"
#include "e2e_gnn/point_batch.hpp"
#include "e2e_gnn/threshold_edges.hpp"
#include "numpy_views.hpp"
#include "register.hpp"

namespace py = pybind11;

namespace {

// Checks dtype, rank and layout without copying: silent casts would change distances and ties.
template <class T>
py::array_t<T> checked(const py::array& a, const char* name, py::ssize_t ndim,
                       const char* dtype_name) {
  if (!e2e_gnn::python::is_dtype<T>(a.dtype())) {
    throw py::type_error(std::string(name) + " must have dtype " + dtype_name + ", got " +
                         std::string(py::str(a.dtype())));
  }
  if (a.ndim() != ndim) {
    throw py::value_error(std::string(name) + " must have " + std::to_string(ndim) +
                          " dimensions, got " + std::to_string(a.ndim()));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw py::value_error(std::string(name) + " must be C-contiguous");
  }
  return py::array_t<T>(a);
}

e2e_gnn::PointBatch point_batch(const py::array_t<float>& pos,
                                const py::array_t<std::int64_t>& ptr) {
  if (ptr.shape(0) < 1) {
    throw py::value_error("ptr must have at least one entry (num_graphs + 1), got 0");
  }
  e2e_gnn::PointBatch points;
  points.pos = pos.data();
  points.num_nodes = static_cast<std::size_t>(pos.shape(0));
  points.dim = static_cast<std::size_t>(pos.shape(1));
  points.ptr = ptr.data();
  points.num_graphs = static_cast<std::size_t>(ptr.shape(0) - 1);
  return points;
}

e2e_gnn::Periodicity periodicity(int periodic, double period) {
  e2e_gnn::Periodicity p;
  p.dim = periodic;
  p.period = period;
  return p;
}

// Hands the vector to NumPy without a copy.
template <class T>
py::array_t<T> to_array(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(std::move(shape), owned->data(), owner);
}

py::array_t<std::int64_t> to_edge_index(e2e_gnn::EdgeIndex&& edges) {
  const auto num_edges = static_cast<py::ssize_t>(edges.num_edges());
  return to_array(std::move(edges.data), {2, num_edges});
}

py::array_t<std::int64_t> knn_graph(const py::array& pos_in, const py::array& ptr_in,
                                    std::int64_t k, bool loop, int periodic, double period,
                                    int threads) {
  const auto pos = checked<float>(pos_in, "pos", 2, "float32");
  const auto ptr = checked<std::int64_t>(ptr_in, "ptr", 1, "int64");
  const e2e_gnn::PointBatch points = point_batch(pos, ptr);
  e2e_gnn::KnnOptions options;
  options.k = k;
  options.loop = loop;
  options.periodic = periodicity(periodic, period);
  options.threads = threads;
  e2e_gnn::EdgeIndex edges;
  {
    py::gil_scoped_release release;
    edges = e2e_gnn::knn_graph(points, options);
  }
  return to_edge_index(std::move(edges));
}

py::tuple threshold_graph(const py::array& pos_in, const py::array& layer_in,
                          const py::array& ptr_in, double same_layer, double adjacent_layer,
                          bool loop, int periodic, double period) {
  const auto pos = checked<float>(pos_in, "pos", 2, "float32");
  const auto layer = checked<std::int64_t>(layer_in, "layer", 1, "int64");
  const auto ptr = checked<std::int64_t>(ptr_in, "ptr", 1, "int64");
  if (layer.shape(0) != pos.shape(0)) {
    throw py::value_error("layer has " + std::to_string(layer.shape(0)) +
                          " entries, expected one per node of pos (" +
                          std::to_string(pos.shape(0)) + ")");
  }
  const e2e_gnn::PointBatch points = point_batch(pos, ptr);
  e2e_gnn::ThresholdOptions options;
  options.same_layer = same_layer;
  options.adjacent_layer = adjacent_layer;
  options.loop = loop;
  options.periodic = periodicity(periodic, period);
  e2e_gnn::WeightedEdges result;
  {
    py::gil_scoped_release release;
    result = e2e_gnn::threshold_graph(points, layer.data(), options);
  }
  const auto num_edges = static_cast<py::ssize_t>(result.distance.size());
  return py::make_tuple(to_edge_index(std::move(result.edges)),
                        to_array(std::move(result.distance), {num_edges, 1}));
}

py::array_t<std::int64_t> delaunay_graph(const py::array& pos_in, const py::array& ptr_in) {
  const auto pos = checked<float>(pos_in, "pos", 2, "float32");
  const auto ptr = checked<std::int64_t>(ptr_in, "ptr", 1, "int64");
  const e2e_gnn::PointBatch points = point_batch(pos, ptr);
  e2e_gnn::EdgeIndex edges;
  {
    py::gil_scoped_release release;
    edges = e2e_gnn::delaunay_graph(points);
  }
  return to_edge_index(std::move(edges));
}

}  // namespace

void register_graphs(py::module_& m) {
  m.def("knn_graph", &knn_graph, py::arg("pos"), py::arg("ptr"), py::arg("k"),
        py::arg("loop") = false, py::arg("periodic") = -1,
        py::arg("period") = 6.283185307179586, py::arg("threads") = 1,
        "kNN edges of every graph of a ragged batch: edge_index int64 [2, E], target-sorted, "
        "exactly min(k, n - 1) (min(k, n) with loop) edges per node. periodic < 0: none.");
  m.def("threshold_graph", &threshold_graph, py::arg("pos"), py::arg("layer"), py::arg("ptr"),
        py::arg("same_layer"), py::arg("adjacent_layer"), py::arg("loop") = false,
        py::arg("periodic") = -1, py::arg("period") = 6.283185307179586,
        "Layered distance-threshold edges: (edge_index int64 [2, E], distance float32 [E, 1]).");
  m.def("delaunay_graph", &delaunay_graph, py::arg("pos"), py::arg("ptr"),
        "Delaunay-triangulation edges in 2-D, both directions: edge_index int64 [2, E].");
}
