#!/usr/bin/env bash
# Times single deliveries of 100, 1 000 and 10 000 new lines (products never seen before), three
# times each, on the embedded stack (one http-fn, NODE_ROLE=both, in-memory store) and on the
# Redis stack (redis-server, one actor-worker, one http-fn with NODE_ROLE=http), then the replay of
# the largest. Both stacks run in demo mode (`--demo`), which prints the tokens used here. Only
# loopback addresses are used; every process is stopped at the end.
# Usage: features/deliveries.sh [binary dir, default target/release]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-target/release}"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; return 1; }
for n in 100 1000 10000; do
  python3 -c "import json,sys;print(json.dumps({'requestId':'REQ','supplierId':'s','supplierRef':'r','deliveredAt':'2024-12-05T08:00:00','products':[{'productId':'P%d'%i,'quantity':1} for i in range($n)]}))" >"$WORK/body-$n.json"
done

deliver() { # base token n run
  sed "s/REQ/d$3-$4/; s/\"P/\"R$4-P/g" "$WORK/body-$3.json" >"$WORK/req.json"
  curl -s -o /dev/null -w "%{http_code} %{time_total}" -X POST "$1/locations/WH01/deliveries" \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/json' --data-binary @"$WORK/req.json"
}

measure() { # label base log
  local token
  for _ in $(seq 1 100); do
    token=$(grep -A1 'Warehouse Manager' "$3" | grep -o 'eyJ[A-Za-z0-9._-]*' | head -1 || true)
    [ -n "$token" ] && break; sleep 0.1
  done
  for n in 100 1000 10000; do
    for run in 1 2 3; do echo "$1 lines=$n run=$run $(deliver "$2" "$token" $n $run)"; done
  done
  echo "$1 lines=10000 replay $(deliver "$2" "$token" 10000 1)"
}

port=$(free_port)
env -i PATH="$PATH" RUST_LOG=warn NODE_ROLE=both STOCK_HTTP_ADDR=127.0.0.1:$port \
  "$BIN/http-fn" --demo >"$WORK/both.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/health/ready"
measure embedded "http://127.0.0.1:$port" "$WORK/both.log"

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
env -i PATH="$PATH" RUST_LOG=warn NODE_ROLE=actor STOCK_REDIS_URL=redis://127.0.0.1:$rport \
  STOCK_WORKER_ID=w1 STOCK_ADMIN_ADDR=127.0.0.1:0 "$BIN/actor-worker" >"$WORK/w1.log" 2>&1 &
PIDS+=($!)
port=$(free_port)
env -i PATH="$PATH" RUST_LOG=warn NODE_ROLE=http STOCK_REDIS_URL=redis://127.0.0.1:$rport \
  STOCK_HTTP_ADDR=127.0.0.1:$port "$BIN/http-fn" --demo >"$WORK/http.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/health/ready"
measure redis "http://127.0.0.1:$port" "$WORK/http.log"
