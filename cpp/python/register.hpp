// One register_<concept> function per binding file; module.cpp calls them all.
#pragma once

#include <pybind11/pybind11.h>

void register_session(pybind11::module_& m);
void register_graphs(pybind11::module_& m);
void register_runtime(pybind11::module_& m);
void register_detector(pybind11::module_& m);
