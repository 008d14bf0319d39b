#!/usr/bin/env bash
# Overload with the load generator (features/src/bin/loadgen.rs), deliveries only: for the
# embedded stack and the distributed one (redis-server without persistence, two actor-workers, one
# http-fn), the saturation throughput S (closed loop, 64 connections), then an open loop at 0.5 × S
# and at 2 × S with the default write limit (STOCK_MAX_WRITES_IN_FLIGHT=256), then 2 × S again on a
# node whose limit never binds (1000000): load shedding against queueing. Each report gives the
# latency of the 201s and of the 503s apart. The open loops keep at most 512 requests outstanding
# (--max-in-flight), a client's pool of connections rather than one connection per request due.
# Loopback only; every process is stopped at the end.
# Usage: features/overload.sh [seconds per run, default 10]
set -euo pipefail
SECONDS_PER_RUN="${1:-10}"
# shellcheck source=features/perf-common.sh
source "$(dirname "$0")/perf-common.sh"
MIX=(--mix delivery=100)
UNLIMITED=(STOCK_MAX_WRITES_IN_FLIGHT=1000000)

run() { # label url flags...
  loadgen "$1" "$2" "${MIX[@]}" --max-in-flight 512 "${@:3}" | sed 's/^/  /'
}

# limited_phases label: saturation, then 0.5 × S and 2 × S on $URL; sets SATURATION.
limited_phases() {
  local out
  out=$(loadgen "$1" "$URL" "${MIX[@]}" --concurrency 64)
  sed 's/^/  /' <<<"$out"
  SATURATION=$(throughput_of "$out")
  run "$1-half" "$URL" --rate $((SATURATION / 2))
  run "$1-double" "$URL" --rate $((SATURATION * 2))
}

echo "== embedded (NODE_ROLE=both, in-memory store)"
start_embedded
limited_phases embedded
stop_all
start_embedded "${UNLIMITED[@]}"
run embedded-double-unlimited "$URL" --rate $((SATURATION * 2))
stop_all

echo "== distributed (redis-server --appendonly no, 2 actor-workers, 1 http-fn)"
start_redis --appendonly no
start_workers 2
start_http_node
limited_phases distributed
start_http_node "${UNLIMITED[@]}"
run distributed-double-unlimited "$URL" --rate $((SATURATION * 2))
stop_all
