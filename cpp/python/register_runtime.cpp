// Bindings of the batching and the Tagger: e2e_gnn._native.Tagger and batch_graphs.
// Inputs are NumPy arrays read in place (zero-copy views, no silent casts); outputs are
// arrays that take over the C++ buffers. The GIL is released while C++ works.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <string>
#include <utility>
#include <vector>

#include "e2e_gnn/batching.hpp"
#include "e2e_gnn/spec_graphs.hpp"
#include "e2e_gnn/tagger.hpp"
#include "numpy_views.hpp"
#include "register.hpp"

namespace py = pybind11;
using namespace e2e_gnn;

namespace {

// A NodeBatch of x [N, F] float32, its graph offsets ptr [G + 1] and, unless None, its
// graph features u [G, F_u] float32: every argument is checked (by the NodeBatch) before a
// row is copied.
NodeBatch node_batch(const py::array& x_in, const py::array& ptr_in,
                     const py::object& u_in = py::none()) {
  const TensorView x = python::view_of(x_in, "x");
  const TensorView ptr = python::view_of(ptr_in, "ptr");
  if (x.dtype != DType::float32 || x.shape.size() != 2) {
    throw py::value_error("input 'x' must be float32 [N, F], got " + to_string(x.dtype) + " " +
                          shape_to_string(x.shape));
  }
  if (ptr.dtype != DType::int64 || ptr.shape.size() != 1 || ptr.shape[0] < 1) {
    throw py::value_error("input 'ptr' must be int64 [G + 1] with G >= 0, got " +
                          to_string(ptr.dtype) + " " + shape_to_string(ptr.shape));
  }
  NodeBatch nodes(x.shape[1], x.as<float>(), x.size(), ptr.as<std::int64_t>(), ptr.shape[0]);
  if (!u_in.is_none()) {
    const auto u_array = u_in.cast<py::array>();
    const TensorView u = python::view_of(u_array, "u");
    if (u.dtype != DType::float32 || u.shape.size() != 2 || u.shape[0] != nodes.num_graphs()) {
      throw py::value_error("input 'u' must be float32 [G, F_u] with G = " +
                            std::to_string(nodes.num_graphs()) + " graphs, got " +
                            to_string(u.dtype) + " " + shape_to_string(u.shape));
    }
    nodes.set_graph_features(u.as<float>(), u.size(), u.shape[1]);
  }
  return nodes;
}

py::tuple graph_arrays(GraphBatch&& graphs) {
  // No copy: the arrays view the batch's buffers, and a capsule owns the batch.
  auto* owned = new GraphBatch(std::move(graphs));
  py::capsule owner(owned, [](void* p) { delete static_cast<GraphBatch*>(p); });
  auto array = [&](const TensorView& view) {
    std::vector<py::ssize_t> shape(view.shape.begin(), view.shape.end());
    if (view.dtype == DType::float32) {
      return py::array(py::dtype::of<float>(), shape, view.data, owner);
    }
    return py::array(py::dtype::of<std::int64_t>(), shape, view.data, owner);
  };
  return py::make_tuple(array(owned->x()), array(owned->edge_index()), array(owned->batch()));
}

py::tuple batch_graphs(const py::list& graphs) {
  std::vector<std::pair<py::array, py::array>> arrays;
  std::int64_t width = -1;
  for (std::size_t g = 0; g < graphs.size(); ++g) {
    const py::handle item = graphs[g];
    if (!py::isinstance<py::tuple>(item) && !py::isinstance<py::list>(item)) {
      throw py::type_error("graph " + std::to_string(g) + " must be a pair (x, edge_index), got " +
                           std::string(py::str(py::type::of(item).attr("__name__"))));
    }
    auto pair = item.cast<py::tuple>();
    if (pair.size() != 2) {
      throw py::value_error("graph " + std::to_string(g) + " must be a pair (x, edge_index)");
    }
    arrays.emplace_back(pair[0].cast<py::array>(), pair[1].cast<py::array>());
    const TensorView x = python::view_of(arrays.back().first, "x");
    if (x.dtype != DType::float32 || x.shape.size() != 2) {
      throw py::value_error("graph " + std::to_string(g) + ": 'x' must be float32 [n, F], got " +
                            to_string(x.dtype) + " " + shape_to_string(x.shape));
    }
    if (width >= 0 && x.shape[1] != width) {
      throw py::value_error("graph " + std::to_string(g) + " has " + std::to_string(x.shape[1]) +
                            " features per node, graph 0 has " + std::to_string(width));
    }
    width = x.shape[1];
  }
  if (arrays.empty()) throw py::value_error("batch_graphs needs at least one graph");
  GraphBatch batch(width);
  for (std::size_t g = 0; g < arrays.size(); ++g) {
    const TensorView x = python::view_of(arrays[g].first, "x");
    const TensorView edges = python::view_of(arrays[g].second, "edge_index");
    if (edges.dtype != DType::int64 || edges.shape.size() != 2 || edges.shape[0] != 2) {
      throw py::value_error("graph " + std::to_string(g) + ": 'edge_index' must be int64 " +
                            "[2, e], got " + to_string(edges.dtype) + " " +
                            shape_to_string(edges.shape));
    }
    batch.add(x.as<float>(), x.shape[0], edges.as<std::int64_t>(), edges.shape[1]);
  }
  return graph_arrays(std::move(batch));
}

py::dict outputs_dict(const Tagger& tagger, std::vector<Tensor>&& outputs) {
  py::dict result;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    result[py::str(tagger.session().outputs()[i].name)] = python::to_numpy(std::move(outputs[i]));
  }
  return result;
}

}  // namespace

