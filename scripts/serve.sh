#!/usr/bin/env bash
# Serves scim-edge locally: the Fastly API emulator on 127.0.0.1:8787 (control API on :8788) and
# `fastly compute serve` on 127.0.0.1:7676. Ctrl-C stops both.
# UPSTREAM=https://api.fastly.com serves against the real Fastly API instead of the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/npm/node_modules/.bin:$HOME/.cargo/bin:$PATH"
ADDR=${ADDR:-127.0.0.1:7676}
UPSTREAM=${UPSTREAM:-}
WASM=target/wasm32-wasip1/release/scim-edge.wasm

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

env_args=()
if [ -z "$UPSTREAM" ]; then
  target/release/emulator --listen 127.0.0.1:8787 --control 127.0.0.1:8788 &
  pids+=($!)
  token=dev-superuser-token
else
  # A manifest environment (fastly.upstream.toml) whose Fastly API backend is the real one.
  host=${UPSTREAM#*://}; host=${host%%/*}
  # The Fastly API backend goes to $UPSTREAM, and domain verification to a real DNS-over-HTTPS resolver.
  sed -e "/\[local_server.backends.fastly_api\]/,/^\s*\[/ s#url = \"http://127.0.0.1:8787/\"#url = \"${UPSTREAM%/}/\"#" \
      -e "/\[local_server.backends.doh\]/,/^\s*\[/ s#url = \"http://127.0.0.1:8787/\"#url = \"https://cloudflare-dns.com/\"#" \
      -e "s#override_host = \"api.fastly.com\"#override_host = \"${host}\"#" fastly.toml > fastly.upstream.toml
  env_args=(--env upstream)
  token='<your Fastly API token (superuser, global scope, all services)>'
fi

fastly compute serve -q --non-interactive --skip-build --file "$WASM" --addr "$ADDR" \
  --viceroy-path "$(command -v viceroy)" "${env_args[@]}" &
pids+=($!)

for _ in $(seq 1 100); do
  curl -fsS "http://$ADDR/health" >/dev/null 2>&1 && break
  sleep 0.2
done
cat <<EOT

  scim-edge is serving.
    SCIM base URL:  http://$ADDR/scim/v2
    Token:          $token
    Fastly API:     ${UPSTREAM:-emulator at http://127.0.0.1:8787 (control API http://127.0.0.1:8788/_emulator/)}

  Try: curl -H 'Authorization: Bearer $token' http://$ADDR/scim/v2/ServiceProviderConfig
  Ctrl-C stops everything.

EOT
wait -n "${pids[@]}"
