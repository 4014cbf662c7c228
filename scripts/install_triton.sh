#!/usr/bin/env bash
# Install the Triton pieces e2e_gnn needs, from PyPI only.
#
#   1. tritonclient[http,grpc] into the project venv (the client side of the `triton`
#      backend and the ModelConfig protobuf used to validate config.pbtxt files);
#   2. the CPU `tritonserver` binary that ships inside the `nvidia-pytriton` wheel, into its
#      own git-ignored venv (default: <repo>/.venv-triton). Its python backend embeds that
#      venv's interpreter and needs numpy<2, so it must not share the project venv (numpy 2).
#      onnxruntime is installed there too: the python-backend models run the ONNX file with it.
#
# Usage: scripts/install_triton.sh [--venv PATH] [--server-venv PATH] [--python PYTHON]
# Idempotent: a second run only checks. Prints the server path on success.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${E2E_GNN_VENV:-$repo/.venv}"
server_venv="${E2E_GNN_TRITON_VENV:-$repo/.venv-triton}"
python_bin=""
pytriton_spec="nvidia-pytriton==0.7.0"
client_spec="tritonclient[http,grpc]==2.73.0"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --venv) venv="$2"; shift 2 ;;
    --server-venv) server_venv="$2"; shift 2 ;;
    --python) python_bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "install_triton.sh: unknown argument '$1' (use --venv, --server-venv, --python)" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$venv/bin/python" ]]; then
  echo "install_triton.sh: no project venv at '$venv' (create it first, or pass --venv PATH)" >&2
  exit 1
fi
# The server venv uses the same interpreter version as the project venv by default, so the
# stub for that version is the one pytriton ships and tests can import the same helpers.
if [[ -z "$python_bin" ]]; then
  python_bin="$("$venv/bin/python" -c 'import sys; print(sys._base_executable)')"
fi

echo "== tritonclient into $venv"
"$venv/bin/python" -m pip install --quiet "$client_spec"

echo "== tritonserver (nvidia-pytriton) into $server_venv"
if [[ ! -x "$server_venv/bin/python" ]]; then
  "$python_bin" -m venv "$server_venv"
fi
"$server_venv/bin/python" -m pip install --quiet "$pytriton_spec" "numpy<2" onnxruntime

server="$("$server_venv/bin/python" -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent / "tritonserver" / "bin" / "tritonserver")')"
if [[ ! -x "$server" ]]; then
  echo "install_triton.sh: nvidia-pytriton installed but '$server' is missing" >&2
  exit 1
fi
"$server_venv/bin/python" -c 'import numpy, onnxruntime; assert int(numpy.__version__.split(".")[0]) < 2, numpy.__version__'

# The python backend stub links the system libpython of its Python version.
version="$("$server_venv/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
stub="$(dirname "$(dirname "$server")")/python_backend_stubs/$version/triton_python_backend_stub"
if [[ ! -f "$stub" ]]; then
  echo "install_triton.sh: nvidia-pytriton has no python backend stub for Python $version" >&2
  exit 1
fi
libs="$(dirname "$(dirname "$(dirname "$(dirname "$server")")")")/nvidia_pytriton.libs"
if LD_LIBRARY_PATH="$libs" ldd "$stub" | grep -q "not found"; then
  echo "== the stub needs libpython$version: installing it with apt-get"
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    apt-get install -y --no-install-recommends "libpython$version" >/dev/null
  fi
  if LD_LIBRARY_PATH="$libs" ldd "$stub" | grep "not found" >&2; then
    echo "install_triton.sh: install libpython$version (e.g. apt-get install libpython$version)" >&2
    exit 1
  fi
fi
echo "tritonserver: $server"
