# Finds the ONNX Runtime C/C++ headers and library and defines OnnxRuntime::OnnxRuntime.
#
# Headers, first match wins: ONNXRUNTIME_ROOT (variable or environment, <root>/include
# or <root>/include/onnxruntime), the system's /usr/include/onnxruntime (Debian 13,
# Ubuntu 24.04: libonnxruntime-dev), else Debian trixie's libonnxruntime-dev unpacked by
# scripts/fetch_deps.sh into E2E_GNN_DEPS_DIR.
# Library: <root>/lib when ONNXRUNTIME_ROOT is set, else the libonnxruntime.so.<version>
# that the onnxruntime Python wheel ships, so Python and C++ use the same ORT build.
# The wheel's library has SONAME libonnxruntime.so.1 but no file of that name, so a
# symlink of that name is made in the build tree for the linker and for ctest runs.

set(E2E_GNN_DEPS_DIR "${CMAKE_CURRENT_SOURCE_DIR}/.cache/deps" CACHE PATH
    "Where scripts/fetch_deps.sh unpacks the ONNX Runtime and doctest headers")
if(NOT ONNXRUNTIME_ROOT AND DEFINED ENV{ONNXRUNTIME_ROOT})
  set(ONNXRUNTIME_ROOT "$ENV{ONNXRUNTIME_ROOT}")
endif()

set(_ort_hint_dirs)
if(ONNXRUNTIME_ROOT)
  list(APPEND _ort_hint_dirs "${ONNXRUNTIME_ROOT}/include/onnxruntime" "${ONNXRUNTIME_ROOT}/include")
endif()
list(APPEND _ort_hint_dirs /usr/include/onnxruntime "${E2E_GNN_DEPS_DIR}/usr/include/onnxruntime")
find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_cxx_api.h PATHS ${_ort_hint_dirs} NO_DEFAULT_PATH)
if(NOT OnnxRuntime_INCLUDE_DIR)
  message(STATUS "ONNX Runtime headers not found: fetching Debian trixie's libonnxruntime-dev")
  execute_process(
    COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/scripts/fetch_deps.sh" "${E2E_GNN_DEPS_DIR}"
    RESULT_VARIABLE _fetch_result)
  if(NOT _fetch_result EQUAL 0)
    message(FATAL_ERROR "scripts/fetch_deps.sh failed; set ONNXRUNTIME_ROOT to an ONNX Runtime "
                        "install (with include/ and lib/) or install libonnxruntime-dev")
  endif()
  find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
            PATHS "${E2E_GNN_DEPS_DIR}/usr/include/onnxruntime" NO_DEFAULT_PATH REQUIRED)
endif()

if(ONNXRUNTIME_ROOT)
  find_library(OnnxRuntime_LIBRARY NAMES onnxruntime PATHS "${ONNXRUNTIME_ROOT}/lib"
               "${ONNXRUNTIME_ROOT}/lib64" NO_DEFAULT_PATH)
endif()
if(NOT OnnxRuntime_LIBRARY)
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.11 REQUIRED COMPONENTS Interpreter)
  endif()
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -c
      "import importlib.util as u; s = u.find_spec('onnxruntime'); print(s.submodule_search_locations[0] if s else '')"
    OUTPUT_VARIABLE _ort_package_dir OUTPUT_STRIP_TRAILING_WHITESPACE)
  file(GLOB _ort_wheel_libs "${_ort_package_dir}/capi/libonnxruntime.so.*")
  list(FILTER _ort_wheel_libs EXCLUDE REGEX "providers")
  if(NOT _ort_wheel_libs)
    message(FATAL_ERROR "No libonnxruntime.so.* in the onnxruntime wheel of ${Python_EXECUTABLE} "
                        "(package dir: '${_ort_package_dir}'): pip install onnxruntime, or set ONNXRUNTIME_ROOT")
  endif()
  list(GET _ort_wheel_libs 0 _ort_wheel_lib)
  set(_ort_link_dir "${CMAKE_BINARY_DIR}/onnxruntime-lib")
  file(MAKE_DIRECTORY "${_ort_link_dir}")
  file(CREATE_LINK "${_ort_wheel_lib}" "${_ort_link_dir}/libonnxruntime.so.1" SYMBOLIC)
  file(CREATE_LINK "${_ort_wheel_lib}" "${_ort_link_dir}/libonnxruntime.so" SYMBOLIC)
  set(OnnxRuntime_LIBRARY "${_ort_link_dir}/libonnxruntime.so" CACHE FILEPATH "ONNX Runtime library" FORCE)
  set(OnnxRuntime_WHEEL_LIBRARY "${_ort_wheel_lib}" CACHE FILEPATH "The onnxruntime wheel's library" FORCE)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OnnxRuntime REQUIRED_VARS OnnxRuntime_INCLUDE_DIR OnnxRuntime_LIBRARY)
if(OnnxRuntime_FOUND AND NOT TARGET OnnxRuntime::OnnxRuntime)
  add_library(OnnxRuntime::OnnxRuntime SHARED IMPORTED)
  set_target_properties(OnnxRuntime::OnnxRuntime PROPERTIES
    IMPORTED_LOCATION "${OnnxRuntime_LIBRARY}"
    IMPORTED_SONAME "libonnxruntime.so.1"
    INTERFACE_INCLUDE_DIRECTORIES "${OnnxRuntime_INCLUDE_DIR}")
endif()
