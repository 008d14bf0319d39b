#!/usr/bin/env bash
# Builds the stack's images on this machine without an image registry:
#   stock-base:bookworm  a minimal Debian (debootstrap from the Debian mirror apt uses), no apt lists
#   stock-api:latest     the stripped release binaries of http-fn and actor-worker on glibc only
#   stock-redis:latest   Redis from Debian packages, with a password user for a private network
# Each image is built only when missing unless --rebuild is given. Usage:
#   infra/images/build.sh [--rebuild] [--profile release|debug]
# --profile debug puts the debug binaries already built (`cargo build --bins`) into the stock image
# instead of compiling release ones, and rebuilds that image whenever the binaries differ from the
# ones it holds. The acceptance and container tests
# use it with STOCK_API_IMAGE=stock-api:debug; images meant to be run keep the release profile.
# Environment: STOCK_DEBIAN_MIRROR (default: the mirror in /etc/apt/sources.list*),
# STOCK_API_IMAGE, STOCK_REDIS_IMAGE, STOCK_BASE_IMAGE (image names), CARGO_TARGET_DIR.
# Needs docker, and debootstrap (Debian package) for the base image.
set -euo pipefail
cd "$(dirname "$0")/../.."

base=${STOCK_BASE_IMAGE:-stock-base:bookworm}
api=${STOCK_API_IMAGE:-stock-api:latest}
redis=${STOCK_REDIS_IMAGE:-stock-redis:latest}
rebuild=no
profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=yes ;;
    --profile)
      profile=${2:-}
      shift
      ;;
    *)
      echo "usage: $0 [--rebuild] [--profile release|debug]" >&2
      exit 2
      ;;
  esac
  shift
done
case "$profile" in
  release | debug) ;;
  *)
    echo "--profile must be release or debug, got '$profile'" >&2
    exit 2
    ;;
esac

missing() { [ "$rebuild" = yes ] || ! docker image inspect "$1" >/dev/null 2>&1; }

mirror() {
  if [ -n "${STOCK_DEBIAN_MIRROR:-}" ]; then echo "$STOCK_DEBIAN_MIRROR"; return; fi
  local found
  # Only active entries: deb822 files comment out snapshot URLs next to the mirror in use.
  found=$(grep -rhv '^[[:space:]]*#' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null \
    | grep -oE 'https?://[^ ]+/debian/?( |$)' | tr -d ' ' | grep -v security | head -n1 || true)
  echo "${found:-http://deb.debian.org/debian}"
}

# Strips the binaries of the profile into infra/dist/ and prints their digest.
stage_binaries() {
  local target=${CARGO_TARGET_DIR:-target}
  for bin in http-fn actor-worker; do
    if [ ! -x "$target/$profile/$bin" ]; then
      echo "$target/$profile/$bin is missing: cargo build --bins first" >&2
      return 1
    fi
  done
  rm -rf infra/dist && mkdir -p infra/dist
  for bin in http-fn actor-worker; do
    strip -o "infra/dist/$bin" "$target/$profile/$bin"
  done
  cat infra/dist/http-fn infra/dist/actor-worker | sha256sum | cut -c1-64
}

build_api() {
  docker build -q -f infra/Dockerfile -t "$api" --label "stock.binaries=$1" \
    --build-arg BUILDER="$base" --build-arg BASE="$base" --build-arg BINARIES=dist . >/dev/null
}

if missing "$base"; then
  if ! command -v debootstrap >/dev/null; then
    echo "debootstrap is missing: apt-get install debootstrap" >&2
    exit 1
  fi
  echo "== $base (debootstrap from $(mirror))"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$(mirror)" >/dev/null
  # Images start from this root: apt caches, package lists, logs and docs only add size.
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | docker import - "$base" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

if [ "$profile" = debug ]; then
  digest=$(stage_binaries)
  held=$(docker image inspect -f '{{index .Config.Labels "stock.binaries"}}' "$api" 2>/dev/null || true)
  if [ "$rebuild" = yes ] || [ "$held" != "$digest" ]; then
    echo "== $api (debug binaries)"
    build_api "$digest"
  fi
elif missing "$api"; then
  echo "== $api (release binaries built here)"
  cargo build --release --locked -p http-fn -p actor-worker
  build_api "$(stage_binaries)"
fi

if missing "$redis"; then
  echo "== $redis (Redis from Debian packages)"
  docker build -q -f infra/redis/Dockerfile -t "$redis" --build-arg BASE="$base" infra/redis >/dev/null
fi

docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($base|$api|$redis) " || true
