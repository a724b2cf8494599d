#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 60): `scripts/fuzz.sh [SECONDS] [TARGET...]`.
#
# cargo-fuzz needs a nightly toolchain. Where none is installed (CI pins the stable toolchain of
# rust-toolchain.toml and may not install others), this prints that it skipped and exits 0: the
# fuzz smoke in `make unit` covers the same entry points on any toolchain. cargo-fuzz itself is
# installed when missing.
#
# Each target starts from its seeds (fuzz/seeds/TARGET, committed) and its grown corpus
# (fuzz/corpus/TARGET, kept between runs, not committed), with a dictionary (fuzz/dict). A crash
# is saved under fuzz/artifacts/TARGET and makes the script exit 1 after all targets have run.
# Logs: fuzz/logs/TARGET.log. CARGO_TARGET_DIR is honoured (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(filter patch user authorization)

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: skipped: no nightly toolchain is installed (cargo-fuzz needs one: rustup toolchain install nightly)"
  exit 0
fi
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Release with debug assertions and overflow checks (cargo-fuzz's default). No sanitizer: the
# core forbids unsafe code, and without ASan the targets run about twice as many inputs. The
# targets are built once, then run straight from the target directory: sources that change
# during a long run (a shared checkout) do not change what is being fuzzed.
build_flags=(--sanitizer none)
target_dir="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"
build_flags+=(--target-dir "$target_dir")
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin_dir="$target_dir/$host/release"

mkdir -p fuzz/logs
echo "fuzz: building the targets (log: fuzz/logs/build.log)"
if ! cargo +nightly fuzz build "${build_flags[@]}" >fuzz/logs/build.log 2>&1; then
  tail -30 fuzz/logs/build.log
  exit 1
fi

failed=()
printf '%-14s %12s %8s %8s %8s %6s\n' target executions exec/s cov features corpus
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  log="fuzz/logs/$t.log"
  # Inputs up to the request body limit (64 KiB) for bodies, and past the 4096-byte filter and
  # token limits for the others, so the limits themselves are exercised. Any input slower than
  # -timeout seconds is a failure: work must stay proportionate to the input.
  max_len=8192
  case "$t" in patch | user) max_len=65536 ;; esac
  status=0
  "$bin_dir/$t" "fuzz/corpus/$t" "fuzz/seeds/$t" \
    -max_total_time="$secs" -dict="fuzz/dict/$t.dict" -max_len="$max_len" -timeout=5 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  printf '%-14s %12s %8s %8s %8s %6s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    grep -E 'panicked|SUMMARY|Test unit written|deadly signal|timeout' "$log" | head -5 | sed 's/^/  /'
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/, logs under fuzz/logs/)"
  echo "fuzz: replay one with: $bin_dir/TARGET fuzz/artifacts/TARGET/FILE"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${secs}s each, no crash"
