# The two commands of the README:
#   make demo   set everything up, then run the main job on the built-in data
#   make test   set everything up, then run the whole test suite (pytest + ctest)
# Everything lives in .venv (Python 3.11) and .cache/ (C++ headers); nothing system-wide.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CPP_BUILD := build/cpp
# Builds of the native module share one build directory: serialise them.
LOCK := flock .cache/build.lock
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test setup build pytest ctest ctest-sanitize lint clean

demo: setup
	$(BIN)/e2e-gnn demo

test: setup lint ctest ctest-sanitize pytest

setup: $(VENV)/.installed $(VENV)/.triton build

# Python dependencies (torch==2.13.0 CPU, onnxruntime, test tools): reinstalled when
# pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet scikit-build-core pybind11 ninja cmake onnxruntime
	$(BIN)/pip install --quiet --no-build-isolation -e ".[test]"
	touch $@

# The CPU tritonserver (nvidia-pytriton wheel) in its own venv, .venv-triton (numpy<2).
$(VENV)/.triton: scripts/install_triton.sh $(VENV)/.installed
	scripts/install_triton.sh
	touch $@

# The native module e2e_gnn._native, rebuilt incrementally in build/<wheel tag>.
build: $(VENV)/.installed
	mkdir -p .cache
	$(LOCK) $(BIN)/pip install --quiet --no-build-isolation --no-deps -e .

ctest: $(VENV)/.installed
	mkdir -p .cache
	$(LOCK) $(BIN)/cmake -S . -B $(CPP_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DPython_EXECUTABLE=$(abspath $(BIN)/python) $(CMAKE_ARGS)
	$(LOCK) $(BIN)/cmake --build $(CPP_BUILD) -j 2
	$(BIN)/python cpp/tests/make_test_models.py $(CPP_BUILD)/test-data
	$(BIN)/ctest --test-dir $(CPP_BUILD) --output-on-failure

# The C++ tests again, built with AddressSanitizer + UBSan (E2E_GNN_SANITIZE=ON), on the
# models `make ctest` writes. ONNX Runtime itself is not instrumented, but neither its
# allocations nor ours trip LeakSanitizer, so leak detection stays on; any ASan, LSan or
# UBSan report fails the run.
SANITIZE_BUILD := build/cpp-sanitize
ctest-sanitize: $(VENV)/.installed
	mkdir -p .cache
	$(LOCK) $(BIN)/cmake -S . -B $(SANITIZE_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DE2E_GNN_SANITIZE=ON -DE2E_GNN_PYTHON=OFF \
		-DE2E_GNN_TEST_DATA=$(abspath $(CPP_BUILD))/test-data \
		-DPython_EXECUTABLE=$(abspath $(BIN)/python) $(CMAKE_ARGS)
	$(LOCK) $(BIN)/cmake --build $(SANITIZE_BUILD) -j 2
	test -f $(CPP_BUILD)/test-data/tagger.onnx || \
		$(BIN)/python cpp/tests/make_test_models.py $(CPP_BUILD)/test-data
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(BIN)/ctest --test-dir $(SANITIZE_BUILD) --output-on-failure

pytest: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check python tests benchmarks cpp
	$(BIN)/ruff format --check python tests benchmarks cpp
	$(BIN)/mypy

clean:
	rm -rf build .cache $(VENV)
