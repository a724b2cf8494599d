#!/usr/bin/env bash
# make soak: scim-edge under sustained mixed load, then an audit (docs/RELIABILITY.md, "Soak").
#
#   scripts/soak.sh [seconds] [connections]      default: 60 seconds, 16 connections
#
# Starts a private stack (the emulator and Viceroy on spare ports, so a running `make serve` is not
# disturbed), runs the load driver scripts/soak.py (Python 3 standard library), and exits 1 on any
# 5xx, transport error, read that does not show the client's last write, or audit problem.
#   SOAK_SYNC_SECONDS=10   fastly_sync_seconds of the stack (the deployed default; fastly.toml sets 0)
#   SOAK_SEED=1            the driver's seed
#   SOAK_BUILD=1           0 to use what is already built
#   SOAK_JSON=FILE         also write the figures as JSON
#   SOAK_API_PORT=8870 SOAK_CONTROL_PORT=8871 SOAK_EDGE_PORT=7770
#   CARGO_TARGET_DIR       honoured, as cargo does
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

SECS=${1:-60}
CONNS=${2:-16}
SYNC=${SOAK_SYNC_SECONDS:-10}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
API_PORT=${SOAK_API_PORT:-8870}
CONTROL_PORT=${SOAK_CONTROL_PORT:-8871}
EDGE_PORT=${SOAK_EDGE_PORT:-7770}
WASM="$TARGET/wasm32-wasip1/release/scim-edge.wasm"
EMULATOR="$TARGET/release/emulator"

die() { echo "soak: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/scim-edge-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

command -v viceroy >/dev/null 2>&1 || die "viceroy is missing: run scripts/setup.sh (make setup)"
command -v python3 >/dev/null 2>&1 || die "python3 is missing"
for port in "$API_PORT" "$CONTROL_PORT" "$EDGE_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is in use (set SOAK_*_PORT)"; fi
done
if [ "${SOAK_BUILD:-1}" = 1 ]; then
  scripts/build-wasm.sh -q
  cargo build -q -p scim-edge-emulator --release
fi
for f in "$WASM" "$EMULATOR"; do [ -f "$f" ] || die "$f is missing (SOAK_BUILD=1 builds it)"; done

"$EMULATOR" --listen "127.0.0.1:${API_PORT}" --control "127.0.0.1:${CONTROL_PORT}" >"$work/emulator.log" 2>&1 &
pids+=($!)
sed -e "s#http://127.0.0.1:8787/#http://127.0.0.1:${API_PORT}/#" \
    -e "s#fastly_sync_seconds = \"0\"#fastly_sync_seconds = \"${SYNC}\"#" fastly.toml >"$work/fastly.toml"
grep -q "fastly_sync_seconds = \"${SYNC}\"" "$work/fastly.toml" || die "could not set fastly_sync_seconds"
viceroy serve --addr "127.0.0.1:${EDGE_PORT}" -C "$work/fastly.toml" "$WASM" >"$work/viceroy.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:${EDGE_PORT}/health" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:${EDGE_PORT}/health" >/dev/null 2>&1 || { cat "$work/viceroy.log"; die "scim-edge did not start"; }

echo "soak: ${SECS} s, ${CONNS} connections, fastly_sync_seconds ${SYNC}, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
json_args=()
[ -n "${SOAK_JSON:-}" ] && json_args=(--json "$SOAK_JSON")
python3 scripts/soak.py --seconds "$SECS" --connections "$CONNS" --edge-port "$EDGE_PORT" \
  --api "http://127.0.0.1:${API_PORT}" --control "http://127.0.0.1:${CONTROL_PORT}" \
  --seed "${SOAK_SEED:-1}" --log "$work/viceroy.log" "${json_args[@]}"
