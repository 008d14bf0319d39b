# Shared by features/perf.sh and features/overload.sh (sourced, not run): release binaries, a
# scratch directory, a token key pair, and functions that start the embedded or the distributed
# stack on loopback ports and drive the load generator. Every process started is stopped on exit.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
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

# The throughput= figure of a loadgen report.
throughput_of() { sed -n 's/.*throughput=\([0-9]*\) req\/s.*/\1/p' <<<"$1"; }

# start_embedded [VAR=value ...]: one http-fn, NODE_ROLE=both, in-memory store; sets URL.
start_embedded() {
  local port
  port=$(free_port)
  env -i PATH="$PATH" "${common[@]}" NODE_ROLE=both STOCK_HTTP_ADDR=127.0.0.1:$port "$@" \
    "$BIN/http-fn" >"$WORK/both.log" 2>&1 &
  PIDS+=($!)
  URL="http://127.0.0.1:$port"
  wait_http "$URL/health/ready"
}

# start_redis REDIS-ARGS...: a redis-server on a free port; sets RPORT and REDIS_URL (the
# STOCK_REDIS_URL of the nodes started next).
start_redis() {
  RPORT=$(free_port)
  REDIS_URL=redis://127.0.0.1:$RPORT
  rm -rf "$WORK/redis" && mkdir -p "$WORK/redis"
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$WORK/redis" --save "" "$@" \
    --daemonize no >"$WORK/redis.log" 2>&1 &
  REDIS=$!
  for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
}

# start_workers N [VAR=value ...]: N actor-workers on $REDIS_URL.
start_workers() {
  for w in $(seq 1 "$1"); do
    env -i PATH="$PATH" RUST_LOG=warn NODE_ROLE=actor STOCK_REDIS_URL="$REDIS_URL" \
      STOCK_WORKER_ID=w$w STOCK_ADMIN_ADDR=127.0.0.1:0 "${@:2}" "$BIN/actor-worker" >"$WORK/w$w.log" 2>&1 &
    PIDS+=($!)
  done
}

# start_http_node [VAR=value ...]: an http-fn with NODE_ROLE=http on $REDIS_URL, once every
# shard is owned; sets URL.
start_http_node() {
  local port
  port=$(free_port)
  env -i PATH="$PATH" "${common[@]}" NODE_ROLE=http STOCK_REDIS_URL="$REDIS_URL" \
    STOCK_HTTP_ADDR=127.0.0.1:$port "$@" "$BIN/http-fn" >"$WORK/http-$port.log" 2>&1 &
  PIDS+=($!)
  URL="http://127.0.0.1:$port"
  wait_http "$URL/health/ready"
  for _ in $(seq 1 100); do curl -s "$URL/health/cluster" | grep -q '"unowned":0' && break; sleep 0.1; done
}

# stop_all: the service first (workers release their leases), then Redis.
stop_all() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$REDIS" ]; then kill "$REDIS"; wait "$REDIS" 2>/dev/null || true; fi
  PIDS=()
  REDIS=""
}