void register_runtime(py::module_& m) {
  m.attr("SPEC_FORMAT") = kSpecFormat;

  m.def("batch_graphs", &batch_graphs, py::arg("graphs"),
        "Concatenate (x [n, F] float32, edge_index [2, e] int64) graphs with offset indices "
        "(C++ GraphBatch): returns (x, edge_index, batch).");

  py::class_<GraphSpec>(m, "GraphSpec",
                        "A graph spec read once by the C++ spec reader, for graphs_from_spec "
                        "calls that would otherwise read the same JSON on every call.")
      .def_static(
          "from_json", [](const std::string& text) { return GraphSpec::from_json(text); },
          py::arg("text"), "The graph spec of JSON text (of GraphSpec); raises SpecError.");

  const auto graphs_from_spec = [](const GraphSpec& spec, const py::array& x,
                                   const py::array& ptr, int threads) {
    const NodeBatch nodes = node_batch(x, ptr);
    GraphBatch graphs = [&] {
      py::gil_scoped_release release;
      return build_graphs(spec, nodes, threads);
    }();
    return graph_arrays(std::move(graphs));
  };
  const char* graphs_from_spec_doc =
      "The graphs a graph spec (a GraphSpec, or the JSON of one) builds from raw node features "
      "x [N, F] (graph g: rows ptr[g]:ptr[g+1]): (x, edge_index, batch), as the C++ Tagger "
      "builds them ('knn', 'delaunay' in (eta, phi) with phi wrapping around, 'threshold' by "
      "layer, or 'none').";
  m.def("graphs_from_spec", graphs_from_spec, py::arg("graph_spec"), py::arg("x"), py::arg("ptr"),
        py::arg("threads") = 1, graphs_from_spec_doc);
  m.def(
      "graphs_from_spec",
      [graphs_from_spec](const std::string& graph_spec_json, const py::array& x,
                         const py::array& ptr, int threads) {
        return graphs_from_spec(GraphSpec::from_json(graph_spec_json), x, ptr, threads);
      },
      py::arg("graph_spec_json"), py::arg("x"), py::arg("ptr"), py::arg("threads") = 1,
      graphs_from_spec_doc);
  py::class_<Tagger>(m, "Tagger")
      .def(py::init([](const std::string& model_path, const SessionOptions& session,
                       int knn_threads) {
             TaggerOptions options;
             options.session = session;
             options.knn_threads = knn_threads;
             std::unique_ptr<Tagger> tagger;
             {
               py::gil_scoped_release release;
               tagger = std::make_unique<Tagger>(model_path, options);
             }
             python::warn(tagger->session().notes());
             return tagger;
           }),
           py::arg("model_path"), py::arg("options") = SessionOptions{},
           py::arg("knn_threads") = 1)
      .def_property_readonly("session", &Tagger::session, py::return_value_policy::reference_internal)
      .def_property_readonly("is_graph_model", &Tagger::is_graph_model)
      .def_property_readonly("num_features", &Tagger::num_features)
      .def_property_readonly("spec_version", [](const Tagger& t) { return t.spec().version; })
      .def_property_readonly("checksum", [](const Tagger& t) { return t.spec().checksum; })
      .def(
          "run",
          [](const Tagger& tagger, const py::array& x, const py::array& edge_index,
             const py::array& batch, const py::object& u) {
            const TensorView xv = python::view_of(x, "x");
            const TensorView ev = python::view_of(edge_index, "edge_index");
            const TensorView bv = python::view_of(batch, "batch");
            py::array u_array;
            if (!u.is_none()) u_array = u.cast<py::array>();
            const TensorView uv = u.is_none() ? TensorView{} : python::view_of(u_array, "u");
            std::vector<Tensor> outputs;
            {
              py::gil_scoped_release release;
              outputs = u.is_none() ? tagger.run(xv, ev, bv) : tagger.run(xv, ev, bv, uv);
            }
            return outputs_dict(tagger, std::move(outputs));
          },
          py::arg("x"), py::arg("edge_index"), py::arg("batch"), py::arg("u") = py::none(),
          "Every output for a validated graph batch (and its graph features u [G, F_u] for a "
          "model that reads them), flat, as a dict (zero-copy inputs).")
      .def_property_readonly(
          "per_node",
          [](const Tagger& tagger) {
            py::dict levels;
            for (std::size_t i = 0; i < tagger.session().outputs().size(); ++i) {
              levels[py::str(tagger.session().outputs()[i].name)] = tagger.per_node(i);
            }
            return levels;
          },
          "{output name: True when its spec gives it one row per node}.")
      .def(
          "tag_nodes",
          [](const Tagger& tagger, const py::array& x, const py::array& ptr, const py::object& u) {
            NodeBatch nodes = node_batch(x, ptr, u);
            Tensor scores;
            {
              py::gil_scoped_release release;
              scores = tagger.tag(nodes);
            }
            return python::to_numpy(std::move(scores));
          },
          py::arg("x"), py::arg("ptr"), py::arg("u") = py::none(),
          "The primary output of raw node features x [N, F] (graph g: rows ptr[g]:ptr[g+1]) "
          "and graph features u [G, F_u] (models reading them), flat ([G, C] or [N, C]); "
          "builds the model's graphs in C++, then one inference call.")
      .def(
          "build_graphs",
          [](const Tagger& tagger, const py::array& x, const py::array& ptr) {
            const NodeBatch nodes = node_batch(x, ptr);
            GraphBatch graphs = [&] {
              py::gil_scoped_release release;
              return tagger.build_graphs(nodes);
            }();
            return graph_arrays(std::move(graphs));
          },
          py::arg("x"), py::arg("ptr"),
          "The model's graphs of raw node features: (x, edge_index, batch).")
      .def(
          "tag_frames",
          [](const Tagger& tagger, const py::array& frames) {
            const TensorView view = python::view_of(frames, "frames");
            Tensor scores;
            {
              py::gil_scoped_release release;
              scores = tagger.tag_frames(view);
            }
            return python::to_numpy(std::move(scores));
          },
          py::arg("frames"),
          "Scores [B, C] of a frame model's float32 [B, C, H, W] or [B, C, L, H, W] frames.")
      .def(
          "run_frames",
          [](const Tagger& tagger, const py::array& frames) {
            const TensorView view = python::view_of(frames, "frames");
            std::vector<Tensor> outputs;
            {
              py::gil_scoped_release release;
              outputs = tagger.run_frames(view);
            }
            return outputs_dict(tagger, std::move(outputs));
          },
          py::arg("frames"), "Every output of a frame model for validated frames, as a dict.");
}
