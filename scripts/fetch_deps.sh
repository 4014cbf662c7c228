#!/usr/bin/env bash
# Fetch the C/C++ headers the native build needs (ONNX Runtime 1.21, doctest, nlohmann-json) from
# Debian trixie's packages, without installing anything system-wide: `apt-get download`
# with a private package list, then `dpkg -x` into DEST. Works as a normal user on any
# Debian/Ubuntu machine with apt. Usage: scripts/fetch_deps.sh DEST
set -euo pipefail
dest=${1:?usage: fetch_deps.sh DEST}
packages=(libonnxruntime-dev doctest-dev nlohmann-json3-dev)

if [ -f "$dest/usr/include/onnxruntime/onnxruntime_cxx_api.h" ] && [ -f "$dest/usr/include/doctest/doctest.h" ] \
   && [ -f "$dest/usr/include/nlohmann/json.hpp" ]; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "fetch_deps.sh: apt-get not found; set ONNXRUNTIME_ROOT to an ONNX Runtime install with include/ instead" >&2; exit 1; }

state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
mkdir -p "$state/lists/partial" "$state/archives/partial" "$dest"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ -f "$keyring" ]; then trust="signed-by=$keyring"; else trust="trusted=yes"; fi
echo "deb [$trust] http://deb.debian.org/debian trixie main" > "$state/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$state/lists" -o "Dir::Cache::archives=$state/archives"
  -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1
  -o APT::Sandbox::User="$(id -un)"
)
echo "fetch_deps.sh: downloading ${packages[*]} (Debian trixie) into $dest"
apt-get "${apt_opts[@]}" -qq update
(cd "$state" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}")
for deb in "$state"/*.deb; do dpkg -x "$deb" "$dest"; done
# Only the headers are used: the library comes from the onnxruntime wheel at link time.
rm -f "$dest"/usr/lib/*/libonnxruntime.so
