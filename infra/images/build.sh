#!/usr/bin/env bash
# Builds the stack's images on this machine without an image registry:
#   stock-base:bookworm  a minimal Debian (debootstrap from the Debian mirror apt uses), no apt lists
#   stock-api:latest     the stripped release binaries of http-fn and actor-worker on glibc only
#   stock-redis:latest   Redis from Debian packages, with a password user for a private network
# Each image is built only when missing unless --rebuild is given. Usage:
#   infra/images/build.sh [--rebuild]
# Environment: STOCK_DEBIAN_MIRROR (default: the mirror in /etc/apt/sources.list*),
# STOCK_API_IMAGE, STOCK_REDIS_IMAGE, STOCK_BASE_IMAGE (image names), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

base=${STOCK_BASE_IMAGE:-stock-base:bookworm}
api=${STOCK_API_IMAGE:-stock-api:latest}
redis=${STOCK_REDIS_IMAGE:-stock-redis:latest}
rebuild=no
[ "${1:-}" = --rebuild ] && rebuild=yes

missing() { [ "$rebuild" = yes ] || ! docker image inspect "$1" >/dev/null 2>&1; }

mirror() {
  if [ -n "${STOCK_DEBIAN_MIRROR:-}" ]; then echo "$STOCK_DEBIAN_MIRROR"; return; fi
  local found
  found=$(grep -rhoE 'https?://[^ ]+/debian/?' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null \
    | grep -v security | head -n1 || true)
  echo "${found:-http://deb.debian.org/debian}"
}

if missing "$base"; then
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

if missing "$api"; then
  echo "== $api (release binaries built here)"
  cargo build --release --locked -p http-fn -p actor-worker
  target=${CARGO_TARGET_DIR:-target}
  rm -rf infra/dist && mkdir -p infra/dist
  for bin in http-fn actor-worker; do
    strip -o "infra/dist/$bin" "$target/release/$bin"
  done
  docker build -q -f infra/Dockerfile -t "$api" \
    --build-arg BUILDER="$base" --build-arg BASE="$base" --build-arg BINARIES=dist . >/dev/null
fi

if missing "$redis"; then
  echo "== $redis (Redis from Debian packages)"
  docker build -q -f infra/redis/Dockerfile -t "$redis" --build-arg BASE="$base" infra/redis >/dev/null
fi

docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^($base|$api|$redis) " || true
