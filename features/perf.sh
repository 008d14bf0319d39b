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
cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${1:-10}"
cargo build --release --bin http-fn --bin actor-worker --bin loadgen >&2
BIN=target/release
WORK=$(mktemp -d)
PIDS=()
REDIS=""
cleanup() { for p in "${PIDS[@]:-}" $REDIS; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

openssl genrsa -out "$WORK/key.pem" 2048 2>/dev/null
openssl rsa -in "$WORK/key.pem" -pubout -out "$WORK/pub.pem" 2>/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }
common=(STOCK_LOCATIONS_FILE=infra/demo/locations.json STOCK_JWT_PUBLIC_KEY_FILE="$WORK/pub.pem"
        STOCK_JWT_ISSUER=perf STOCK_JWT_AUDIENCE=perf RUST_LOG=warn)

loadgen() { # label url flags...
  "$BIN/loadgen" --url "$2" --private-key "$WORK/key.pem" --issuer perf --audience perf \
    --duration "${SECONDS_PER_RUN}s" --label "$1" "${@:3}"
}
load() { # label url
  local out saturation
  for c in 1 16 64; do
    out=$(loadgen "$1" "$2" --concurrency "$c")
    sed 's/^/  /' <<<"$out"
  done
  # Open loop at half the saturation throughput (the closed loop's at 64 connections): latency
  # from each request's due time, so a stall counts against every request due during it.
  saturation=$(sed -n 's/.*throughput=\([0-9]*\) req\/s.*/\1/p' <<<"$out")
  loadgen "$1" "$2" --rate $((saturation / 2)) | sed 's/^/  /'
}

echo "== embedded (NODE_ROLE=both, in-memory store)"
port=$(free_port)
env -i PATH="$PATH" "${common[@]}" NODE_ROLE=both STOCK_HTTP_ADDR=127.0.0.1:$port "$BIN/http-fn" >"$WORK/both.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/health/ready"
load embedded "http://127.0.0.1:$port"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

for variant in stream key stream-aof; do
  channel=${variant%-aof}
  persistence=(--appendonly no)
  label="distributed-$channel"
  if [ "$variant" = stream-aof ]; then
    persistence=(--appendonly yes --appendfsync always)
    label="distributed-$channel-aof-always"
  fi
  echo "== distributed (redis-server ${persistence[*]}, 2 actor-workers, 1 http-fn), reply channel $channel"
  rport=$(free_port)
  rm -rf "$WORK/redis" && mkdir -p "$WORK/redis"
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$WORK/redis" --save "" "${persistence[@]}" \
    --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS=$!
  for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
  for w in 1 2; do
    env -i PATH="$PATH" RUST_LOG=warn NODE_ROLE=actor STOCK_REDIS_URL=redis://127.0.0.1:$rport \
      STOCK_WORKER_ID=w$w STOCK_ADMIN_ADDR=127.0.0.1:0 "$BIN/actor-worker" >"$WORK/w$w.log" 2>&1 &
    PIDS+=($!)
  done
  port=$(free_port)
  env -i PATH="$PATH" "${common[@]}" NODE_ROLE=http STOCK_REDIS_URL=redis://127.0.0.1:$rport \
    STOCK_REPLY_CHANNEL=$channel STOCK_HTTP_ADDR=127.0.0.1:$port "$BIN/http-fn" >"$WORK/http.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$port/health/ready"
  for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$port/health/cluster" | grep -q '"unowned":0' && break; sleep 0.1; done
  load "$label" "http://127.0.0.1:$port"
  # Stop the service first (workers release their leases), then Redis.
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  kill "$REDIS"; wait "$REDIS" 2>/dev/null || true
  PIDS=()
done
