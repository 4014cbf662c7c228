#include "register.hpp"

PYBIND11_MODULE(_native, m) {
  m.doc() = "e2e_gnn's C++ runtime (private: use the e2e_gnn Python API)";
  m.attr("__version__") = E2E_GNN_VERSION;
  register_session(m);
  register_graphs(m);
  register_runtime(m);
  register_detector(m);
}
