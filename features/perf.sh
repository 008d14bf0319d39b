#!/usr/bin/env bash
# Measures throughput and latency with the load generator (features/src/bin/loadgen.rs):
#   1. embedded: one http-fn, NODE_ROLE=both, in-memory store;
#   2. distributed: local redis-server, two actor-workers, one http-fn (NODE_ROLE=http), with the
#      `stream` reply channel and with the `key` reply channel, Redis without persistence;
#   3. the same with the `stream` channel and Redis with `--appendonly yes --appendfsync always`
#      (every commit fsynced before it returns);
# each at concurrency 1, 16 and 64 (closed loop), then open loop at half the throughput measured at
# 64 (loadgen --rate). Only loopback addresses are used; every process is stopped at
# the end. Usage: features/perf.sh [seconds per run, default 10]
set -euo pipefail
SECONDS_PER_RUN="${1:-10}"
# shellcheck source=features/perf-common.sh
source "$(dirname "$0")/perf-common.sh"

load() { # label url
  local out saturation
  for c in 1 16 64; do
    out=$(loadgen "$1" "$2" --concurrency "$c")
    sed 's/^/  /' <<<"$out"
  done
  # Open loop at half the saturation throughput (the closed loop's at 64 connections): latency
  # from each request's due time, so a stall counts against every request due during it.
  saturation=$(throughput_of "$out")
  loadgen "$1" "$2" --rate $((saturation / 2)) | sed 's/^/  /'
}

echo "== embedded (NODE_ROLE=both, in-memory store)"
start_embedded
load embedded "$URL"
stop_all

for variant in stream key stream-aof; do
  channel=${variant%-aof}
  persistence=(--appendonly no)
  label="distributed-$channel"
  if [ "$variant" = stream-aof ]; then
    persistence=(--appendonly yes --appendfsync always)
    label="distributed-$channel-aof-always"
  fi
  echo "== distributed (redis-server ${persistence[*]}, 2 actor-workers, 1 http-fn), reply channel $channel"
  start_redis "${persistence[@]}"
  start_workers 2
  start_http_node STOCK_REPLY_CHANNEL="$channel"
  load "$label" "$URL"
  stop_all
done
