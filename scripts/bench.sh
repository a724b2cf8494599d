#!/usr/bin/env bash
# make bench: requests/s and latency of scim-edge under Viceroy, next to a floor (bench/baseline: one
# KV read, answered as JSON) and python-scim's scim2-server, for 1,000 and 100,000 users.
# Prints one table and writes it to docs/PERFORMANCE.md.
#
#   BENCH_USERS="1000 100000"  the account sizes, smallest first
#   BENCH_SECONDS=5            the duration of each load run
#   BENCH_ROUNDS=3             how many times each scim-edge kind (and the floor before it) is run;
#                              the report shows the median run
#   BENCH_CONNECTIONS=8        concurrent connections (wrk -c), the same for every run
#   BENCH_SLOW=2               a request kind whose request (after a warm-up) takes longer, in seconds,
#                              is not load-tested: up to 3 requests are timed one at a time instead
#   BENCH_LIST_SIZES="30000 60000 80000"  more sizes at which one import page of scim-edge is timed
#                              (one request each, ~2 minutes in all; "" to skip)
#   BENCH_DOC=docs/PERFORMANCE.md   where the report goes ("" to only print it)
#   BENCH_CPU=1                0 to skip the CPU per request of the core handler on the host
#                              (`cargo bench --bench core`, benches/core.rs), run last, alone
#   BENCH_CPU_USERS            its account sizes (default: BENCH_USERS); BENCH_CPU_SECONDS=1 per operation
#   BENCH_BUILD=1              0 to use what is already built
#   CARGO_TARGET_DIR           honoured, as cargo does
# Quick run: BENCH_USERS=1000 BENCH_LIST_SIZES= BENCH_SECONDS=3 make bench
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

USERS=${BENCH_USERS:-1000 100000}
LIST_SIZES=${BENCH_LIST_SIZES-30000 60000 80000}
SECS=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-8}
THREADS=${BENCH_THREADS:-2}
SLOW=${BENCH_SLOW:-2}
DOC=${BENCH_DOC-docs/PERFORMANCE.md}
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
API_PORT=${BENCH_API_PORT:-8840}
CONTROL_PORT=${BENCH_CONTROL_PORT:-8841}
EDGE_PORT=${BENCH_EDGE_PORT:-7740}
FLOOR_PORT=${BENCH_FLOOR_PORT:-7741}
SCIM2_PORT=${BENCH_SCIM2_PORT:-8842}
TOKEN=dev-superuser-token
SCIM2_SERVER_VERSION=0.8.3
SCIM2_MODELS_VERSION=0.12.3
VENV="$PWD/.tools/bench-venv"
WASM="$TARGET/wasm32-wasip1/release/scim-edge.wasm"
FLOOR_WASM="$TARGET/wasm32-wasip1/release/bench-baseline.wasm"
EMULATOR="$TARGET/release/emulator"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || true)
STARTED=$(date +%s)
# What is measured: the commit, and whether the code differs from it, before anything is built.
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain -- src emulator Cargo.toml Cargo.lock fastly.toml 2>/dev/null | head -c 1)

step() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/scim-edge-bench.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() { stop_all; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# --- what it needs, each step skipped when present ------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  step "installing wrk (apt)"
  sudo=(); [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y wrk >/dev/null || { "${sudo[@]}" apt-get update >/dev/null && "${sudo[@]}" apt-get install -y wrk >/dev/null; }
fi
if ! "$VENV/bin/python" -c 'import scim2_server' 2>/dev/null; then
  step "installing scim2-server ${SCIM2_SERVER_VERSION} (Python venv in .tools/bench-venv)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "scim2-server==${SCIM2_SERVER_VERSION}" "scim2-models==${SCIM2_MODELS_VERSION}"
fi
command -v viceroy >/dev/null 2>&1 || die "viceroy is missing: run scripts/setup.sh (make setup)"

for port in "$API_PORT" "$CONTROL_PORT" "$EDGE_PORT" "$FLOOR_PORT" "$SCIM2_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is in use (set BENCH_*_PORT)"; fi
done

if [ "${BENCH_BUILD:-1}" = 1 ]; then
  step "building scim-edge (release wasm), the emulator and the floor"
  scripts/build-wasm.sh -q
  cargo build -q -p scim-edge-emulator --release
  cargo build -q --manifest-path bench/baseline/Cargo.toml --release --target wasm32-wasip1 --target-dir "$TARGET"
fi
for f in "$WASM" "$FLOOR_WASM" "$EMULATOR"; do [ -f "$f" ] || die "$f is missing (BENCH_BUILD=1 builds it)"; done

# --- helpers ---------------------------------------------------------------------------------------
wait_http() { # url seconds
  local url=$1 tries=$(($2 * 5))
  for _ in $(seq 1 "$tries"); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

results="$work/results.jsonl"
: >"$results"

# measure SERVER USERS KIND METHOD URL [BODY_FILE]: a checked warm-up request (scim2-server builds an
# index on the first search of an attribute), a timed one, then the load run. A kind that fails is
# reported as failed (and why, from $server_log), and the run goes on. With once=1: one timed request.
measure() {
  local server=$1 users=$2 kind=$3 method=$4 url=$5 body=${6:-}
  local auth=${auth_header:-Authorization: Bearer $TOKEN}
  local args=(-sS -o "$work/probe.body" -D "$work/probe.headers" -w '%{http_code} %{time_total}' -X "$method"
    -H "$auth" --max-time 600)
  [ -n "$body" ] && args+=(-H 'Content-Type: application/scim+json' --data-binary "@$body")
  [ -n "${clear_url:-}" ] && curl -fsS -o /dev/null -X DELETE "$clear_url"
  log_mark=$(wc -l <"${server_log:-/dev/null}")
  local out code first warm
  out=$(curl "${args[@]}" "$url") || die "$server $kind: $url did not answer"
  read -r code warm <<<"$out"
  if [ "$code" = 200 ] && [ -z "${once:-}" ]; then
    out=$(curl "${args[@]}" "$url") || die "$server $kind: $url did not answer"
    read -r code first <<<"$out"
  else
    first=$warm
  fi
  local how="warm-up ${warm}s"; [ -n "${once:-}" ] && how="one request"
  step "$server, $users users, $kind: HTTP $code in ${first}s ($how)"
  # The Fastly API calls of these (one or two) requests, from the emulator's log.
  probe_calls="" probe_requests=$([ "$code" = 200 ] && [ -z "${once:-}" ] && echo 2 || echo 1)
  if [ -n "${clear_url:-}" ]; then
    probe_calls=$(curl -fsS "$clear_url" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
  fi
  if [ "$code" != 200 ]; then
    local why where
    why="HTTP $code after $(awk -v t="$first" 'BEGIN { printf "%.1f", t }') s"
    if [ -n "${server_log:-}" ] && tail -n +"$((log_mark + 1))" "$server_log" | grep -q 'handle_alloc_error\|OutOfMemory'; then
      why="$why: out of memory (Viceroy allows a wasm instance 128 MiB, as Compute does)"
      where=$(tail -n +"$((log_mark + 1))" "$server_log" | grep -m1 -o 'take_body_bytes\|KvStore as [a-zA-Z_:]*>::[a-z]*' || true)
      case "$where" in
        take_body_bytes) why="$why, while reading a Fastly API answer into memory (\`take_body_bytes\`)" ;;
        ?*) why="$why, in \`$where\`" ;;
      esac
    fi
    head -c 300 "$work/probe.body" >&2; echo >&2
    python3 -c 'import json,sys; print(json.dumps({"server": sys.argv[1], "users": int(sys.argv[2]), "kind": sys.argv[3], "failed": sys.argv[4]}))' \
      "$server" "$users" "$kind" "$why" >>"$results"
    annotate
    return
  fi
  check_answer "$server" "$kind" "$work/probe.body" "$work/probe.headers"
  if awk -v t="$first" -v s="$SLOW" 'BEGIN { exit !(t > s) }'; then
    # Too slow to load: time requests one after the other, up to 3 or BENCH_SECONDS, the timed one included.
    local times=("$first") t spent=$first
    while [ "${#times[@]}" -lt 3 ] && awk -v a="$spent" -v b="$SECS" 'BEGIN { exit !(a < b) }'; do
      out=$(curl "${args[@]}" "$url"); read -r code t <<<"$out"
      [ "$code" = 200 ] || die "$server $kind: answered $code"
      times+=("$t"); spent=$(awk -v a="$spent" -v b="$t" 'BEGIN { print a + b }')
    done
    python3 - "$server" "$users" "$kind" "${times[@]}" >>"$results" <<'EOF'
import json, statistics, sys
server, users, kind, *times = sys.argv[1:]
t = sorted(float(x) for x in times)
print(json.dumps({"server": server, "users": int(users), "kind": kind, "rps": 1 / statistics.mean(t),
                  "p50_ms": statistics.median(t) * 1000, "p99_ms": t[-1] * 1000, "requests": len(t),
                  "errors": 0, "sequential": True}))
EOF
    annotate
    return
  fi
  BENCH_METHOD=$method BENCH_BODY=$body BENCH_HEADER=$auth \
    wrk -t "$THREADS" -c "$CONNS" -d "${SECS}s" --timeout 60s -s bench/wrk.lua "$url" >"$work/wrk.out" 2>&1 ||
    { cat "$work/wrk.out" >&2; die "$server $kind: wrk failed"; }
  python3 - "$server" "$users" "$kind" "$work/wrk.out" >>"$results" <<'EOF'
import json, sys
server, users, kind, path = sys.argv[1:]
line = next((l for l in open(path) if l.startswith("BENCH ")), None)
if line is None:
    sys.exit(f"no BENCH line from wrk:\n{open(path).read()}")
v = {k: float(x) for k, x in (kv.split("=") for kv in line.split()[1:])}
print(json.dumps({"server": server, "users": int(users), "kind": kind,
                  "rps": v["requests"] / (v["duration_us"] / 1e6), "p50_ms": v["p50_us"] / 1000,
                  "p99_ms": v["p99_us"] / 1000, "requests": int(v["requests"]),
                  "errors": int(v["status_errors"] + v["timeouts"] + v["socket_errors"]), "sequential": False}))
EOF
  annotate
}

# annotate: adds to the last result the largest WebAssembly heap a request of the kind used (Viceroy's
# log, -v) and the Fastly API calls per request of the warm-up and timed requests.
annotate() {
  python3 - "$results" "${server_log:-}" "${log_mark:-0}" "${probe_calls:-}" "${probe_requests:-1}" <<'EOF'
import json, re, sys
results, log, mark, calls, made = sys.argv[1], sys.argv[2], int(sys.argv[3] or 0), sys.argv[4], int(sys.argv[5])
unit = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024}
heaps = []
if log:
    with open(log, errors="replace") as f:
        for i, line in enumerate(f):
            m = re.search(r"request completed using ([0-9.]+) (B|KiB|MiB|GiB) of WebAssembly heap", line)
            if m and i >= mark:
                heaps.append(float(m.group(1)) * unit[m.group(2)])
lines = open(results).read().splitlines()
last = json.loads(lines[-1])
if heaps:
    last["heap_mib"] = max(heaps)
if calls:
    last["fastly_calls_per_request"] = int(calls) / made
lines[-1] = json.dumps(last)
open(results, "w").write("\n".join(lines) + "\n")
print(lines[-1], file=sys.stderr)
EOF
}

# The answer is the one each kind expects: one user, a page of 100, a no-op PUT.
check_answer() {
  python3 - "$@" "${put_etag:-}" <<'EOF' || die "$1 $2: unexpected answer"
import json, sys
server, kind, body, headers, put_etag = sys.argv[1:]
b = json.load(open(body))
h = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in open(headers) if ":" in l}
ok = {
    "GET /Users/{id}": lambda: b.get("id") is not None,
    "GET ?filter=userName eq": lambda: b.get("totalResults") == 1,
    "GET ?startIndex&count=100": lambda: len(b.get("Resources", [])) == min(100, b["totalResults"] - b["startIndex"] + 1),
    "GET ?startIndex=1&count=100 (import start)": lambda: len(b.get("Resources", [])) == min(100, b["totalResults"]),
    # scim-edge writes nothing for a PUT that changes nothing, so the version stays.
    "PUT /Users/{id} (no-op)": lambda: server != "scim-edge" or h.get("etag") == put_etag,
    "floor: one KV read": lambda: "id" in b,
    "GET /ServiceProviderConfig": lambda: "patch" in b,
    "upstream: GET /user/{id}": lambda: "id" in b,
}[kind]()
if not ok:
    sys.exit(f"{server} {kind}: {json.dumps(b)[:400]} {h.get('etag')}")
EOF
}

