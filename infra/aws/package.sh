#!/usr/bin/env bash
# Builds the AWS Lambda artifact of the HTTP tier for the `provided.al2023` runtime:
# the release `http-fn` binary, stripped, named `bootstrap`, alone in a zip.
#
#   infra/aws/package.sh [OUT.zip]        build (release) and package; default infra/aws/dist/http-fn.zip (the path infra/aws/template.yaml names)
#   infra/aws/package.sh --check BINARY   only check BINARY's glibc symbol versions and print its size
#
# provided.al2023 ships glibc 2.34: the binary must need no symbol version newer than that.
# CI runs `--check` on the debug binary it already built instead of a release build, which would
# add minutes of compilation; both profiles call the same libc functions.
# The target directory is CARGO_TARGET_DIR (default: target). Needs binutils (strip, objdump).
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly MAX_GLIBC=2.34

# Fails unless every GLIBC_x.y symbol version BINARY needs is at most MAX_GLIBC.
check_glibc() {
  local binary=$1 highest
  highest=$(objdump -T "$binary" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
  if [ -z "$highest" ]; then
    echo "$binary: no GLIBC symbol versions found" >&2
    return 1
  fi
  if [ "$(printf '%s\n%s\n' "$highest" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
    echo "$binary: needs GLIBC_$highest, provided.al2023 has $MAX_GLIBC" >&2
    return 1
  fi
  echo "$binary: highest GLIBC symbol version $highest (limit $MAX_GLIBC)"
}

size_of() {
  echo "$1: $(stat -c %s "$1") bytes"
}

if [ "${1:-}" = "--check" ]; then
  binary=${2:?usage: $0 --check BINARY}
  check_glibc "$binary"
  size_of "$binary"
  exit 0
fi

target=${CARGO_TARGET_DIR:-target}
out=$(realpath -m "${1:-infra/aws/dist/http-fn.zip}")
cargo build --release --locked -p http-fn --bin http-fn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$target/release/http-fn" "$work/bootstrap"
strip "$work/bootstrap"
chmod 755 "$work/bootstrap"
check_glibc "$work/bootstrap"
size_of "$work/bootstrap"
mkdir -p "$(dirname "$out")"
rm -f "$out"
if command -v zip >/dev/null 2>&1; then
  (cd "$work" && zip -q -X "$out.tmp" bootstrap)
else
  # The mode bits travel in the entry, so bootstrap stays executable.
  python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], "bootstrap")' \
    "$out.tmp" "$work/bootstrap"
fi
mv "$out.tmp" "$out"
size_of "$out"
