#!/usr/bin/env bash
# Runs SCIM conformance suites against a private scim-edge stack (emulator + Viceroy on spare
# ports, so a running `make serve` is not disturbed).
#   scripts/conformance.sh scim2-tester   python-scim's scim2-tester (installed by scripts/setup.sh test)
#   scripts/conformance.sh all            also Okta's SPEC test and Microsoft's Postman "User tests",
#                                         read from $SHARED/conformance
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
what=${1:-scim2-tester}
SHARED=${SHARED:-$PWD/../shared}
API_PORT=${API_PORT:-8797}
CONTROL_PORT=${CONTROL_PORT:-8798}
EDGE_PORT=${EDGE_PORT:-7697}
BASE="http://127.0.0.1:${EDGE_PORT}/scim/v2"
TOKEN=dev-superuser-token
work=$(mktemp -d)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start_stack() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  target/release/emulator --listen "127.0.0.1:${API_PORT}" --control "127.0.0.1:${CONTROL_PORT}" >"$work/emulator.log" 2>&1 &
  pids+=($!)
  sed "s#http://127.0.0.1:8787/#http://127.0.0.1:${API_PORT}/#" fastly.toml >"$work/fastly.toml"
  viceroy serve --addr "127.0.0.1:${EDGE_PORT}" -C "$work/fastly.toml" target/wasm32-wasip1/release/scim-edge.wasm \
    >"$work/viceroy.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:${EDGE_PORT}/health" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "scim-edge did not start:"; cat "$work/viceroy.log"; return 1
}

failed=0
run() {
  local name=$1; shift
  echo "==> $name"
  start_stack
  if "$@"; then echo "==> $name: passed"; else echo "==> $name: FAILED"; failed=1; fi
}

run scim2-tester .tools/venv/bin/python conformance/run_scim2_tester.py --url "$BASE" --token "$TOKEN"

if [ "$what" = all ]; then
  conf="$SHARED/conformance"
  run "Okta SCIM 2.0 SPEC test" python3 "$conf/okta_runscope_runner.py" --base-url "$BASE" \
    --auth "Bearer $TOKEN" --seed-user
  if [ ! -x .tools/npm/node_modules/.bin/newman ]; then
    npm install --silent --no-audit --no-fund --prefix .tools/npm newman@6
  fi
  run "Microsoft SCIM Postman User tests" newman run "$conf/microsoft/PostmanCollection.json" \
    --folder "User tests" --env-var Protocol=http --env-var Server=127.0.0.1 --env-var "Port=:${EDGE_PORT}" \
    --env-var Api=scim/v2 --env-var "token=$TOKEN" --reporters cli
fi
exit $failed