# run_kinds SERVER USERS BASE: the four request kinds against one server.
run_kinds() {
  local server=$1 users=$2 base=$3 t="$work/$2/targets.json"
  local id user_name start count filter
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$t")
  user_name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["userName"])' "$t")
  start=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["start_index"])' "$t")
  count=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$t")
  filter=$(python3 -c 'import sys, urllib.parse as u; print(u.quote(sys.argv[1], safe=""))' "userName eq \"$user_name\"")
  # The user's own current representation, and its version, for the no-op PUT.
  curl -fsS -D "$work/put.headers" -o "$work/put.json" -H "Authorization: Bearer $TOKEN" "$base/Users/$id"
  put_etag=$(awk -F': ' 'tolower($1)=="etag" { sub(/\r$/, "", $2); print $2 }' "$work/put.headers")
  # The first page of an import, once, before any other page: scim-edge reads the whole account for it
  # (its import snapshot); the pages that follow read only what they show.
  once=1 SECS=0 SLOW=0 measure "$server" "$users" "GET ?startIndex=1&count=100 (import start)" GET \
    "$base/Users?startIndex=1&count=$count"
  for _ in $(seq "$rounds"); do
    $before_each; measure "$server" "$users" "GET /Users/{id}" GET "$base/Users/$id"
    $before_each; measure "$server" "$users" "GET ?filter=userName eq" GET "$base/Users?filter=$filter"
    $before_each; measure "$server" "$users" "GET ?startIndex&count=100" GET "$base/Users?startIndex=$start&count=$count"
    $before_each; measure "$server" "$users" "PUT /Users/{id} (no-op)" PUT "$base/Users/$id" "$work/put.json"
  done
}

