#!/usr/bin/env bash
# The cost of STOCK_REDIS_MIN_REPLICAS (docs/PERFORMANCE.md, "Replicated Redis"): throughput and
# latency of the distributed stack (two actor-workers, one http-fn, reply stream) on
#   1. a standalone redis-server, for reference;
#   2. a Sentinel deployment (a primary, two replicas, three sentinels, all redis-server processes
#      on loopback ports), STOCK_REDIS_MIN_REPLICAS=0;
#   3. the same deployment, STOCK_REDIS_MIN_REPLICAS=1 (every commit waits for a replica's WAIT);
# each at concurrency 1, 16 and 64 (closed loop), then open loop at half the throughput of the
# standalone run at 64, the same rate for all three. Redis without persistence everywhere, as in
# features/perf.sh. Only loopback addresses are used; every process is stopped at the end.
# Usage: features/replicas-perf.sh [seconds per run, default 10]
set -euo pipefail
SECONDS_PER_RUN="${1:-10}"
# shellcheck source=features/perf-common.sh
source "$(dirname "$0")/perf-common.sh"

SERVICE=stock

# start_sentinel_deployment: a primary (start_redis), two replicas and three sentinels (quorum
# 2); waits until the replicas are in sync and every sentinel sees them; sets REDIS_URL.
start_sentinel_deployment() {
  start_redis --appendonly no
  local port sentinels=()
  for r in 1 2; do
    port=$(free_port)
    mkdir -p "$WORK/replica$r"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$WORK/replica$r" --save "" \
      --appendonly no --replicaof 127.0.0.1 "$RPORT" --daemonize no >"$WORK/replica$r.log" 2>&1 &
    PIDS+=($!)
  done
  for s in 1 2 3; do
    port=$(free_port)
    mkdir -p "$WORK/sentinel$s"
    printf 'port %s\nbind 127.0.0.1\nprotected-mode no\ndir %s\nsentinel monitor %s 127.0.0.1 %s 2\n' \
      "$port" "$WORK/sentinel$s" "$SERVICE" "$RPORT" >"$WORK/sentinel$s/sentinel.conf"
    redis-server "$WORK/sentinel$s/sentinel.conf" --sentinel >"$WORK/sentinel$s.log" 2>&1 &
    PIDS+=($!)
    sentinels+=("127.0.0.1:$port")
  done
  for _ in $(seq 1 200); do
    local ready=1
    [ "$(redis-cli -p "$RPORT" info replication | grep -c 'state=online')" = 2 ] || ready=0
    for s in "${sentinels[@]}"; do
      redis-cli -p "${s#*:}" sentinel master "$SERVICE" 2>/dev/null \
        | grep -A1 '^num-slaves$' | tail -1 | grep -qx 2 || ready=0
    done
    [ "$ready" = 1 ] && break
    sleep 0.1
  done
  REDIS_URL="redis+sentinel://$(IFS=,; echo "${sentinels[*]}")/$SERVICE"
}

load() { # label url rate
  for c in 1 16 64; do
    loadgen "$1" "$2" --concurrency "$c" | sed 's/^/  /'
  done
  loadgen "$1" "$2" --rate "$3" | sed 's/^/  /'
}

echo "== standalone redis-server (reference)"
start_redis --appendonly no
start_workers 2
start_http_node
out=$(loadgen standalone "$URL" --concurrency 64)
rate=$(($(throughput_of "$out") / 2))
load standalone "$URL" "$rate"
stop_all

for replicas in 0 1; do
  echo "== Sentinel: a primary, two replicas, three sentinels; STOCK_REDIS_MIN_REPLICAS=$replicas"
  start_sentinel_deployment
  start_workers 2 STOCK_REDIS_MIN_REPLICAS=$replicas
  start_http_node STOCK_REDIS_MIN_REPLICAS=$replicas
  load "sentinel-min-replicas-$replicas" "$URL" "$rate"
  stop_all
done
