#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "e2e_gnn/graph_check.hpp"
#include "e2e_gnn/model_spec.hpp"
#include "e2e_gnn/session.hpp"
#include "numpy_views.hpp"
#include "register.hpp"

namespace py = pybind11;
using namespace e2e_gnn;

namespace {

py::dict run_session(const Session& session, const py::dict& arrays) {
  std::vector<py::array> keep_alive;
  NamedInputs inputs;
  for (const auto& [key, value] : arrays) {
    auto name = py::cast<std::string>(key);
    if (!py::isinstance<py::array>(value)) {
      throw py::type_error("input '" + name + "' must be a numpy array, not " +
                           std::string(py::str(py::type::of(value).attr("__name__"))));
    }
    keep_alive.push_back(py::reinterpret_borrow<py::array>(value));
    inputs.emplace_back(name, python::view_of(keep_alive.back(), name));
  }
  std::vector<Tensor> outputs;
  {
    py::gil_scoped_release release;
    outputs = session.run(inputs);
  }
  py::dict result;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    result[py::str(session.outputs()[i].name)] = python::to_numpy(std::move(outputs[i]));
  }
  return result;
}

py::list describe(const std::vector<TensorInfo>& infos) {
  py::list result;
  for (const auto& info : infos) {
    result.append(py::make_tuple(info.name, to_string(info.dtype), info.shape));
  }
  return result;
}

}  // namespace

void register_session(py::module_& m) {
  // A C++ SpecError is Python's e2e_gnn.SpecError (a ValueError), the one the spec reader
  // of spec.py raises: the same exception type and message on every path.
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const SpecError& spec_error) {
      const py::object type = py::module_::import("e2e_gnn.spec").attr("SpecError");
      PyErr_SetString(type.ptr(), spec_error.what());
    }
  });
  py::enum_<Backend>(m, "Backend").value("cpu", Backend::cpu).value("cuda", Backend::cuda);

  py::class_<SessionOptions>(m, "SessionOptions")
      .def(py::init<>())
      .def_readwrite("intra_op_threads", &SessionOptions::intra_op_threads)
      .def_readwrite("inter_op_threads", &SessionOptions::inter_op_threads)
      .def_readwrite("graph_optimization_level", &SessionOptions::graph_optimization_level)
      .def_readwrite("backend", &SessionOptions::backend)
      .def_readwrite("cuda_device", &SessionOptions::cuda_device)
      .def_readwrite("verify_checksum", &SessionOptions::verify_checksum);

  py::class_<Session>(m, "Session")
      .def(py::init([](const std::string& model_path, const SessionOptions& options) {
             std::unique_ptr<Session> session;
             {
               py::gil_scoped_release release;
               session = std::make_unique<Session>(model_path, options);
             }
             python::warn(session->notes());
             return session;
           }),
           py::arg("model_path"), py::arg("options") = SessionOptions{})
      .def_property_readonly("notes", &Session::notes)
      .def_property_readonly("model_path", &Session::model_path)
      .def_property_readonly("backend", &Session::backend)
      .def_property_readonly("inputs", [](const Session& s) { return describe(s.inputs()); })
      .def_property_readonly("outputs", [](const Session& s) { return describe(s.outputs()); })
      .def_property_readonly("metadata", &Session::metadata)
      .def("run", &run_session, py::arg("inputs"),
           "Run the model on a dict of named numpy arrays; returns a dict of outputs.");

  m.def(
      "check_graph_inputs",
      [](const py::array& x, const py::array& edge_index, const py::array& batch,
         std::int64_t num_features, const py::object& u, std::int64_t num_graph_features) {
        py::array u_array;
        if (!u.is_none()) u_array = u.cast<py::array>();
        const TensorView uv = u.is_none() ? TensorView{} : python::view_of(u_array, "u");
        return check_graph_inputs(python::view_of(x, "x"), python::view_of(edge_index, "edge_index"),
                                  python::view_of(batch, "batch"), num_features,
                                  u.is_none() ? nullptr : &uv, num_graph_features);
      },
      py::arg("x"), py::arg("edge_index"), py::arg("batch"), py::arg("num_features") = -1,
      py::arg("u") = py::none(), py::arg("num_graph_features") = -1,
      "Validate a graph batch and its graph features u [G, F_u] (None: not given; "
      "num_graph_features -1: any width, 0: u refused, > 0: u required); returns the number "
      "of graphs or raises ValueError.");
  m.def(
      "check_fixed_degree",
      [](const py::array& edge_index, const py::array& batch, std::int64_t k, bool loop) {
        check_fixed_degree(python::view_of(edge_index, "edge_index"),
                           python::view_of(batch, "batch"), k, loop);
      },
      py::arg("edge_index"), py::arg("batch"), py::arg("k"), py::arg("loop"),
      "Check the fixed-degree kNN edge layout of a batch check_graph_inputs accepted; raises "
      "ValueError.");
  m.def(
      "check_frames",
      [](const py::array& frames, const py::object& item_shape) {
        std::vector<std::int64_t> shape;
        try {
          shape = item_shape.cast<std::vector<std::int64_t>>();
        } catch (const std::exception&) {  // py::cast_error, or len() of a 0-d array
          throw py::type_error("'item_shape' must be a sequence of integers, got " +
                               std::string(py::str(py::repr(item_shape))));
        }
        check_frames(python::view_of(frames, "frames"), shape);
      },
      py::arg("frames"), py::arg("item_shape") = py::tuple(),
      "Validate float32 frames [B, C, H, W] or [B, C, L, H, W] against the model's item "
      "shape; raises ValueError.");
  m.def(
      "check_spec",
      [](const std::map<std::string, std::string>& metadata, const std::string& source) {
        ModelSpec::from_metadata(metadata, source);
      },
      py::arg("metadata"), py::arg("source") = "model",
      "Check a model's e2e_gnn metadata (spec, format, version) as the C++ Tagger does; "
      "raises ValueError.");
  m.def(
      "check_spec_json",
      [](const std::string& text, const std::string& source) { ModelSpec::from_json(text, source); },
      py::arg("text"), py::arg("source") = "model",
      "Check the JSON of an e2e_gnn model spec; raises ValueError.");
  m.def(
      "intra_op_threads",
      [](int requested, const std::map<std::string, std::string>& metadata,
         const std::string& source) {
        std::string note;
        const int threads = intra_op_threads_for(requested, metadata, source, &note);
        return py::make_tuple(threads, note);
      },
      py::arg("requested"), py::arg("metadata"), py::arg("source") = "model",
      "(threads, note): the intra-op threads a model with this metadata runs with, and why "
      "when that is not `requested` (the thread rule of every path).");
}