# floor_run: one run of the floor (started by start_floor) at the current size. Run right before each
# scim-edge kind, so that a kind and its floor share the machine's state of the moment (a shared
# machine drifts by tens of percent within minutes); the report takes the median run.
floor_run() {
  server_log="$work/floor.log" clear_url="" measure baseline "$n" "floor: one KV read" GET \
    "http://127.0.0.1:$FLOOR_PORT/$key"
}

# start_edge N: the emulator and scim-edge under Viceroy, seeded with N users, the token verdict warm.
start_edge() {
  local n=$1 started
  step "scim-edge, $n users: emulator + Viceroy"
  "$EMULATOR" --listen "127.0.0.1:$API_PORT" --control "127.0.0.1:$CONTROL_PORT" --seed "$work/$n/emulator-seed.json" \
    >"$work/emulator.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$CONTROL_PORT/_emulator/health" 60 || { cat "$work/emulator.log"; die "the emulator did not start"; }
  started=$(date +%s.%N)
  viceroy serve -v --addr "127.0.0.1:$EDGE_PORT" -C "$work/$n/fastly.toml" "$WASM" >"$work/viceroy.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$EDGE_PORT/health" 300 || { cat "$work/viceroy.log"; die "scim-edge did not start"; }
  step "Viceroy loaded $n users in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')s"
  # Pre-warm the token verdict cache, so that every measured request takes the warm path.
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$EDGE_PORT/scim/v2/ServiceProviderConfig"
}

seed() { # N
  step "seeding $1 users"
  mkdir -p "$work/$1"
  python3 bench/seed.py --users "$1" --out "$work/$1" --manifest fastly.toml --api-url "http://127.0.0.1:$API_PORT/" >/dev/null
}

# start_floor N KEY: the floor under Viceroy, over the KV store seeded with N users, reading KEY.
start_floor() {
  local n=$1 key=$2
  step "the floor, $n users: bench/baseline under Viceroy"
  {
    sed '/^\[local_server\]/,$d' bench/baseline/fastly.toml
    printf '[local_server.kv_stores]\n  bench_state = { file = "%s", format = "json" }\n' "$work/$n/kv.json"
  } >"$work/$n/floor.toml"
  viceroy serve -v --addr "127.0.0.1:$FLOOR_PORT" -C "$work/$n/floor.toml" "$FLOOR_WASM" >"$work/floor.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$FLOOR_PORT/$key" 300 || { tail -20 "$work/floor.log"; die "the floor did not start"; }
}

