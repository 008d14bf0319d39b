#!/usr/bin/env bash
# Checks the served HTTP API against docs/openapi.yaml: schemathesis generates valid and invalid
# requests for every operation and checks every answer (no server error, a documented status,
# body, content type and headers) against the document. The service is the real `http-fn` binary,
# freshly built, in one process (embedded store, the demo estate of infra/demo/locations.json), and
# every request carries a System Administrator token (every permission, no location scope).
# A request valid under the schema may still be refused by a rule no schema states (a calendar date
# that does not exist, a location that is not tracked, not enough stock: docs/api.md), so the check
# that valid data is accepted is left out; every other check of schemathesis runs.
#
#   STOCK_SCHEMATHESIS_CASES  cases per operation and phase (default 150: about 1 100 in all)
#   STOCK_SCHEMATHESIS_SEED   the generator's seed (default: random, printed in the report)
#   STOCK_SCHEMATHESIS_OPERATIONS  a regular expression over operationIds: only those are run
#                             (default: every operation); a long run splits its operations over
#                             several runs side by side
#   STOCK_CI_VENV             the virtualenv holding schemathesis (created when missing)
set -euo pipefail
cd "$(dirname "$0")/.."

cases=${STOCK_SCHEMATHESIS_CASES:-150}
venv=${STOCK_CI_VENV:-$HOME/.cache/stock-ci-venv}
if ! [ -x "$venv/bin/st" ]; then
  [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q schemathesis
fi

cargo build -q -p http-fn
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target="$PWD/$target" ;; esac
binary="$target/debug/http-fn"

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

issuer=https://identity.schemathesis.invalid
audience=stock-api
STOCK_KEY_DIR="$work" "$binary" keys >/dev/null
token=$(STOCK_KEY_DIR="$work" STOCK_JWT_ISSUER=$issuer STOCK_JWT_AUDIENCE=$audience \
  "$binary" token "System Administrator")

env -i PATH="$PATH" NODE_ROLE=both STOCK_HTTP_ADDR=127.0.0.1:0 STOCK_LOG_FORMAT=json RUST_LOG=warn,http_fn::app=info \
  STOCK_LOCATIONS_FILE="$PWD/infra/demo/locations.json" \
  STOCK_JWT_PUBLIC_KEY_FILE="$work/jwt-public.pem" STOCK_JWT_ISSUER=$issuer STOCK_JWT_AUDIENCE=$audience \
  "$binary" >"$work/http-fn.log" 2>&1 &
server=$!

addr=
for _ in $(seq 1 300); do
  addr=$(grep -o '"http_addr":"[^"]*"' "$work/http-fn.log" | head -n1 | cut -d'"' -f4 || true)
  [ -n "$addr" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/http-fn.log" >&2; echo "http-fn exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$work/http-fn.log" >&2; echo "http-fn did not listen within 30 s" >&2; exit 1; }

seed=()
[ -n "${STOCK_SCHEMATHESIS_SEED:-}" ] && seed=(--seed "$STOCK_SCHEMATHESIS_SEED")
operations=()
[ -n "${STOCK_SCHEMATHESIS_OPERATIONS:-}" ] &&
  operations=(--include-operation-id-regex "^(${STOCK_SCHEMATHESIS_OPERATIONS})\$")
status=0
# From the scratch directory, where schemathesis keeps its example database.
root=$PWD
(cd "$work" && "$venv/bin/st" run "$root/docs/openapi.yaml" --url "http://$addr" \
  -H "Authorization: Bearer $token" \
  --checks all --exclude-checks positive_data_acceptance --max-redirects 0 \
  --max-examples "$cases" "${seed[@]}" "${operations[@]}" \
  --workers 1 --request-timeout 10 --no-color) || status=$?

# A crash is a server error too: the process must still be serving.
if ! kill -0 "$server" 2>/dev/null; then
  echo "http-fn is no longer running" >&2
  status=1
fi
if grep -q '"level":"ERROR"' "$work/http-fn.log"; then
  echo "http-fn logged errors:" >&2
  grep '"level":"ERROR"' "$work/http-fn.log" | head -n 20 >&2
  status=1
fi
exit "$status"