# --- each size: scim-edge, then scim2-server --------------------------------------------------------
for n in $USERS; do
  seed "$n"

  # The floor reads the record that GET /Users/{id} reads, from the same store.
  key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["record_key"])' "$work/$n/targets.json")
  # The floor stays up, idle, while scim-edge is measured: it runs again before each kind.
  start_floor "$n" "$key"
  start_edge "$n"
  clear_url="http://127.0.0.1:$CONTROL_PORT/_emulator/requests" server_log="$work/viceroy.log" \
    before_each=floor_run rounds=$ROUNDS run_kinds scim-edge "$n" "http://127.0.0.1:$EDGE_PORT/scim/v2"
  if [ "$n" = "${USERS%% *}" ]; then
    # A SCIM request with the same auth and nothing else (no KV read, no Fastly call), measured at one size:
    # it does not depend on the size.
    for _ in $(seq "$ROUNDS"); do
      floor_run
      clear_url="http://127.0.0.1:$CONTROL_PORT/_emulator/requests" server_log="$work/viceroy.log" \
        measure scim-edge "$n" "GET /ServiceProviderConfig" GET "http://127.0.0.1:$EDGE_PORT/scim/v2/ServiceProviderConfig"
    done
  fi
  # The Fastly API call that GET, filter and PUT make, on its own: what the emulator costs at this size.
  fid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fastly_id"])' "$work/$n/targets.json")
  clear_url="http://127.0.0.1:$CONTROL_PORT/_emulator/requests" auth_header="Fastly-Key: $TOKEN" \
    measure emulator "$n" "upstream: GET /user/{id}" GET "http://127.0.0.1:$API_PORT/user/$fid"
  stop_all

  step "scim2-server, $n users"
  "$VENV/bin/python" bench/scim2_seeded_server.py --users "$work/$n/scim2-users.jsonl" --port "$SCIM2_PORT" \
    --bearer-token "$TOKEN" >"$work/scim2.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$SCIM2_PORT/v2/ServiceProviderConfig" 600 || { cat "$work/scim2.log"; die "scim2-server did not start"; }
  head -n 1 "$work/scim2.log" >&2
  server_log="$work/scim2.log" before_each=: rounds=1 run_kinds scim2-server "$n" "http://127.0.0.1:$SCIM2_PORT/v2"
  stop_all
done

# --- where an import page breaks: one page request at more sizes -------------------------------------
for n in $LIST_SIZES; do
  seed "$n"
  start_edge "$n"
  start=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["start_index"])' "$work/$n/targets.json")
  clear_url="http://127.0.0.1:$CONTROL_PORT/_emulator/requests" server_log="$work/viceroy.log" \
    once=1 SECS=0 SLOW=0 measure scim-edge "$n" "GET ?startIndex&count=100" GET \
    "http://127.0.0.1:$EDGE_PORT/scim/v2/Users?startIndex=$start&count=100"
  stop_all
  rm -rf "${work:?}/$n"
done

# --- CPU per request of the core handler, on the host (nothing else running) -------------------------
if [ "${BENCH_CPU:-1}" = 1 ]; then
  step "CPU per request on the host: cargo bench --bench core"
  BENCH_CPU_USERS="${BENCH_CPU_USERS:-$USERS}" BENCH_CPU_OUT="$work/cpu.md" cargo bench -q --bench core
fi

# --- the report ------------------------------------------------------------------------------------
step "report"
python3 bench/report.py --results "$results" --out "$DOC" --cpu "$work/cpu.md" \
  --command "${BENCH_COMMAND:-make bench}" --users "$USERS" --rounds "$ROUNDS" --seconds "$SECS" --connections "$CONNS" \
  --threads "$THREADS" --wasm "$WASM" --floor-wasm "$FLOOR_WASM" --load-before "$LOAD_BEFORE" \
  --list-sizes "$LIST_SIZES" --scim2-server-version "$SCIM2_SERVER_VERSION" --elapsed "$(($(date +%s) - STARTED))" \
  --commit "$COMMIT${DIRTY:+ with uncommitted changes to the code}"
